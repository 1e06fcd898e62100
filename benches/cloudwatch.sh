#!/usr/bin/env bash
# Benchmark: events/s pulled from CloudWatch Logs through the fault proxy, kscope (parallel runs,
# one shared rate limiter per operation, GetLogEvents and FilterLogEvents each within its own quota)
# against one sequential FilterLogEvents paginator (boto3, the way `aws logs filter-log-events`
# pages) over the same events.
#
# moto's server stands in for CloudWatch Logs; the proxy in front of it (tests/cloudwatch/harness.py)
# adds LATENCY_MS to every call (a real region's round trip; moto answers in milliseconds), caps pages
# at PAGE_CAP events (the service stops a page at 1 MB; ~1 000 audit events of ~1 KB) and enforces
# the quotas as per-operation rate limits (GetLogEvents TPS=25/s, FilterLogEvents FILTER_TPS=10/s),
# and kscope is given the same numbers (--max-tps, --max-filter-tps): a client that
# goes faster gets ThrottlingException, and the proxy reports the peak requests in any 1 s window.
# Whole-process wall time by /usr/bin/time. Needs python3 with moto[server] (and boto3, which it
# brings). Usage: [DENSITY=4] [TPS=25] [FILTER_TPS=10] benches/cloudwatch.sh [COPIES]  (copies of the one-hour
# samples/audit/eks-apiserver-audit.jsonl, DENSITY of them per hour; default 24: about 67 000 events
# over 6 hours in 3 audit streams; 96: about 270 000 events over 24 hours)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${1:-24}
DENSITY=${DENSITY:-4}
LATENCY_MS=${LATENCY_MS:-100}
PAGE_CAP=${PAGE_CAP:-1000}
TPS=${TPS:-25}
FILTER_TPS=${FILTER_TPS:-10}
python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install --quiet 'moto[server]>=5,<6'
cargo build --release --locked --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"; kill "$H_PID" 2>/dev/null || true' EXIT

coproc H { exec python3 tests/cloudwatch/harness.py; }
H_PID=$H_PID
ask() { echo "$1" >&"${H[1]}"; read -r reply <&"${H[0]}"; echo "$reply"; }
read -r ports <&"${H[0]}"
proxy=$(echo "$ports" | python3 -c 'import json,sys; print(json.load(sys.stdin)["proxy"])')
seed=$(ask "{\"cmd\":\"seed\",\"group\":\"/aws/eks/bench/cluster\",\"source\":\"samples/audit/eks-apiserver-audit.jsonl\",\"out\":\"$work/seeded.jsonl\",\"repeat\":$COPIES,\"density\":$DENSITY,\"same_ms_every\":5,\"decoys\":false,\"newest_age_s\":1800}")
first=$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_ms"])')
last=$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_ms"])')
events=$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
start_ms=$((first - 1000)); end_ms=$((last + 1000))
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; }
start=$(iso "$start_ms"); end=$(iso $((end_ms + 1000)))
ask "{\"cmd\":\"config\",\"latency_ms\":$LATENCY_MS,\"page_cap\":$PAGE_CAP,\"rate_limit\":{\"GetLogEvents\":$TPS,\"FilterLogEvents\":$FILTER_TPS}}" >/dev/null
echo "seeded $events events, $COPIES copies over $((COPIES / DENSITY)) h, 3 audit streams; proxy: +${LATENCY_MS} ms per call, pages of $PAGE_CAP, limits GetLogEvents $TPS/s, FilterLogEvents $FILTER_TPS/s"

run() { # label, command...
    local label=$1; shift
    ask '{"cmd":"reset_stats"}' >/dev/null
    # kscope exits 2: the sample's malformed lines (counted, reported) are in every copy
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || [ $? -eq 2 ] || { cat "$work/err" >&2; exit 1; }
    local secs rss stats
    read -r secs rss < <(tail -n 1 "$work/time")
    stats=$(ask '{"cmd":"stats"}')
    echo "$label|$secs|$rss|$stats|$(tail -n 1 "$work/out")"
}

filter_line=$(run "sequential FilterLogEvents" python3 benches/cw_sequential.py --api filter \
    --endpoint-url "http://127.0.0.1:$proxy" --group /aws/eks/bench/cluster --start-ms "$start_ms" --end-ms "$end_ms")
get_line=$(run "sequential GetLogEvents" python3 benches/cw_sequential.py --api get \
    --endpoint-url "http://127.0.0.1:$proxy" --group /aws/eks/bench/cluster --start-ms "$start_ms" --end-ms "$end_ms")
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-central-1 AWS_EC2_METADATA_DISABLED=true
ks_line=$(run kscope ./target/release/kscope sql "SELECT count(*) AS n FROM audit" --format csv \
    --log-group /aws/eks/bench/cluster --start "$start" --end "$end" --endpoint-url "http://127.0.0.1:$proxy" \
    --max-tps "$TPS" --max-filter-tps "$FILTER_TPS" --cache-dir "$work/cache" --refresh)

python3 - "$events" "$filter_line" "$get_line" "$ks_line" <<'PY'
import json, sys
events = int(sys.argv[1])
rows = []
for line in sys.argv[2:]:
    label, secs, rss, stats, out = line.split("|", 4)
    s = json.loads(stats)
    reads = {op: s["calls"].get(op, 0) for op in ("GetLogEvents", "FilterLogEvents")}
    calls = " + ".join(f"{n} {op[:3]}" for op, n in reads.items() if n)
    peak = " / ".join(f"{s['peak_per_second'].get(op, 0)} {op[:3]}" for op, n in reads.items() if n)
    rows.append((label, float(secs), int(rss) // 1024, calls, peak,
                 s["faults"].get("rate_limited", 0), out.strip().splitlines()[-1] if out.strip() else ""))
print("| client | wall s | events/s | read calls | peak calls in 1 s | throttled | RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label, secs, rss, calls, peak, thr, _ in rows:
    print(f"| {label} | {secs:.1f} | {events / secs:,.0f} | {calls} | {peak} | {thr} | {rss} |")
ks = rows[-1]
for r in rows[:-1]:
    print(f"\nkscope vs {r[0]}: {r[1] / ks[1]:.1f}x (counted {r[6]})", end="")
print(f"\nevents seeded {events}; kscope counted {ks[6]} (requests, after merging stages)")
PY
