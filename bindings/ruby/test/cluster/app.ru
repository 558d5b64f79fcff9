# frozen_string_literal: true

# The app of the Puma cluster test (cluster_test.rb): Sesame::Rack::Session
# with a registry, loaded once in Puma's master (preload_app!) and forked
# into the workers. One keyring and one Sesame::Registry (opened by the
# middleware from the store's URL, and used, in the master before the fork);
# four middleware stacks over them, chosen per request by the X-Mode header:
#
#   every    registry_check: :every_request (fail closed)
#   open     registry_check: :every_request, registry_fail_open: true
#   refresh  registry_check: :on_refresh with refresh_after 0 (every request
#            refreshes, so each one is a registry.refresh)
#   lazy     registry_check: :on_refresh, the default policy (no refresh due)
#
# Needs SESAME_LIB and SESAME_REGISTRY_URL; SESAME_TEST_KEY is the key
# (hex) every process shares.
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "logger"
require "rack"
require "sesame"
require "sesame/rack/session"

KEYRING = Sesame::Keyring.new.add_key(1, [ENV.fetch("SESAME_TEST_KEY")].pack("H*"))
LOGGER = Logger.new($stderr, level: Logger::WARN)

def text(status, body)
  [status, { "content-type" => "text/plain", "cache-control" => "no-store", "x-worker" => Process.pid.to_s }, [body]]
end

APP = lambda do |env|
  req = Rack::Request.new(env)
  auth = env["sesame.auth"]
  session = env["sesame.session"]
  case [req.request_method, req.path_info]
  when ["POST", "/login"]
    auth.login(Integer(req.params.fetch("user"), 10))
    text(200, "user #{req.params["user"]}")
  when ["POST", "/logout"]
    auth.logout
    text(200, "anonymous")
  when ["POST", "/logout_others"]
    text(200, "ended #{auth.logout_others.inspect}")
  when ["GET", "/me"]
    text(200, session ? "user #{session.user_id}" : "anonymous")
  when ["GET", "/fds"]
    # This process's open descriptors of the registry's SQLite file.
    db = ENV.fetch("SESAME_REGISTRY_URL")[%r{\Asqlite://([^?]+)}, 1].to_s
    fds = Dir.glob("/proc/self/fd/*").count { |fd| (File.readlink(fd) rescue nil) == db }
    text(200, fds.to_s)
  else
    text(404, "not found")
  end
end

# The middleware given the store's URL opens the registry itself (here, in
# the master); the other stacks share that one Sesame::Registry.
EVERY = Sesame::Rack::Session.new(APP, keyring: KEYRING, registry: ENV.fetch("SESAME_REGISTRY_URL"),
                                       registry_check: :every_request, logger: LOGGER)
REGISTRY = EVERY.registry
# Used in the master: the connection the workers inherit is a live one.
REGISTRY.prune
REGISTRY.list(1)

STACKS = {
  "every" => EVERY,
  "open" => Sesame::Rack::Session.new(APP, keyring: KEYRING, registry: REGISTRY, registry_check: :every_request,
                                           registry_fail_open: true, logger: LOGGER),
  "refresh" => Sesame::Rack::Session.new(APP, keyring: KEYRING, registry: REGISTRY, registry_check: :on_refresh,
                                              policy: Sesame::Policy.new(refresh_after: 0), logger: LOGGER),
  "lazy" => Sesame::Rack::Session.new(APP, keyring: KEYRING, registry: REGISTRY, registry_check: :on_refresh,
                                           logger: LOGGER)
}.freeze

run(->(env) { STACKS.fetch(env["HTTP_X_MODE"] || "every").call(env) })
