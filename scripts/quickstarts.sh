#!/usr/bin/env bash
# Runs the README's quick starts exactly as written: every fenced block whose
# info string is "<language> quickstart" is extracted and compiled and run
# (Rust as a program depending on this checkout, C against the freshly built
# libsesame through pkg-config, as the README says). Ruby's and Python's
# quick starts run against the installed packages in their package-smoke
# scripts.
#
#   bash scripts/quickstarts.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/quickstart"
rm -rf "$work/rust/src" "$work/c"
mkdir -p "$work/rust/src" "$work/c"

# The lines between "```<lang> quickstart" and the next "```" of a Markdown file.
extract() {
  awk -v open="\`\`\`$2 quickstart" '
    $0 == open { inside = 1; found = 1; next }
    inside && /^```/ { inside = 0; next }
    inside { print }
    END { if (!found) exit 1 }' "$1"
}

echo "== README: Rust quick start"
extract "$root/README.md" rust > "$work/rust/src/main.rs"
cat > "$work/rust/Cargo.toml" <<TOML
[package]
name = "sesame-quickstart"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
sesame-session = { path = "$root" }
TOML
(cd "$work/rust" && CARGO_TARGET_DIR="$root/target" cargo run --quiet)

echo "== README: C quick start"
make -C "$root/bindings/c" --no-print-directory lib pkgconfig
extract "$root/README.md" c > "$work/c/app.c"
# From the repository's root, as the README says.
(cd "$root" && cc -std=c11 -Wall -Werror "$work/c/app.c" \
  $(PKG_CONFIG_PATH=target/release/pkgconfig pkg-config --cflags --libs sesame) -o "$work/c/app")
(cd /tmp && "$work/c/app")
echo "== quick starts ran"
