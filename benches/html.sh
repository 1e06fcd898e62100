#!/usr/bin/env bash
# Benchmark: the HTML report over the 1 GiB generated log (issue 15): its size (target under 2 MB)
# and what it adds to the report's time against JSON output (target under 10 %). Needs hyperfine;
# bench-data/audit-SIZE.jsonl from benches/audit.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
K=${2:-target/release/kscope}
LOG="bench-data/audit-$SIZE.jsonl"
[ -s "$LOG" ] || { echo "run benches/audit.sh $SIZE first"; exit 1; }
[ -x "$K" ] || cargo build --release --locked --quiet
mkdir -p bench-data/html
hyperfine --warmup 1 --runs 5 --style basic --export-json bench-data/html/html.json \
  -n json "$K report $LOG --format json --fail-on none > /dev/null" \
  -n html "$K report $LOG --format html --fail-on none > bench-data/html/report.html"
python3 - bench-data/html/html.json bench-data/html/report.html <<'PY'
import json, os, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"html {r['html']:.2f} s vs json {r['json']:.2f} s ({(r['html'] / r['json'] - 1) * 100:+.1f} %), "
      f"page {os.path.getsize(sys.argv[2]) / 2**20:.2f} MiB")
PY
