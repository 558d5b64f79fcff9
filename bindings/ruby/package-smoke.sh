#!/usr/bin/env bash
# Packaging smoke test of the Ruby gem, from a clean clone (needs cargo and
# the Debian packages ruby ruby-ffi, and ruby-rack for the config.ru check):
#
#   bash bindings/ruby/package-smoke.sh
#
# 1. builds sesame-session-*.gem with build-gem.sh (libsesame inside);
# 2. installs it with `gem install --local` into a fresh, temporary GEM_HOME
#    (GEM_PATH keeps the system's gems, so Debian's ffi satisfies the
#    dependency without any network);
# 3. from a directory outside the repository, with SESAME_LIB unset and no
#    -I, checks that `require "sesame"` loads the gem's own library and can
#    seal, open and load a keyset;
# 4. extracts README.md's ```ruby quickstart block and runs it (exit 0);
# 5. loads README.md's config.ru through Rack (when rack is installed) and
#    logs in and out (by POST) through it.
# Any failure stops it with a message and a non-zero exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "package-smoke: FAILED: $*" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/sesame-gem-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unset SESAME_LIB RUBYLIB RUBYOPT BUNDLE_GEMFILE

echo "== build the gem"
gem_file="$(bash "$here/build-gem.sh" "$work/pkg" | tail -n 1)"
[ -f "$gem_file" ] || fail "build-gem.sh did not produce a gem"
echo "   $gem_file"

echo "== install it into a fresh GEM_HOME"
system_gem_path="$(ruby -e 'print Gem.path.join(":")')"
export GEM_HOME="$work/gems"
export GEM_PATH="$GEM_HOME:$system_gem_path"
gem install --local --no-document "$gem_file" || fail "gem install --local $gem_file"
gem list --local sesame-session | grep -q '^sesame-session ' || fail "sesame-session not listed by gem list"

outside="$work/outside" # no Gemfile, no lib/ of the repository anywhere near
mkdir -p "$outside"
cd "$outside"

echo "== require \"sesame\" from $outside"
ruby -e '
  require "sesame"
  home = ENV.fetch("GEM_HOME")
  path = Sesame.library_path
  abort "loaded #{path}, not the gem'"'"'s own copy under #{home}" unless path.start_with?(home) && path.include?("/lib/sesame/native/")
  abort "sesame.rb came from #{$LOADED_FEATURES.grep(%r{/sesame\.rb\z}).inspect}" unless $LOADED_FEATURES.grep(%r{/sesame\.rb\z}).all? { |f| f.start_with?(home) }
  spec = Gem.loaded_specs.fetch("sesame-session")
  ring = Sesame::Keyring.new.add_key(1, Sesame::Keyring.generate_key)
  token = ring.seal(user_id: 42, data: "smoke")
  s = ring.open(token)
  abort "open gave #{s.inspect}" unless s.user_id == 42 && s.data == "smoke"
  raw = [("k" * 32)].pack("m0").tr("+/", "-_").delete("=")
  keyed = Sesame::Keyring.from_keyset("sesame-keyset/1;key id=7 status=primary created=1 raw=#{raw}")
  abort "keyset ids #{keyed.key_ids.inspect}" unless keyed.key_ids == [7] && keyed.primary_id == 7
  abort "token key id" unless Sesame.token_key_id(keyed.seal(user_id: 1)) == 7
  begin
    Sesame::Keyring.from_keyset("sesame-keyset/1\nkey id=1")
    abort "an invalid keyset loaded"
  rescue Sesame::InvalidKeyset => e
    abort "message #{e.message.inspect}" unless e.message.include?("line 2")
  end
  puts "   #{spec.full_name} (#{spec.platform}), libsesame #{Sesame.library_version} from #{path}: seal/open and keysets ok"
' || fail "the installed gem does not work"

echo "== README quick start (\`\`\`ruby quickstart)"
ruby -e '
  text = File.read(ARGV[0])
  blocks = text.scan(/^```ruby quickstart\n(.*?)^```$/m)
  abort "README.md must have exactly one ```ruby quickstart block, found #{blocks.size}" unless blocks.size == 1
  File.write(ARGV[1], blocks[0][0])
' "$here/README.md" "$outside/quickstart.rb" || fail "could not extract the quick start"
ruby -w quickstart.rb || fail "the README quick start exited with $?"

if ruby -e 'require "rack"' 2>/dev/null; then
  echo "== README config.ru through Rack"
  ruby -e '
    text = File.read(ARGV[0])
    blocks = text.scan(/^```ruby\n(# config\.ru\n.*?)^```$/m)
    abort "README.md must have one ```ruby block starting with # config.ru, found #{blocks.size}" unless blocks.size == 1
    File.write(ARGV[1], blocks[0][0])
  ' "$here/README.md" "$outside/config.ru" || fail "could not extract config.ru"
  raw="$(ruby -e 'require "securerandom"; print [SecureRandom.random_bytes(32)].pack("m0").tr("+/", "-_").delete("=")')"
  SESAME_KEYSET="sesame-keyset/1;key id=1 status=primary created=1 raw=$raw" ruby -e '
    require "rack"
    require "rack/mock"
    app = Rack::Builder.parse_file("config.ru")
    app = app.first if app.is_a?(Array) # rack 2 returns [app, options]
    req = Rack::MockRequest.new(app)
    jar = {}
    send = lambda do |method, path|
      env = jar.empty? ? {} : { "HTTP_COOKIE" => jar.map { |k, v| "#{k}=#{v}" }.join("; ") }
      res = req.request(method, "https://example.com#{path}", env)
      Array(res.headers["set-cookie"] || res.headers["Set-Cookie"]).flat_map { |v| v.split("\n") }.each do |line|
        name, value = line.split(";").first.split("=", 2)
        line.include?("Max-Age=0") ? jar.delete(name) : jar[name] = value
      end
      res
    end
    login = send.call("POST", "/login")
    abort "POST /login set #{jar.keys.inspect}" unless jar.keys.sort == jar.keys.grep(/\A__Host-sesame-(device|s-)/).sort && jar.size == 2
    abort "no no-store at /login: #{login.headers.inspect}" unless (login.headers["cache-control"] || login.headers["Cache-Control"]) == "private, no-store"
    abort "POST /login said #{login.body.inspect}" unless login.body == "user 42\n"
    me = send.call("GET", "/")
    abort "GET / with the cookies said #{me.body.inspect}" unless me.body == "user 42\n"
    abort "GET / without them said #{req.get("/").body.inspect}" unless req.get("/").body == "logged out\n"
    send.call("POST", "/logout")
    abort "after POST /logout: #{send.call("GET", "/").body.inspect}" unless send.call("GET", "/").body == "logged out\n"
    puts "   config.ru: login by POST, request with the cookies, without them, logout by POST ok"
  ' || fail "the README config.ru does not work"
else
  echo "== (rack not installed: README config.ru not checked)"
fi

echo "package-smoke: OK"
