#!/usr/bin/env bash
# Benchmark: the Parquet store (issue 14) on the 1 GiB generated audit log.
#
#   benches/store.sh [SIZE] [KSCOPE]   SIZE defaults to 1G; KSCOPE to target/release/kscope
#
# Needs hyperfine, GNU time and pip (for the DuckDB CLI, duckdb-cli); bench-data/audit-SIZE.jsonl from benches/audit.sh (generated with
# ../shared/tools/gen-audit-log.py). Measures:
# 1. `kscope ingest` throughput and peak RSS (/usr/bin/time -v), both cores (ingest also computes
#    the report's per-hour partial aggregates; its output says how long that took);
# 2. `kscope report` over the store against the same report over the raw JSON (hyperfine): with the
#    partial aggregates ingest kept, without any kept (the first report after `ingest
#    --no-partials`, which computes them), and with `--no-partials` (every query reads the rows);
# 3. a one-column query (top user agents) over the store against over the raw JSON;
# 4. the store's size against the raw and gzip JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
K=${2:-target/release/kscope}
LOG="bench-data/audit-$SIZE.jsonl"
[ -s "$LOG" ] || { echo "run benches/audit.sh $SIZE first (it generates $LOG)"; exit 1; }
[ -x "$K" ] || cargo build --release --locked --quiet
OUT=bench-data/store
rm -rf "$OUT" && mkdir -p "$OUT"
STORE="$OUT/store"

echo "== ingest $LOG"
/usr/bin/time -v "$K" ingest "$LOG" --store "$STORE" --cluster-name bench -v 2> "$OUT/ingest.time" > "$OUT/ingest.out" || true
cat "$OUT/ingest.out"
grep -E "Elapsed|Maximum resident|Percent of CPU" "$OUT/ingest.time"
secs=$(python3 - "$OUT/ingest.time" <<'PY'
import sys
for l in open(sys.argv[1]):
    if "Elapsed (wall clock)" in l:
        t = l.rsplit(" ", 1)[1].strip().split(":")
        print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(t))))
PY
)
bytes=$(stat -c %s "$LOG")
python3 -c "print(f'ingest: {$bytes / 2**20 / $secs:.0f} MiB/s of JSON')"

echo "== sizes"
gz="$OUT/audit.jsonl.gz"
gzip -c "$LOG" > "$gz"
store_bytes=$(du -sb "$STORE" | cut -f1)
states_bytes=$(du -sb "$STORE/_kscope/partials" | cut -f1)
python3 - "$bytes" "$(stat -c %s "$gz")" "$store_bytes" "$states_bytes" <<'PY'
import sys
raw, gz, st, states = map(int, sys.argv[1:])
print(f"raw JSON {raw/2**20:.0f} MiB, gzip {gz/2**20:.0f} MiB, store {st/2**20:.0f} MiB "
      f"({raw/st:.1f}x smaller than raw, {gz/st:.2f}x smaller than gzip), "
      f"of which partial aggregates {states/2**20:.1f} MiB")
PY

TOP="SELECT user_agent, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 10"
echo "== report and a one-column query: store against raw JSON"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$OUT/store.json" \
  -n report-raw "$K report $LOG --format json --fail-on none > /dev/null" \
  -n report-store-no-partials "$K report --store $STORE --no-partials --format json --fail-on none > /dev/null" \
  -n top-raw "$K sql '$TOP' $LOG --format csv > /dev/null" \
  -n top-store "$K sql '$TOP' --store $STORE --format csv > /dev/null"
# the report with partial aggregates: more runs (it is short, and this machine is noisy)
hyperfine --warmup 2 --runs 20 --style basic --export-json "$OUT/partials.json" \
  -n report-store "$K report --store $STORE --format json --fail-on none > /dev/null"
hyperfine --runs 3 --style basic --export-json "$OUT/cold.json" \
  --prepare "rm -rf $STORE/_kscope/partials" \
  -n report-store-cold "$K report --store $STORE --format json --fail-on none > /dev/null"
"$K" report --store "$STORE" --format json --fail-on none > "$OUT/with.json"
"$K" report --store "$STORE" --no-partials --format json --fail-on none > "$OUT/without.json"
cmp -s "$OUT/with.json" "$OUT/without.json" && echo "the same report with and without partial aggregates"
python3 - "$OUT/store.json" "$OUT/partials.json" "$OUT/cold.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for f in sys.argv[1:] for x in json.load(open(f))["results"]}
raw = r['report-raw']
for k in ['report-store', 'report-store-cold', 'report-store-no-partials']:
    print(f"{k}: raw {raw:.3f} s, store {r[k]:.3f} s: {raw/r[k]:.1f}x")
print(f"one column: raw {r['top-raw']:.3f} s, store {r['top-store']:.3f} s: {r['top-raw']/r['top-store']:.1f}x")
PY
for c in "report --store $STORE --format json --fail-on none" "sql '$TOP' --store $STORE --format csv"; do
  /usr/bin/time -f "%M KiB peak: kscope $c" sh -c "$K $c > /dev/null" 2>&1 | tail -1
done

# the DuckDB CLI over the same files (hive-partitioned Parquet), whole process against whole
# process, alternated run by run: a one-column and a three-column aggregation
DUCKDB=$(bash benches/duckdb.sh)
FILES="$STORE/cluster=*/date=*/hour=*/*.parquet"
GROUP="SELECT user_name, verb, resource, count(*) AS n, avg(latency_ms) AS ms FROM audit GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 20"
# the same SQL over the files (written out: a pattern substitution would drop the quotes)
DGROUP="SELECT user_name, verb, resource, count(*) AS n, avg(latency_ms) AS ms FROM read_parquet('$FILES', hive_partitioning=1) GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 20"
# both answers must agree before they are timed
diff <("$K" sql "$GROUP" --store "$STORE" --format csv | tail -n +2 | cut -d, -f1-4) \
  <("$DUCKDB" -csv -c "SET threads=2; $DGROUP" | tail -n +2 | cut -d, -f1-4) >/dev/null \
  || { echo "kscope and DuckDB disagree on the three-column aggregation"; exit 1; }
echo "== the store against the DuckDB CLI over the same files ($(date -u +%F), ${RUNS:-9} runs each, alternated)"
python3 benches/alternate.py "${RUNS:-9}" \
  "kscope=$K sql \"$TOP\" --store $STORE --format csv" \
  "duckdb=$DUCKDB -c \"SET threads=2; SELECT user_agent, count(*) AS n FROM read_parquet('$FILES', hive_partitioning=1) GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 10\""
python3 benches/alternate.py "${RUNS:-9}" \
  "kscope=$K sql \"$GROUP\" --store $STORE --format csv" \
  "duckdb=$DUCKDB -c \"SET threads=2; $DGROUP\""
