#!/usr/bin/env bash
# One keyset, made and rotated by the `sesame` CLI, read by every language:
# a token sealed in each of C, Ruby and Python opens in each of them and in
# the CLI (Rust, `sesame inspect`), before and after the CLI adds a
# decrypt-only key and promotes it. Needs what scripts/test-all.sh
# installs (the Python venv of bindings/python/run-tests.sh).
#
#   bash scripts/keyset-interop.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

make -C bindings/c --no-print-directory lib >/dev/null
cargo build --quiet --bin sesame
sesame=target/debug/sesame
export SESAME_LIB="$root/target/release/libsesame.so"
cc -std=c11 -Wall -Werror -Iinclude bindings/c/tests/keyset_open.c -Ltarget/release -lsesame \
  -Wl,-rpath,"$root/target/release" -o "$work/keyset_open"
python="bindings/python/.venv/bin/python"

c_seal() { "$work/keyset_open" "$1" seal "$2"; }
c_open() { "$work/keyset_open" "$1" open "$2"; }
ruby_seal() { ruby -Ibindings/ruby/lib -rsesame -e 'print Sesame::Keyring.from_keyset(File.read(ARGV[0])).seal(user_id: Integer(ARGV[1]))' "$1" "$2"; }
ruby_open() { ruby -Ibindings/ruby/lib -rsesame -e 'print Sesame::Keyring.from_keyset(File.read(ARGV[0])).open(ARGV[1]).user_id' "$1" "$2"; }
py_seal() { "$python" -c 'import sys, sesame; print(sesame.Keyring.from_keyset(open(sys.argv[1]).read()).seal(int(sys.argv[2])), end="")' "$1" "$2"; }
py_open() { "$python" -c 'import sys, sesame; print(sesame.Keyring.from_keyset(open(sys.argv[1]).read()).open(sys.argv[2]).user_id, end="")' "$1" "$2"; }
cli_open() { "$sesame" inspect "$2" --keyset "$1" | sed -n 's/^user_id: //p'; }

checks=0
round() {
  local keyset="$1" sealer opener user=100 token got
  for sealer in c ruby py; do
    user=$((user + 1))
    token="$("${sealer}_seal" "$keyset" "$user")"
    for opener in c ruby py cli; do
      got="$("${opener}_open" "$keyset" "$token")"
      if [ "$got" != "$user" ]; then
        echo "FAILED: sealed by $sealer for $user, $opener opened it as '$got'" >&2
        exit 1
      fi
      checks=$((checks + 1))
    done
  done
}

"$sesame" keyset new > "$work/keyset"
round "$work/keyset"
"$sesame" keyset add "$work/keyset" >/dev/null
"$sesame" keyset promote "$work/keyset" 2 >/dev/null
"$sesame" keyset show "$work/keyset"
round "$work/keyset"
echo "keyset interop: $checks passed, 0 failed (C, Ruby, Python seal; C, Ruby, Python and the CLI open)"
