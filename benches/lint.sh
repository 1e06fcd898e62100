#!/usr/bin/env bash
# Benchmark: `kscope lint` (CRD rules) against a simulated cluster of 500 CRDs and 50 000 custom
# objects served by the test API server (tests/integration/apiserver.rs) over HTTP on 127.0.0.1.
# Prints the API requests made and the wall time of the kscope process. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked --test integration bench_lint_500_crds_50k_objects -- --ignored --nocapture 2>&1 | grep BENCH
