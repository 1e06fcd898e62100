#!/usr/bin/env bash
# Build time against run time, for the release profile's LTO and codegen-units settings (issue 11).
#
#   benches/build.sh [CONFIG...]      CONFIG is NAME:LTO:CODEGEN_UNITS, default: the two below
#
# For each configuration: a cold `cargo build --release --locked` in a fresh target directory
# (every dependency compiled, as from a clean clone; wall time with GNU time), then the audit
# benchmark's report over bench-data/audit-1G.jsonl (benches/audit.sh generates it) timed with
# hyperfine, alternating binaries. Needs hyperfine and GNU time. Takes about 40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=bench-data/audit-1G.jsonl
[ -s "$LOG" ] || { echo "run benches/audit.sh first (it generates $LOG)"; exit 1; }
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=("off-cu16:false:16" "thin-cu4:thin:4")
OUT=bench-data/build
mkdir -p "$OUT"
cmds=()
for c in "${CONFIGS[@]}"; do
  IFS=: read -r name lto cu <<<"$c"
  dir=$(mktemp -d "$OUT/target-$name.XXXX")
  echo "== $name: lto=$lto codegen-units=$cu (cold build in $dir)"
  CARGO_PROFILE_RELEASE_LTO=$lto CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cu \
    /usr/bin/time -f "%e s wall, %U s user, %M KiB peak" -o "$OUT/$name.time" \
    cargo build --release --locked --quiet --target-dir "$dir"
  cp "$dir/release/kscope" "$OUT/kscope-$name"
  # the final crate alone: touch it and build again
  touch src/lib.rs
  CARGO_PROFILE_RELEASE_LTO=$lto CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cu \
    /usr/bin/time -f "%e s wall" -o "$OUT/$name.crate.time" \
    cargo build --release --locked --quiet --target-dir "$dir"
  rm -rf "$dir"
  echo "cold build: $(cat "$OUT/$name.time"); kscope crate alone: $(cat "$OUT/$name.crate.time")"
  cmds+=(-n "$name" "$OUT/kscope-$name report $LOG --format json --fail-on none > /dev/null")
done
echo "== report over $LOG"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$OUT/report.json" "${cmds[@]}"
python3 - "$OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["median"]
for x in r:
    print(f'{x["command"]}: median {x["median"]:.3f} s ({x["median"] / base:.3f}x of {r[0]["command"]})')
PY
