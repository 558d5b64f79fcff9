#!/usr/bin/env bash
# Installs the package the way a user would and uses it from outside the
# repository: a fresh temporary venv, `pip install <repo>/bindings/python`
# (not editable: setup.py builds libsesame with cargo and bundles it), then,
# from a temporary directory and with SESAME_LIB unset, checks that the
# installed package carries its own library and its compiled cffi module
# and the wheel is platform-specific, runs a seal/open and a keyset load, and runs the
# README's quick start (the ```python quickstart block). Exits non-zero,
# loudly, on any failure.
#
#   bash bindings/python/package-smoke.sh
#
# PYTHON picks the interpreter (default python3). SMOKE_CLONE=1 installs
# from a fresh `git clone` of this checkout's HEAD instead (only committed
# files; cargo then builds from scratch, which takes minutes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
unset SESAME_LIB

work="$(mktemp -d "${TMPDIR:-/tmp}/sesame-smoke.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "package-smoke: FAILED: $*" >&2; exit 1; }

source_root="$root"
if [ "${SMOKE_CLONE:-0}" = "1" ]; then
  echo "== smoke: cloning $root (HEAD) into $work/clone"
  git clone --quiet --no-hardlinks "$root" "$work/clone"
  source_root="$work/clone"
fi

echo "== smoke: fresh venv $work/venv ($("$PYTHON" --version 2>&1))"
"$PYTHON" -m venv "$work/venv" || fail "cannot create a venv (install python3-venv)"
py="$work/venv/bin/python"

echo "== smoke: pip install $source_root/bindings/python"
"$py" -m pip install --disable-pip-version-check -q "$source_root/bindings/python" \
  || fail "pip install $source_root/bindings/python"

mkdir -p "$work/outside"
cd "$work/outside"

echo "== smoke: the installed package"
"$py" - "$root" <<'PY' || fail "the installed package does not work"
import os
import pathlib
import sys

import sesame

repo = pathlib.Path(sys.argv[1]).resolve()
package = pathlib.Path(sesame.__file__).resolve().parent
library = pathlib.Path(sesame.LIBRARY_PATH).resolve()
print("   sesame from", package)
print("   libsesame from", library, "version", sesame.LIBRARY_VERSION)
assert "SESAME_LIB" not in os.environ
assert "site-packages" in package.parts, f"not the installed package: {package}"
assert repo not in package.parents, f"imported from the repository: {package}"
assert library.parent == package, f"not the bundled library: {library}"
from sesame import _native

print("   cffi mode", _native.MODE)
assert _native.MODE == "api", "the compiled cffi module was not built or does not load"

from importlib import metadata

dist = metadata.distribution("sesame-session")
wheel = (dist.read_text("WHEEL") or "").splitlines()
tags = [line.split(": ", 1)[1] for line in wheel if line.startswith("Tag: ")]
print("   wheel tags", tags)
assert tags and all(not tag.endswith("-none-any") for tag in tags), tags
assert "Root-Is-Purelib: false" in wheel, wheel
files = [str(f) for f in dist.files or []]
assert "sesame/libsesame.so" in files or "sesame/libsesame.dylib" in files or "sesame/sesame.dll" in files, files

ring = sesame.Keyring()
ring.add_key(1, sesame.Keyring.generate_key())
token = ring.seal(42, context=b"device", data=b"hello")
session = ring.open(token, context=b"device")
assert (session.user_id, session.data) == (42, b"hello"), session
ring.close()

keyset = (
    "sesame-keyset/1;"
    "key id=1 status=retired created=1690000000 retired=1700000000;"
    "key id=2 status=decrypt-only created=1695000000 raw=ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5_gIGCg4Q;"
    "key id=3 status=primary created=1700000000 "
    "master=YSBsb25nIHJhbmRvbSBtYXN0ZXIgc2VjcmV0IGZyb20gdGhlIHZhdWx0 purpose=c2Vzc2lvbiBjb29raWUgMjAyNi0xMQ"
)
with sesame.Keyring.from_keyset(keyset) as ring:
    assert ring.key_ids() == [2, 3] and ring.primary_id == 3, (ring.key_ids(), ring.primary_id)
    token = ring.seal(7)
    assert sesame.token_key_id(token) == 3 and ring.open(token).user_id == 7
try:
    sesame.Keyring.from_keyset("sesame-keyset/1;key id=1 status=primary created=1")
except sesame.InvalidKeyset as error:
    print("   invalid keyset:", error)
else:
    raise AssertionError("an invalid keyset loaded")
print("   seal/open and keyset load: ok")
PY

echo "== smoke: README quick start (\`\`\`python quickstart)"
"$py" - "$here/README.md" "$work/quickstart.py" <<'PY' || fail "no \`\`\`python quickstart block in README.md"
import sys

lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
blocks, inside, current = [], False, []
for line in lines:
    if not inside and line.strip() == "```python quickstart":
        inside, current = True, []
    elif inside and line.strip() == "```":
        blocks.append("\n".join(current) + "\n")
        inside = False
    elif inside:
        current.append(line)
if len(blocks) != 1 or inside:
    sys.exit(f"expected exactly one closed ```python quickstart block, found {len(blocks)}")
open(sys.argv[2], "w", encoding="utf-8").write(blocks[0])
PY
"$py" "$work/quickstart.py" || fail "the README quick start exited with $?"

echo "== smoke: ok"
