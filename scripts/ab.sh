#!/usr/bin/env bash
# Did a hot-path change help? Times seal, open and the XAES floor of the
# working tree against a git revision, interleaved in one process
# (benches/ab/src/main.rs).
#
#   scripts/ab.sh [REV] [ROUNDS]      (default: HEAD, 20 rounds)
set -euo pipefail
rev="${1:-HEAD}"
rounds="${2:-20}"
cd "$(dirname "$0")/.."
base="target/ab-base"
rm -rf "$base"
mkdir -p "$base"
# The revision's crate, renamed so both builds link into one binary.
git archive "$rev" Cargo.toml src | tar -x -C "$base"
sed -i 's/^name = "sesame\(-session\)\?"$/name = "sesame_base"/' "$base/Cargo.toml"
sed -i '/^\[\[bench\]\]/,$d' "$base/Cargo.toml"
echo "base: $(git rev-parse --short "$rev") $(git log -1 --format=%s "$rev" | cut -c1-60)"
cd benches/ab
cargo run --release --quiet -- "$rounds"
