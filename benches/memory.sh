#!/usr/bin/env bash
# Benchmark: `kscope report` in bounded memory (issue 16).
#
#   benches/memory.sh [SIZES] [KSCOPE]   SIZES defaults to "1G 3G 10G"; KSCOPE to target/release/kscope
#
# Needs GNU time (/usr/bin/time) and hyperfine; bench-data/audit-SIZE.jsonl are generated with
# ../shared/tools/gen-audit-log.py when missing (10 GiB takes about 4 minutes and 10 GiB of disk).
# For every size: peak RSS and wall time of the report with the default budget and with
# --memory-limit 512M, where the shared scan went (-v), and whether both runs gave the same
# answers (every query's rows and the findings). At 1 GiB hyperfine also times both budgets.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"1G 3G 10G"}
K=${2:-target/release/kscope}
[ -x "$K" ] || cargo build --release --locked --quiet
OUT=bench-data/memory
mkdir -p "$OUT"
declare -A DURATION=([1G]=6h [3G]=12h [10G]=24h)

# "LABEL: N s, peak RSS M MiB" from a GNU time -v log, then what kscope -v said of its memory
usage() {
  python3 - "$1" "$2" <<'PY'
import re, sys
label, log = sys.argv[1:]
text = open(log).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
t = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text).group(1).split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(t)))
notes = [m.group(1) for m in re.finditer(r"INFO memory: (.*)", text)]
notes += [f"FAILED: {m.group(1)[:200]}" for m in re.finditer(r"kscope: error: (.*)", text)]
print(f"{label}: {secs:7.2f} s, peak RSS {rss:7.1f} MiB" + "".join(f"; {n}" for n in notes))
PY
}

for size in $SIZES; do
  LOG="bench-data/audit-$size.jsonl"
  if [ ! -s "$LOG" ]; then
    python3 ../shared/tools/gen-audit-log.py --bytes "$size" --seed 1 \
      --duration "${DURATION[$size]:-6h}" --out "$LOG" --truth "bench-data/truth-$size.json"
  fi
  cat "$LOG" > /dev/null   # warm page cache for both budgets alike
  for budget in default 512M; do
    flags=()
    [ "$budget" = default ] || flags=(--memory-limit "$budget")
    name="$OUT/$size-$budget"
    /usr/bin/time -v "$K" -v report "$LOG" "${flags[@]}" --format json --fail-on none \
      > "$name.json" 2> "$name.log" || true
    usage "$(printf '%4s %8s' "$size" "$budget")" "$name.log"
  done
  python3 - "$OUT/$size-default.json" "$OUT/$size-512M.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
same = a["queries"] == b["queries"] and a["findings"] == b["findings"]
skipped = [q["code"] for q in b["queries"] if q.get("skipped")]
print(f"     answers with 512M {'identical' if same else 'DIFFERENT'} to the default budget"
      + (f"; not computed within 512M: {', '.join(skipped)}" if skipped else ""))
PY
done

if [[ " $SIZES " == *" 1G "* ]]; then
  hyperfine --warmup 1 --runs 5 --style basic --export-json "$OUT/1G.json" \
    -n default "$K report bench-data/audit-1G.jsonl --format json --fail-on none > /dev/null" \
    -n 512M "$K report bench-data/audit-1G.jsonl --memory-limit 512M --format json --fail-on none > /dev/null"
  python3 - "$OUT/1G.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"1 GiB: default budget {r['default']:.2f} s, 512M {r['512M']:.2f} s: "
      f"{(r['512M'] / r['default'] - 1) * 100:+.0f} %")
PY
fi

# ingest into a throwaway store: the default budget on 1 GiB, 256M on every size
for run in "1G default" $(for s in $SIZES; do echo "$s:256M"; done); do
  size=${run%%[: ]*}; budget=${run##*[: ]}
  flags=(); [ "$budget" = default ] || flags=(--memory-limit "$budget")
  rm -rf "$OUT/store"
  /usr/bin/time -v "$K" ingest "bench-data/audit-$size.jsonl" --store "$OUT/store" --cluster-name bench \
    "${flags[@]}" > /dev/null 2> "$OUT/ingest-$size-$budget.log" || true
  usage "$(printf 'ingest %4s %8s' "$size" "$budget")" "$OUT/ingest-$size-$budget.log"
done
rm -rf "$OUT/store"
