#!/usr/bin/env bash
# The Python benchmark: sesame against itsdangerous, cryptography's Fernet
# and pyseto (v4.local) in one run. Installs the peers into the venv
# (bindings/python/.venv) and builds libsesame first.
#
#   bash bindings/python/run-bench.sh [--repeat 7] [--json out.json] [--check]
#
# BENCH=wsgi runs the WSGI middleware benchmark (bench/wsgi_bench.py: a bare
# app, an itsdangerous signed-cookie middleware and SessionMiddleware):
#
#   BENCH=wsgi bash bindings/python/run-bench.sh [--rounds 5] [--requests 20000]
#
# Run it on an otherwise idle machine: the table is a min of interleaved runs,
# but other load still shows in the medians. BENCH_CPU=N pins the run to one
# CPU (taskset), away from whatever else is busy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
PYTHON="${PYTHON:-python3}"
venv="$here/.venv"
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check "itsdangerous>=2" "cryptography>=41" "pyseto>=1.7"
"$py" -m pip install -q --disable-pip-version-check -e "$here"
if [ -z "${SESAME_LIB:-}" ]; then
  make -C "$root/bindings/c" --no-print-directory lib
  export SESAME_LIB="$root/target/release/libsesame.so"
fi
script="$here/bench/bench.py"
[ "${BENCH:-}" = "wsgi" ] && script="$here/bench/wsgi_bench.py"
if [ -n "${BENCH_CPU:-}" ] && command -v taskset >/dev/null; then
  exec taskset -c "$BENCH_CPU" "$py" "$script" "$@"
fi
exec "$py" "$script" "$@"
