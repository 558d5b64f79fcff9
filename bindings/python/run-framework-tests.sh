#!/usr/bin/env bash
# The Flask and Django integrations' tests: installs the pinned frameworks
# (requirements-frameworks.txt) and gunicorn into the binding's venv
# (bindings/python/.venv, made here if run-tests.sh has not made it), builds
# libsesame unless SESAME_LIB is set, type-checks the package with
# mypy --strict, and runs framework_tests/ (Flask's test client, Django's
# test client, and both example apps under a real gunicorn on 127.0.0.1).
#
#   bash bindings/python/run-framework-tests.sh [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
py="$venv/bin/python"
echo "== python frameworks: pip install (requirements-frameworks.txt)"
"$py" -m pip install -q --disable-pip-version-check "pytest>=8,<10" "mypy==2.4.1" -r "$here/requirements-frameworks.txt"
"$py" -m pip install -q --disable-pip-version-check -e "$here"
if [ -z "${SESAME_LIB:-}" ]; then
  make -C "$root/bindings/c" --no-print-directory lib
  export SESAME_LIB="$root/target/release/libsesame.so"
fi
echo "== python frameworks: mypy --strict (with the frameworks installed)"
"$py" -m mypy --config-file "$here/pyproject.toml"
echo "== python frameworks: pytest framework_tests"
"$py" -m pytest -q -p no:cacheprovider framework_tests "$@"
