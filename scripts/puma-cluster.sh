#!/usr/bin/env bash
# Sesame::Rack::Session with a registry in a real Puma cluster (2 forked
# workers), on SQLite and on a redis-server the test starts:
# bindings/ruby/test/cluster/cluster_test.rb. Needs the Debian packages
# puma, redis-server, ruby-ffi and ruby-rack (scripts/test-all.sh installs them).
#
#   bash scripts/puma-cluster.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${SESAME_LIB:-}" ]; then
  make -C "$root/bindings/c" --no-print-directory lib
  export SESAME_LIB="$root/target/release/libsesame.so"
fi
exec ruby -w "$root/bindings/ruby/test/cluster/cluster_test.rb"
