#!/usr/bin/env bash
# The Python binding's tests, from a fresh checkout: makes a venv
# (bindings/python/.venv), installs pytest, mypy, starlette, httpx and
# uvicorn (the ASGI tests) into it and the package in editable mode (which
# compiles the cffi module), builds libsesame and the Rust interop tool (and the C
# example, if a C compiler is there), type-checks the package with
# mypy --strict, and runs pytest. Exits non-zero on any failure.
#
#   bash bindings/python/run-tests.sh [pytest args...]
#
# PYTHON picks the interpreter (default python3, 3.9+). SESAME_LIB, if set,
# is the library under test (then nothing is built but the Rust tool).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
PYTHON="${PYTHON:-python3}"
venv="$here/.venv"

echo "== python: venv $venv ($("$PYTHON" --version 2>&1))"
if [ ! -x "$venv/bin/python" ]; then
  if ! "$PYTHON" -m venv "$venv"; then
    # Debian's python3 ships venv separately.
    if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      "$PYTHON" -m venv "$venv"
    else
      echo "cannot create a venv: install python3-venv" >&2
      exit 1
    fi
  fi
fi
py="$venv/bin/python"
# The cffi module is compiled against the Python headers (Debian: python3-dev).
if ! "$py" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null
  else
    echo "no Python.h for $("$py" --version): install the Python headers (python3-dev)" >&2
    exit 1
  fi
fi
"$py" -m pip install -q --disable-pip-version-check "pytest>=8,<10" "mypy==2.4.1" \
  "starlette>=0.37,<2" "httpx>=0.27" "uvicorn>=0.30"
"$py" -m pip install -q --disable-pip-version-check -e "$here"

echo "== python: building libsesame and the interop tool"
export SESAME_REQUIRE_TOOLS=1
if [ -z "${SESAME_LIB:-}" ]; then
  make -C "$root/bindings/c" --no-print-directory lib
  # The editable install has no bundled copy: test this checkout's build.
  export SESAME_LIB="$root/target/release/libsesame.so"
fi
(cd "$root" && cargo build --quiet --release --example interop)
if command -v "${CC:-cc}" >/dev/null; then
  make -C "$root/bindings/c" --no-print-directory build/session_cookie >/dev/null
else
  echo "   (no C compiler: the C example's cookie test will be skipped)"
  export SESAME_REQUIRE_TOOLS=0
fi

echo "== python: mypy --strict"
"$py" -m mypy --config-file "$here/pyproject.toml"

echo "== python: pytest"
"$py" -m pytest -q "$@"
