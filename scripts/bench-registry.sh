#!/usr/bin/env bash
# The session registry's numbers for docs/REGISTRY.md, in one run:
#   1. cargo bench --bench registry: register, check, check with a touch
#      write, refresh, list, revoke on memory, SQLite and Redis (a
#      redis-server the bench starts), and the bytes per stored session;
#   2. bindings/ruby/bench/rack_middleware.rb: requests per second through
#      Rack::Session::Cookie, Sesame::Rack::Session without a registry, and
#      with a SQLite or Redis registry (on_refresh, every_request), against a
#      redis-server started here (appendonly yes, appendfsync always; its
#      directory on disk under target/), stopped by its PID at the end.
#
#   bash scripts/bench-registry.sh          (SESAME_BENCH_QUICK=1 shortens part 1)
#   bash scripts/bench-registry.sh rack     (part 2 only; ROUNDS=N REQUESTS=N, default 40 x 5000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

echo "== load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
if [ "${1:-}" != rack ]; then
  echo "== 1. criterion: cargo bench --features registry-sqlite,registry-redis --bench registry"
  cargo bench --quiet --features registry-sqlite,registry-redis --bench registry 2>&1 \
    | grep -vE '^\s*(Warming|Collecting|Analyzing|Found|[0-9]+ \(|Benchmarking|change:|Performance|No change|Change within)|^$'
fi

echo "== 2. Rack: bindings/ruby/bench/rack_middleware.rb"
make -C bindings/c --no-print-directory lib
dir="$root/target/registry-bench-rack"
rm -rf "$dir" && mkdir -p "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes --appendfsync always \
  >"$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
# Many short rounds: on a shared machine the best of 40 finds quiet moments
# that the best of 5 long ones may not.
ROUNDS="${ROUNDS:-40}" REQUESTS="${REQUESTS:-5000}" \
  SESAME_LIB="$root/target/release/libsesame.so" SESAME_BENCH_SQLITE="$dir/registry.db" \
  SESAME_BENCH_REDIS="redis://127.0.0.1:$port/0" ruby bindings/ruby/bench/rack_middleware.rb
