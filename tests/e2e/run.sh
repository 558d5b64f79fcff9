#!/usr/bin/env bash
# The e2e run, CI-sized (about 1.5 minutes once built): installs what it needs
# (Debian: nginx, puma, ruby-rack, ruby-ffi, libmicrohttpd-dev, python3-venv;
# PyPI: gunicorn, uvicorn, starlette and cffi into tests/e2e/.venv), builds
# libsesame, the `sesame` CLI
# (for a keyset) and the C session server, then runs tests/e2e/run.py:
# each origin with 2 browsers for 20 s, plus the sesame origins but asgi with 20 browsers
# (Cookie header size, no 4xx/5xx). Prints one table; exits non-zero on a
# failed verdict. From a clean clone:
#
#   tests/e2e/run.sh
#
# Environment:
#   E2E_ORIGINS=c,baseline,rack,wsgi,asgi   (the default; any subset, or "all")
#   E2E_USERS=2 E2E_DURATION=20 E2E_CROWD=20 E2E_CROWD_DURATION=15
#   E2E_VALGRIND=1           run the C server under valgrind memcheck (leaks fail the run)
#   E2E_NO_INSTALL=1         skip apt-get/pip (everything already there)
#   E2E_FRAMEWORKS=flask,django,django-stock,rails,rails_cookie  the Flask, Django
#                            and Rails + Devise origins (CSRF forms, the frameworks'
#                            own cookies on cached pages) and stock Django and Rails'
#                            CookieStore as their controls, run first in a short pass:
#                            E2E_FRAMEWORK_USERS=3 E2E_FRAMEWORK_DURATION=5; empty to
#                            skip. Flask, Django and gunicorn come from
#                            bindings/python/requirements-frameworks.txt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ORIGINS="${E2E_ORIGINS:-c,baseline,rack,wsgi,asgi}"

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v puma >/dev/null 2>&1 || need_apt+=(puma)
dpkg -s ruby-rack >/dev/null 2>&1 || need_apt+=(ruby-rack)
dpkg -s libmicrohttpd-dev >/dev/null 2>&1 || need_apt+=(libmicrohttpd-dev)
case ",$ORIGINS," in *,rack,*|*,all,*) dpkg -s ruby-ffi >/dev/null 2>&1 || need_apt+=(ruby-ffi) ;; esac
case ",$ORIGINS," in *,wsgi,*|*,asgi,*|*,all,*) python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv) ;; esac
FRAMEWORKS="${E2E_FRAMEWORKS-flask,django,django-stock,rails,rails_cookie}"
case ",$FRAMEWORKS,$ORIGINS," in *,rails,*|*,rails_cookie,*|*,all,*)
  for p in ruby-ffi ruby-rails ruby-devise ruby-sqlite3; do dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p"); done ;;
esac
if [ -n "${E2E_VALGRIND:-}" ]; then command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind); fi

if [ "${#need_apt[@]}" -gt 0 ] && [ -z "${E2E_NO_INSTALL:-}" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Installing nginx must not start the system's nginx (port 80 on every
  # interface): hold service starts with policy-rc.d unless one exists.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  echo "== apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; made_policy=""; fi
fi

case ",$FRAMEWORKS," in *,flask,*|*,django,*|*,django-stock,*) python_frameworks=1 ;; *) python_frameworks="" ;; esac
if [ -n "$python_frameworks" ] && [ -z "${E2E_NO_INSTALL:-}" ] \
    && ! "$HERE/.venv/bin/python" -c 'import flask, flask_login, django, gunicorn, cffi' 2>/dev/null; then
  echo "== pip install Flask, Flask-Login, Django, gunicorn and cffi into tests/e2e/.venv"
  [ -x "$HERE/.venv/bin/python" ] || python3 -m venv "$HERE/.venv"
  # cffi: the origins import the binding from bindings/python/src.
  "$HERE/.venv/bin/pip" install -q -r "$ROOT/bindings/python/requirements-frameworks.txt" cffi
fi

PY_ARGS=()
case ",$ORIGINS," in
  *,wsgi,*|*,asgi,*|*,all,*)
    # The Python origins import the binding from bindings/python/src (cffi:
    # its compiled module if run-tests.sh built one there, else ABI mode).
    if ! "$HERE/.venv/bin/python" -c 'import gunicorn, uvicorn, starlette, cffi' 2>/dev/null \
        && [ -z "${E2E_NO_INSTALL:-}" ]; then
      echo "== pip install gunicorn, uvicorn, starlette and cffi into tests/e2e/.venv"
      [ -x "$HERE/.venv/bin/python" ] || python3 -m venv "$HERE/.venv"
      "$HERE/.venv/bin/pip" install -q gunicorn uvicorn starlette cffi
    fi
    PY_ARGS=(--gunicorn "$HERE/.venv/bin/gunicorn" --uvicorn "$HERE/.venv/bin/uvicorn") ;;
esac

echo "== build libsesame, the sesame CLI and the C session server"
(cd "$ROOT" && cargo build --quiet --release --bin sesame)
make -s -C "$ROOT/bindings/c" session-server

WRAP=()
if [ -n "${E2E_VALGRIND:-}" ]; then
  WRAP=(--c-wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect")
fi

SESAME_KEYSET="$("$ROOT/target/release/sesame" keyset new)"
export SESAME_KEYSET
status=0
if [ -n "$FRAMEWORKS" ]; then
  # Probes every 20th request: in a short run, more of the page misses the
  # cache stores are then refreshes (which the cache replays), not only the
  # frameworks' own cookies.
  python3 "$HERE/run.py" --origins "$FRAMEWORKS" --gunicorn "$HERE/.venv/bin/gunicorn" --probe-every 20 \
    --users "${E2E_FRAMEWORK_USERS:-3}" --duration "${E2E_FRAMEWORK_DURATION:-5}" "$@" || status=1
fi
python3 "$HERE/run.py" --origins "$ORIGINS" \
  --users "${E2E_USERS:-2}" --duration "${E2E_DURATION:-20}" \
  --crowd "${E2E_CROWD:-20}" --crowd-duration "${E2E_CROWD_DURATION:-15}" \
  "${PY_ARGS[@]}" "${WRAP[@]}" "$@" || status=1
exit "$status"
