#!/usr/bin/env bash
# Benchmark: kscope against DuckDB on ~1 GiB of generated audit log (issue #2).
#
#   benches/audit.sh [SIZE]        SIZE defaults to 1G; data goes to bench-data/ (git-ignored)
#
# Needs: ../shared/tools/gen-audit-log.py (the workspace's generator; set GEN= to point elsewhere),
# python3, pip (installs the DuckDB command-line binary, duckdb-cli, when missing). Builds kscope
# in release mode.
# 1. checks kscope's answers against the generator's --truth file,
# 2. times, whole process against whole process and alternating run by run (benches/alternate.py),
#    `kscope sql` (top user agents) against the DuckDB CLI's read_ndjson with the one column declared,
#    and `kscope report` (all queries) against the DuckDB CLI loading the needed columns into a table
#    once and running the equivalent queries; prints medians, peak RSS and the ratios.
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
DUCKDB=$(bash benches/duckdb.sh)
cargo build --release --locked --quiet
K=target/release/kscope
TOP="SELECT user_agent, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 10"
DTOP="SET threads=2; SELECT userAgent, count(*) AS n FROM read_ndjson('$LOG', columns={'userAgent': 'VARCHAR'}) GROUP BY 1 ORDER BY n DESC, userAgent LIMIT 10"
sed "s#@LOG@#$LOG#" benches/duckdb-report.sql > "$DATA/duckdb-report.sql"
RUNS=${RUNS:-7}

echo "== correctness against $TRUTH"
python3 benches/check_truth.py "$K" "$LOG" "$TRUTH"

echo "== one query: top user agents ($(date -u +%F), $RUNS runs each, alternated)"
# kscope-portable: the same binary with the JSON scanner's SIMD index switched off
python3 benches/alternate.py "$RUNS" \
  "kscope=$K sql \"$TOP\" $LOG --format csv" \
  "kscope-portable=KSCOPE_JSON_KERNEL=off $K sql \"$TOP\" $LOG --format csv" \
  "duckdb=$DUCKDB -c \"$DTOP\""
echo "== the same query over the log gzipped (gzip -1, made once)"
[ -s "$LOG.gz" ] || gzip -1 -c "$LOG" > "$LOG.gz"
python3 benches/alternate.py "${GZ_RUNS:-5}" \
  "kscope=$K sql \"$TOP\" $LOG.gz --format csv" \
  "duckdb=$DUCKDB -c \"${DTOP//$LOG/$LOG.gz}\""
echo "== report: all kscope queries vs the DuckDB CLI loading the columns once + 5 queries"
python3 benches/alternate.py "$RUNS" \
  "kscope=$K report $LOG --format json --fail-on none" \
  "duckdb=$DUCKDB < $DATA/duckdb-report.sql"
