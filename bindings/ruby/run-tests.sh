#!/usr/bin/env bash
# Builds what the Ruby binding's tests need (libsesame.so and the Rust
# interop CLI) when missing or stale, then runs the whole minitest suite. Needs cargo and
# the Debian packages ruby ruby-ffi ruby-rack ruby-minitest.
#
#   bash bindings/ruby/run-tests.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# cargo is incremental: these are no-ops when the builds are up to date, and
# they keep the suite from testing a stale library after a change in src/.
if [ -z "${SESAME_LIB:-}" ]; then
  echo "== libsesame (make -C bindings/c lib)"
  make -C "$root/bindings/c" --no-print-directory lib
fi
if [ -z "${SESAME_INTEROP:-}" ]; then
  echo "== interop CLI (cargo build --release --example interop)"
  (cd "$root" && cargo build --quiet --release --example interop)
fi

echo "== Ruby $(ruby -e 'print RUBY_VERSION'), ffi $(ruby -rffi -e 'print FFI::VERSION'): minitest"
cd "$here"
exec ruby -w -Ilib -Itest test/run.rb
