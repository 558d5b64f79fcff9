# frozen_string_literal: true

# sesame's Rack middleware behind the e2e cache (tests/e2e/run.py --origins all).
# Written against the rewritten middleware (cookie rules from the core):
#   use Sesame::Rack::Session, keyring:, policy:
#   env["sesame.auth"].login(user_id) / .logout, env["sesame.session"]
# Needs SESAME_KEYSET (a keyset's text) and SESAME_LIB (libsesame.so) or a
# checkout build; SESAME_REFRESH_AFTER (default 1 s) makes GETs refresh.
# SESAME_REGISTRY_URL (unset by default: stateless tokens, as before) gives the
# middleware a Sesame::Registry (e.g. sqlite:///tmp/e2e-sessions.db), checked
# as SESAME_REGISTRY_CHECK says (on_refresh, the default, or every_request).
#
#   puma -e production -b tcp://127.0.0.1:PORT -t 4:4 tests/e2e/origins/rack_sesame.ru
$LOAD_PATH.unshift File.expand_path("../../../bindings/ruby/lib", __dir__)
require "logger"
require "rack"
require "sesame"
require "sesame/rack/session" unless defined?(Sesame::Rack::Session)

REFRESH_AFTER = Integer(ENV.fetch("SESAME_REFRESH_AFTER", "1"), 10)
LOGGER = Logger.new($stderr)

REGISTRY = (url = ENV["SESAME_REGISTRY_URL"].to_s).empty? ? nil : Sesame::Registry.new(url)
REGISTRY_CHECK = ENV.fetch("SESAME_REGISTRY_CHECK", "on_refresh").to_sym

use Sesame::Rack::Session, keyring: Sesame::Keyring.from_env,
                           policy: Sesame::Policy.new(refresh_after: REFRESH_AFTER),
                           logger: LOGGER, registry: REGISTRY, registry_check: REGISTRY_CHECK

def whoami(session)
  session ? "user #{session.user_id}\n" : "anonymous\n"
end

def text(status, body, cache_control)
  [status, { "Content-Type" => "text/plain; charset=utf-8", "Cache-Control" => cache_control }, [body]]
end

# The detection counter, when the middleware exposes one; -1 tells the
# harness to count the detection lines in the log instead.
def detections(env)
  counter = env["sesame.detections"]
  counter = counter.call if counter.respond_to?(:call)
  counter.is_a?(Integer) ? counter : -1
end

run(lambda do |env|
  req = Rack::Request.new(env)
  auth = env["sesame.auth"]
  case [req.request_method, req.path_info]
  when ["POST", "/login"]
    user = Integer(req.params["user"].to_s, 10, exception: false)
    next text(400, "bad request\n", "no-store") unless user&.positive?

    auth.login(user)
    text(200, "user #{user}\n", "no-store")
  when ["POST", "/logout"]
    auth.logout
    text(200, "anonymous\n", "no-store")
  when ["GET", "/page"]
    text(200, whoami(env["sesame.session"]), "public, max-age=60")
  when ["GET", "/whoami"]
    text(200, whoami(env["sesame.session"]), "no-store")
  when ["GET", "/metrics"]
    text(200, "sesame_detections_total #{detections(env)}\n", "no-store")
  else
    text(404, "not found\n", "no-store")
  end
end)
