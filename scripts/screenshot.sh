#!/usr/bin/env bash
# Regenerates docs/report-samples.png, the README's screenshot: the HTML report on the bundled
# samples in Debian's headless chromium (apt-get install chromium), networking blocked.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
target/debug/kscope report samples/audit --format html > "$out/report.html" 2>/dev/null || true
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --proxy-server=127.0.0.1:9 --host-resolver-rules='MAP * ~NOTFOUND' \
  --user-data-dir="$out/profile" --window-size=1280,1800 --hide-scrollbars \
  --screenshot="$PWD/docs/report-samples.png" "file://$out/report.html" 2>/dev/null
echo "wrote docs/report-samples.png"
