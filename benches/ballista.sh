#!/usr/bin/env bash
# Benchmark: the report over the Parquet store on Ballista with one and with two executors, against
# the local engine (issue 14). Needs hyperfine; the store from benches/store.sh (bench-data/store/
# store) and a kscope built with `--features ballista` (KSCOPE, default target/release/kscope).
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KSCOPE:-target/release/kscope}
STORE=${1:-bench-data/store/store}
[ -d "$STORE" ] || { echo "run benches/store.sh first"; exit 1; }
OUT=bench-data/ballista
mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$K" ballista scheduler --bind 127.0.0.1:50250 > "$OUT/scheduler.log" 2>&1 & pids+=($!)
sleep 2
"$K" ballista executor --scheduler df://127.0.0.1:50250 --bind 127.0.0.1:50261 > "$OUT/ex1.log" 2>&1 & pids+=($!)
sleep 3
# the local engine without the per-hour partial aggregates, which Ballista does not use: the same work
R="report --store $STORE --format json --fail-on none"
hyperfine --warmup 1 --runs 3 --style basic --export-json "$OUT/one.json" \
  -n local "$K $R --no-partials > /dev/null" \
  -n ballista-1 "$K $R --engine ballista --scheduler df://127.0.0.1:50250 > /dev/null"
"$K" ballista executor --scheduler df://127.0.0.1:50250 --bind 127.0.0.1:50271 > "$OUT/ex2.log" 2>&1 & pids+=($!)
sleep 3
hyperfine --warmup 1 --runs 3 --style basic --export-json "$OUT/two.json" \
  -n ballista-2 "$K $R --engine ballista --scheduler df://127.0.0.1:50250 > /dev/null"
python3 - "$OUT/one.json" "$OUT/two.json" <<'PY'
import json, sys
r = {}
for f in sys.argv[1:]:
    r.update({x["command"]: x["median"] for x in json.load(open(f))["results"]})
print(f"local {r['local']:.2f} s, Ballista 1 executor {r['ballista-1']:.2f} s, 2 executors {r['ballista-2']:.2f} s")
PY
