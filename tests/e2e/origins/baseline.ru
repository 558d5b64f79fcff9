# frozen_string_literal: true

# BASELINE origin for tests/e2e: what the incident looked like. Rack's own
# cookie session (one constant cookie name, not bound to the browser,
# rewritten on every request: a visit counter) behind a cache that ignores
# Cache-Control and Set-Cookie. The harness must see swaps here.
#
#   puma -e production -b tcp://127.0.0.1:PORT -t 4:4 tests/e2e/origins/baseline.ru
require "rack"
require "rack/session/cookie"

SECRET = ENV.fetch("BASELINE_SECRET") { "e2e-baseline-" + ("x" * 64) }

use Rack::Session::Cookie, key: "rack.session", path: "/", secret: SECRET,
                           httponly: true, same_site: :lax, expire_after: 86_400

def whoami(session)
  session["user"] ? "user #{session["user"]}\n" : "anonymous\n"
end

def text(status, body, cache_control)
  [status, { "Content-Type" => "text/plain; charset=utf-8", "Cache-Control" => cache_control }, [body]]
end

run(lambda do |env|
  req = Rack::Request.new(env)
  session = env["rack.session"]
  case [req.request_method, req.path_info]
  when ["POST", "/login"]
    user = Integer(req.params["user"].to_s, 10, exception: false)
    next text(400, "bad request\n", "no-store") unless user&.positive?

    session.clear
    session["user"] = user
    session["visits"] = 0
    text(200, whoami(session), "no-store")
  when ["POST", "/logout"]
    session.clear
    text(200, "anonymous\n", "no-store")
  when ["GET", "/page"]
    session["visits"] = session["visits"].to_i + 1 # rewrites the cookie on every response
    text(200, whoami(session), "public, max-age=60")
  when ["GET", "/whoami"]
    session["visits"] = session["visits"].to_i + 1
    text(200, whoami(session), "no-store")
  when ["GET", "/metrics"]
    text(200, "sesame_detections_total 0\n", "no-store")
  else
    text(404, "not found\n", "no-store")
  end
end)
