#!/usr/bin/env bash
# Benchmark: what the APF estimate adds to a report over the 1 GiB generated log (issue 27; target
# at most 15 %): every query, against every query but those that read the estimate (AUD020, which
# grades by seats, and AUD080-AUD083), with object counts given so every LIST is priced. Needs
# hyperfine; bench-data/audit-SIZE.jsonl from benches/audit.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
K=${2:-target/release/kscope}
LOG="bench-data/audit-$SIZE.jsonl"
[ -s "$LOG" ] || { echo "run benches/audit.sh $SIZE first"; exit 1; }
[ -x "$K" ] || cargo build --release --locked --quiet
mkdir -p bench-data/apf
cat > bench-data/apf/stats.yaml <<'YAML'
- {resource: pods, count: 20000, avg_bytes: 4000}
- {resource: configmaps, count: 5000, avg_bytes: 2000}
- {resource: secrets, count: 8000, avg_bytes: 3000}
- {resource: events, count: 60000, avg_bytes: 1000}
- {resource: nodes, count: 500, avg_bytes: 12000}
- {resource: services, count: 3000, avg_bytes: 1500}
- {resource: endpoints, count: 3000, avg_bytes: 2000}
- {group: apps, resource: deployments, count: 4000, avg_bytes: 5000}
- {group: apps, resource: replicasets, count: 12000, avg_bytes: 3000}
- {group: coordination.k8s.io, resource: leases, count: 700, avg_bytes: 500}
YAML
S="--object-stats bench-data/apf/stats.yaml --server-version 1.34"
hyperfine --warmup 1 --runs 5 --style basic --export-json bench-data/apf/apf.json \
  -n without "$K report $LOG $S --skip AUD020 --skip AUD080 --skip AUD081 --skip AUD082 --skip AUD083 --format json --fail-on none > /dev/null" \
  -n with "$K report $LOG $S --format json --fail-on none > /dev/null"
python3 - bench-data/apf/apf.json <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"with the estimate {r['with']:.2f} s vs without {r['without']:.2f} s ({(r['with'] / r['without'] - 1) * 100:+.1f} %)")
PY
