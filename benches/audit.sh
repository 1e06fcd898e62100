#!/usr/bin/env bash
# Benchmark: kscope against DuckDB on ~1 GiB of generated audit log (issue #2).
#
#   benches/audit.sh [SIZE]        SIZE defaults to 1G; data goes to bench-data/ (git-ignored)
#
# Needs: ../shared/tools/gen-audit-log.py (the workspace's generator; set GEN= to point elsewhere),
# python3 with `pip install duckdb`, hyperfine, GNU time. Builds kscope in release mode.
# 1. checks kscope's answers against the generator's --truth file,
# 2. times, alternating runs on the same file (hyperfine), `kscope sql` (top user agents) against DuckDB's
#    read_ndjson with an explicit column list, and `kscope report` (all queries) against DuckDB loading the
#    needed columns into a table once and running the equivalent queries,
# 3. reports peak RSS of each with /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
GEN=${GEN:-../shared/tools/gen-audit-log.py}
DATA=bench-data
mkdir -p "$DATA"
LOG="$DATA/audit-$SIZE.jsonl"
TRUTH="$DATA/truth-$SIZE.json"
if [ ! -s "$LOG" ]; then
  python3 "$GEN" --bytes "$SIZE" --seed 1 --out "$LOG" --truth "$TRUTH"
fi
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
cargo build --release --locked --quiet
K=target/release/kscope
TOP="SELECT user_agent, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 10"

echo "== correctness against $TRUTH"
python3 benches/check_truth.py "$K" "$LOG" "$TRUTH"

echo "== one query: top user agents"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$DATA/one.json" \
  -n kscope "$K sql '$TOP' $LOG --format csv" \
  -n duckdb "python3 benches/duckdb_bench.py one $LOG"
echo "== report: all kscope queries vs DuckDB load once + 5 queries"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$DATA/report.json" \
  -n kscope "$K report $LOG --format json --fail-on none > /dev/null" \
  -n duckdb "python3 benches/duckdb_bench.py report $LOG"

echo "== peak RSS (MiB)"
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ {printf "%.0f\n", $6/1024}'; }
echo "kscope sql:    $(rss $K sql "$TOP" "$LOG" --format csv)"
echo "duckdb one:    $(rss python3 benches/duckdb_bench.py one "$LOG")"
echo "kscope report: $(rss $K report "$LOG" --format json --fail-on none)"
echo "duckdb report: $(rss python3 benches/duckdb_bench.py report "$LOG")"
python3 - "$DATA/one.json" "$DATA/report.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    r = {x["command"]: x for x in json.load(open(f))["results"]}
    k, d = r["kscope"]["median"], r["duckdb"]["median"]
    print(f"{f}: kscope {k:.3f} s, duckdb {d:.3f} s (medians): duckdb/kscope = {d / k:.2f}x")
PY
