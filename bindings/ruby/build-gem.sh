#!/usr/bin/env bash
# Builds the installable gem sesame-session (required as "sesame") with the
# native library inside, from this checkout, offline: needs cargo and the
# Debian packages ruby ruby-ffi. Prints the .gem's path on its last line.
#
#   bash bindings/ruby/build-gem.sh [OUT_DIR]     # default: bindings/ruby/pkg
#
# It runs `make -C bindings/c lib` (the same cdylib the tests use), copies the
# gem's files and libsesame into a staging directory's lib/sesame/native/ and
# runs `gem build` there. The working tree never holds a copy of the library,
# so the tests cannot pick up a stale one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/pkg}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

echo "== libsesame (make -C bindings/c lib)" >&2
make -C "$root/bindings/c" --no-print-directory lib >&2
libname="$(ruby -rffi -e 'print FFI.map_library_name("sesame")')"
lib="$root/target/release/$libname"
[ -f "$lib" ] || { echo "build-gem.sh: $lib was not built" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -R "$here/lib" "$here/README.md" "$here/sesame-session.gemspec" "$stage/"
rm -rf "$stage/lib/sesame/native"
mkdir -p "$stage/lib/sesame/native"
cp "$lib" "$stage/lib/sesame/native/$libname"
strip --strip-debug "$stage/lib/sesame/native/$libname" 2>/dev/null || true

echo "== gem build sesame-session.gemspec" >&2
(cd "$stage" && gem build --silent sesame-session.gemspec >&2)
gem_file="$(ls "$stage"/sesame-session-*.gem)"
mv -f "$gem_file" "$out/"
echo "$out/$(basename "$gem_file")"
