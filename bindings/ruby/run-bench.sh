#!/usr/bin/env bash
# Builds libsesame if needed and runs bench/compare.rb (sesame vs Rails'
# ActiveSupport::MessageEncryptor). Needs ruby-activesupport and
# ruby-benchmark-ips. BENCH_TIME / BENCH_WARMUP (seconds) shorten it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -n "${SESAME_LIB:-}" ] || make -C "$here/../c" --no-print-directory lib
cd "$here"
exec ruby -Ilib bench/compare.rb
