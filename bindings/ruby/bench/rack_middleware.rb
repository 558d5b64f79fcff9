# frozen_string_literal: true

# What Sesame::Rack::Session adds to a request, against a bare app and
# against Rack::Session::Cookie, in one process:
#
#   ruby -Ilib bench/rack_middleware.rb          (from bindings/ruby, after make -C bindings/c lib)
#   ROUNDS=5 REQUESTS=20000 ruby -Ilib bench/rack_middleware.rb
#
# Every variant gets the same request: a GET with a valid session cookie
# that is not due for a refresh (the common case), called directly
# (app.call(env.dup)), no server and no Rack::MockRequest in the loop. The
# rounds interleave the variants; each row is the best round (µs per
# request), and "added" is that minus the bare app's best. Extra rows show
# the other sesame paths: an anonymous GET, and a GET whose session is due
# for a refresh on every request (an open, a seal and a Set-Cookie with the
# cache headers).
#
# Registry rows: the same valid-session GET through Sesame::Rack::Session
# with a Sesame::Registry, registry_check :on_refresh (no refresh due: no
# store call) and :every_request (one registry.check per request), on SQLite
# (a file in a temp dir, or SESAME_BENCH_SQLITE=path) and on Redis when
# SESAME_BENCH_REDIS=redis://... is set (scripts/bench-registry.sh starts
# one). "vs sesame" compares with the sesame row without a registry.
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sesame"
require "sesame/rack/session"
require "rack"
require "rack/session/cookie"
require "stringio"
require "tmpdir"
require "fileutils"

ROUNDS = Integer(ENV.fetch("ROUNDS", "5"))
REQUESTS = Integer(ENV.fetch("REQUESTS", "20000"))
HEADERS = { "content-type" => "text/plain" }.freeze
BODY = ["ok"].freeze

ENV_TEMPLATE = {
  "REQUEST_METHOD" => "GET", "PATH_INFO" => "/me", "SCRIPT_NAME" => "", "QUERY_STRING" => "",
  "SERVER_NAME" => "example.com", "SERVER_PORT" => "443", "HTTPS" => "on", "rack.url_scheme" => "https",
  "rack.input" => StringIO.new(""), "rack.errors" => $stderr
}.freeze

def env_with(cookie)
  cookie ? ENV_TEMPLATE.merge("HTTP_COOKIE" => cookie).freeze : ENV_TEMPLATE
end

# The Set-Cookie lines of a response as a Cookie header.
def cookie_header(headers)
  Array(headers["set-cookie"] || headers["Set-Cookie"]).flat_map { |v| v.split("\n") }
                                                       .map { |l| l.split(";").first }.join("; ")
end

bare = ->(_env) { [200, HEADERS.dup, BODY] }

# Rack::Session::Cookie (HMAC-signed Marshal, the Rack default store).
rack_app = ->(env) { env["rack.session"]["user_id"] ? [200, HEADERS.dup, BODY] : [403, HEADERS.dup, BODY] }
rack_cookie = Rack::Session::Cookie.new(rack_app, secret: "s" * 64, key: "rack.session")
rack_login_app = lambda do |env|
  env["rack.session"]["user_id"] = 42
  [200, {}, []]
end
rack_login = Rack::Session::Cookie.new(rack_login_app, secret: "s" * 64, key: "rack.session")
rack_env = env_with(cookie_header(rack_login.call(ENV_TEMPLATE.merge("REQUEST_METHOD" => "POST"))[1]))

# sesame.
ring = Sesame::Keyring.new.add_key(1, Sesame::Keyring.generate_key)
sesame_app = ->(env) { env["sesame.session"] ? [200, HEADERS.dup, BODY] : [403, HEADERS.dup, BODY] }
login_app = lambda do |env|
  env["sesame.auth"].login(42)
  [200, {}, []]
end
login = lambda do |policy, registry = nil|
  mw = Sesame::Rack::Session.new(login_app, keyring: ring, policy: policy, registry: registry)
  env_with(cookie_header(mw.call(ENV_TEMPLATE.merge("REQUEST_METHOD" => "POST"))[1]))
end
sesame = Sesame::Rack::Session.new(sesame_app, keyring: ring)
sesame_env = login.call(Sesame::Policy.default)
refreshing_policy = Sesame::Policy.new(refresh_after: 0)
sesame_refresh = Sesame::Rack::Session.new(sesame_app, keyring: ring, policy: refreshing_policy)
refresh_env = login.call(refreshing_policy)

variants = [
  ["bare app", bare, sesame_env, 200],
  ["Rack::Session::Cookie, valid session", rack_cookie, rack_env, 200],
  ["Sesame::Rack::Session, valid session, no refresh", sesame, sesame_env, 200],
  ["Sesame::Rack::Session, anonymous GET", sesame, ENV_TEMPLATE, 403],
  ["Sesame::Rack::Session, refresh on every GET", sesame_refresh, refresh_env, 200]
]
sqlite_dir = Dir.mktmpdir("sesame-bench")
at_exit { FileUtils.rm_rf(sqlite_dir) }
stores = [["SQLite", "sqlite://#{ENV.fetch("SESAME_BENCH_SQLITE", File.join(sqlite_dir, "registry.db"))}"]]
if (redis = ENV["SESAME_BENCH_REDIS"])
  stores << ["Redis", redis]
else
  warn "SESAME_BENCH_REDIS not set: no Redis rows (scripts/bench-registry.sh starts a redis-server)"
end
stores.each do |store, url|
  registry = Sesame::Registry.new(url)
  env = login.call(Sesame::Policy.default, registry)
  %i[on_refresh every_request].each do |mode|
    mw = Sesame::Rack::Session.new(sesame_app, keyring: ring, registry: registry, registry_check: mode)
    variants << ["Sesame::Rack::Session + #{store} registry, #{mode}, valid session", mw, env, 200]
  end
end

variants.each do |name, app, env, status|
  got = app.call(env.dup)[0]
  abort "#{name}: status #{got}, expected #{status}" unless got == status
end
set = sesame_refresh.call(refresh_env.dup)[1]
abort "the refresh variant did not refresh" unless cookie_header(set).start_with?("__Host-sesame-s-")
abort "the no-refresh variant set a cookie" unless cookie_header(sesame.call(sesame_env.dup)[1]).empty?

best = Hash.new(Float::INFINITY)
allocations = {}
ROUNDS.times do
  variants.each do |name, app, env|
    GC.start
    objects = GC.stat(:total_allocated_objects)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    REQUESTS.times { app.call(env.dup) }
    us = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0) * 1e6 / REQUESTS
    allocations[name] = (GC.stat(:total_allocated_objects) - objects).fdiv(REQUESTS)
    best[name] = us if us < best[name]
  end
end

base = best["bare app"]
puts "Ruby #{RUBY_VERSION}, rack #{Rack.release}, ffi #{FFI::VERSION}, libsesame #{Sesame.library_version}; " \
     "best of #{ROUNDS} x #{REQUESTS} requests"
puts
sesame_best = best["Sesame::Rack::Session, valid session, no refresh"]
puts "| variant | µs/request | requests/s | added over bare app (µs) | vs sesame without registry | objects/request |"
puts "|---|---:|---:|---:|---:|---:|"
variants.each do |name, *|
  added = name == "bare app" ? "-" : format("%.2f", best[name] - base)
  versus = name.include?("registry") ? format("%+.1f%%", (best[name] / sesame_best - 1) * 100) : "-"
  puts format("| %s | %.2f | %.0f | %s | %s | %.1f |", name, best[name], 1e6 / best[name], added, versus,
              allocations[name])
end
