#!/usr/bin/env python3
"""Times commands against each other, whole process each, alternating run by run (A B A B ...), and
prints each one's median wall time and peak RSS and the ratio of the first two medians.

  alternate.py RUNS NAME=COMMAND NAME=COMMAND [...]

Each COMMAND runs through /bin/sh with its output discarded; the timing is around the child process
only (wait4 gives its peak RSS), so nothing of this script's start-up is counted. One warm-up round
runs first and is not counted.
"""
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(["/bin/sh", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, code


def main():
    runs = int(sys.argv[1])
    named = [a.split("=", 1) for a in sys.argv[2:]]
    for _, cmd in named:
        run(cmd)
    times = {n: [] for n, _ in named}
    rss = {n: [] for n, _ in named}
    for _ in range(runs):
        for n, cmd in named:
            wall, mib, code = run(cmd)
            if code not in (0, 1, 2):
                sys.exit(f"{n} exited with {code}: {cmd}")
            times[n].append(wall)
            rss[n].append(mib)
    for n, _ in named:
        print(f"{n}: median {statistics.median(times[n]):.3f} s over {runs} runs "
              f"(min {min(times[n]):.3f}), peak RSS {max(rss[n]):.0f} MiB")
    a, b = named[0][0], named[1][0]
    ma, mb = statistics.median(times[a]), statistics.median(times[b])
    print(f"{b} / {a} = {mb / ma:.2f}x (above 1: {a} is faster)")


if __name__ == "__main__":
    main()
