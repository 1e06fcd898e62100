#!/usr/bin/env bash
# The DuckDB command-line binary (pip install duckdb-cli when missing): prints its path.
set -euo pipefail
find_cli() {
  python3 - <<'PY' 2>/dev/null
import os, duckdb_cli
d = os.path.dirname(duckdb_cli.__file__)
for root, _, files in os.walk(d):
    for f in files:
        p = os.path.join(root, f)
        if f == "duckdb" and os.access(p, os.X_OK):
            print(p); raise SystemExit
PY
}
p=$(find_cli || true)
if [ -z "$p" ]; then
  pip install --quiet duckdb-cli >&2
  p=$(find_cli || true)
fi
if [ -z "$p" ]; then
  p=$(command -v duckdb || true)
fi
[ -n "$p" ] || { echo "no DuckDB CLI (pip install duckdb-cli)" >&2; exit 1; }
echo "$p"
