#!/usr/bin/env bash
# Build time against run time, for the release profile's LTO, codegen-units and per-dependency
# opt-level settings (issue 11).
#
#   benches/build.sh [CONFIG...]      CONFIG is NAME:LTO:CODEGEN_UNITS[:all3], default: the two below
#
# `all3` builds every dependency at opt-level 3, overriding the cold dependencies that Cargo.toml's
# [profile.release.package] table puts at opt-level 1 (the baseline for that table).
# For each configuration: a cold `cargo build --release --locked` in a fresh target directory
# (every dependency compiled, as from a clean clone; wall time with GNU time), then the audit
# benchmark's report over bench-data/audit-1G.jsonl (benches/audit.sh generates it) timed with
# hyperfine, alternating binaries. Needs hyperfine and GNU time. Takes about an hour on 2 cores (two cold builds).
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=bench-data/audit-1G.jsonl
[ -s "$LOG" ] || { echo "run benches/audit.sh first (it generates $LOG)"; exit 1; }
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=("split:false:4" "all3:false:4:all3")
# the dependencies Cargo.toml builds at a lower opt-level
mapfile -t COLD < <(sed -n '/^\[profile.release.package\]/,/^\[/p' Cargo.toml | sed -n 's/^\([A-Za-z0-9_-]*\)\.opt-level = .*/\1/p')
OUT=bench-data/build
mkdir -p "$OUT"
cmds=()
for c in "${CONFIGS[@]}"; do
  IFS=: read -r name lto cu deps <<<"$c"
  extra=()
  if [ "${deps:-}" = all3 ]; then
    for p in "${COLD[@]}"; do extra+=(--config "profile.release.package.$p.opt-level=3"); done
  fi
  dir=$(mktemp -d "$OUT/target-$name.XXXX")
  echo "== $name: lto=$lto codegen-units=$cu (cold build in $dir)"
  CARGO_PROFILE_RELEASE_LTO=$lto CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cu \
    /usr/bin/time -f "%e s wall, %U s user, %M KiB peak" -o "$OUT/$name.time" \
    cargo build "${extra[@]}" --release --locked --quiet --timings --target-dir "$dir"
  cp "$dir/release/kscope" "$OUT/kscope-$name"
  # where the time went (cargo's --timings report: each unit's duration, summed by group)
  python3 - "$dir"/cargo-timings/cargo-timing-*.html "${COLD[@]}" <<'PY'
import json, re, sys
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", open(sys.argv[1]).read(), re.S).group(1))
cold = set(sys.argv[2:])
groups = {"cold dependencies (Cargo.toml's table)": 0.0, "other dependencies": 0.0, "kscope": 0.0}
for u in units:
    g = "kscope" if u["name"] == "kscope" else ("cold dependencies (Cargo.toml's table)" if u["name"] in cold else "other dependencies")
    groups[g] += u["duration"]
for g, t in groups.items():
    print(f"  {g}: {t / 60:.1f} min")
PY
  # the final crate alone: touch it and build again
  touch src/lib.rs
  CARGO_PROFILE_RELEASE_LTO=$lto CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cu \
    /usr/bin/time -f "%e s wall" -o "$OUT/$name.crate.time" \
    cargo build "${extra[@]}" --release --locked --quiet --target-dir "$dir"
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
