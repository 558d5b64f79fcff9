#!/usr/bin/env bash
# The whole sesame test suite: Rust, C (static, shared, valgrind), Ruby and
# Python. Installs what a fresh machine lacks (Debian packages, pip packages
# into a venv); needs only cargo to start.
#
#   bash scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: a C toolchain, valgrind, Ruby 3 with the ffi, rack and
# minitest gems (the Ruby binding's only dependencies), and SQLite headers,
# the sqlite3 shell, redis-server and puma for the session registry's stores
# and their fault and cluster tests, and Rails and Devise for the Rails +
# Devise tests.
packages=(gcc make pkg-config valgrind ruby ruby-ffi ruby-rack ruby-minitest ruby-rack-test libsqlite3-dev sqlite3 redis-server puma
          ruby-rails ruby-devise ruby-sqlite3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== Rust: unit, integration, property, fork, thread, allocation and doc tests"
cargo test --features capi
echo "== Rust: the session registry on memory, a real SQLite file and a redis-server the tests start"
cargo test --features capi,registry-sqlite,registry-redis --test registry --test registry_processes --test c_abi
echo "== Rust: the registry under faults: redis-server killed and stopped under load, SQLite locked and on a full disk"
cargo test --features capi,registry-sqlite,registry-redis --test registry_faults
echo "== Rust: C2SP XAES-256-GCM accumulated 1,000,000-iteration vector (release)"
cargo test --release --test spec_vectors -- --ignored

echo "== Rust: the CLI runs from a fresh build"
cargo run --quiet --bin sesame -- key generate >/dev/null

echo "== Rust: the demo runs"
cargo run --quiet --example demo >/dev/null

echo "== C: static and shared library, then valgrind memcheck"
make -C bindings/c --no-print-directory test

echo "== the README's Rust and C quick starts, as written"
bash scripts/quickstarts.sh

echo "== Ruby"
bash bindings/ruby/run-tests.sh
echo "== Ruby: Sesame::Rack::Session with a registry in a Puma cluster (2 workers), SQLite and Redis"
bash scripts/puma-cluster.sh
echo "== Ruby: the gem built, installed into a fresh GEM_HOME, its quick start run"
bash bindings/ruby/package-smoke.sh

echo "== Rails 6.1 + Devise on sesame, under Puma, driven over HTTP"
bash tests/rails/run.sh

echo "== Python"
bash bindings/python/run-tests.sh
echo "== Python: Flask and Django integrations (test clients, and the example apps under gunicorn)"
bash bindings/python/run-framework-tests.sh
echo "== Python: pip install bindings/python into a fresh venv, its quick start run"
bash bindings/python/package-smoke.sh

echo "== one keyset made by the CLI, read by C, Ruby, Python and the CLI"
bash scripts/keyset-interop.sh

echo "== the CDN incident end to end: nginx caching by path in front of real origins"
bash tests/e2e/run.sh

echo "== all test suites passed"
