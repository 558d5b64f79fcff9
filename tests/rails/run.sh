#!/usr/bin/env bash
# Rails 6.1 + Devise 4.8 on sesame, end to end under Puma (tests/rails/test_rails.rb).
# Installs what it lacks (Debian: ruby-rails ruby-devise ruby-sqlite3 puma
# ruby-minitest), builds libsesame when missing or stale, makes a keyset,
# and runs the tests (about a minute).
#
#   bash tests/rails/run.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

missing=()
for p in ruby-rails ruby-devise ruby-sqlite3 puma ruby-minitest ruby-ffi; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ -z "${RAILS_NO_INSTALL:-}" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "== apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${SESAME_LIB:-}" ]; then
  make -s -C "$ROOT/bindings/c" --no-print-directory lib
  export SESAME_LIB="$ROOT/target/release/libsesame.so"
fi
if [ -z "${SESAME_KEYSET:-}" ]; then
  SESAME_KEYSET="$(ruby -I"$ROOT/bindings/ruby/lib" -rsesame -rsecurerandom -e '
    key = [Sesame::Keyring.generate_key].pack("m0").tr("+/", "-_").delete("=")
    print "sesame-keyset/1;key id=1 status=primary created=#{Time.now.to_i} raw=#{key}"')"
  export SESAME_KEYSET
fi
echo "== Rails $(ruby -rrails -e 'print Rails.version'), Devise $(ruby -rdevise/version -e 'print Devise::VERSION'), Puma $(ruby -rpuma/const -e 'print Puma::Const::PUMA_VERSION')"
exec ruby "$HERE/test_rails.rb" "$@"
