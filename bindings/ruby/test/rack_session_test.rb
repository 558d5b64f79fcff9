# frozen_string_literal: true

require_relative "test_helper"
require "rack"
require "rack/mock"
require "rack/lint"
require "logger"
require "stringio"
require "sesame/rack/session"

# Sesame::Rack::Session driven end to end through Rack::MockRequest (and
# Rack::Lint on both sides of the middleware).
class RackSessionTest < Minitest::Test
  include SesameTestHelper

  APP_CACHE_CONTROL = "public, max-age=60"

  class Clock
    attr_accessor :now

    def initialize(now)
      @now = now
    end

    def advance(seconds)
      @now += seconds
    end
  end

  # A browser: a cookie jar over Rack::MockRequest. Every response it sees is
  # checked: a response that sets or clears a cookie of the middleware has
  # exactly "Cache-Control: private, no-store"; any other keeps the app's.
  class Browser
    attr_reader :cookies, :last

    def initialize(test, app)
      @test = test
      @app = app
      @cookies = {}
    end

    def get(path)
      env = { "HTTP_COOKIE" => @cookies.map { |k, v| "#{k}=#{v}" }.join("; ") }
      env.delete("HTTP_COOKIE") if @cookies.empty?
      @last = ::Rack::MockRequest.new(@app).get("https://example.com#{path}", env)
      set_cookies.each do |line|
        name, value = line.split(";").first.split("=", 2)
        if line.include?("Max-Age=0")
          @cookies.delete(name)
        else
          @cookies[name] = value
        end
      end
      check_cache_control
      @last
    end

    def body
      @last.body
    end

    def set_cookies
      Array(@last.headers["Set-Cookie"]).flat_map { |v| v.split("\n") }
    end

    def session_cookie_line
      set_cookies.find { |l| l.start_with?("sesame=") }
    end

    def check_cache_control
      if set_cookies.any? { |l| l.start_with?("sesame=", "sesame_device=") }
        @test.assert_equal "private, no-store", @last.headers["Cache-Control"], "Set-Cookie without no-store"
      else
        @test.assert_equal APP_CACHE_CONTROL, @last.headers["Cache-Control"], "Cache-Control changed without Set-Cookie"
      end
      @test.assert_equal 1, @last.headers.keys.count { |k| k.casecmp?("cache-control") }
    end
  end

  APP = lambda do |env|
    req = ::Rack::Request.new(env)
    sesame = env["sesame.auth"]
    text =
      case req.path_info
      when "/login"
        data = req.params["data"]
        s = sesame.login(Integer(req.params["user"]), data: data, remember_me: req.params["remember"] == "1")
        "logged in #{s.user_id}"
      when "/logout"
        sesame.logout
        "bye"
      when "/logout_everywhere"
        "cutoff #{sesame.logout_everywhere.to_i}"
      when "/boom"
        raise "the app failed"
      else
        s = env["sesame.session"]
        s ? "user=#{s.user_id} data=#{s.data}" : "anonymous"
      end
    [200, { "Content-Type" => "text/plain", "Cache-Control" => APP_CACHE_CONTROL }, [text]]
  end

  def setup
    @clock = Clock.new(NOW)
    @log = StringIO.new
    @ring = ring_with(1)
    @cutoffs = {}
    @denied = []
  end

  def app(**options)
    defaults = {
      keyring: @ring,
      logger: Logger.new(@log),
      clock: -> { @clock.now },
      revoked_before: ->(user_id) { @cutoffs[user_id] },
      on_logout_everywhere: ->(user_id, at) { @cutoffs[user_id] = at }
    }
    middleware = Sesame::Rack::Session.new(::Rack::Lint.new(APP), **defaults, **options)
    ::Rack::Lint.new(middleware)
  end

  def browser(**options)
    Browser.new(self, app(**options))
  end

  def test_anonymous_request_is_untouched
    b = browser
    b.get("/")
    assert_equal "anonymous", b.body
    assert_empty b.set_cookies
    assert_equal APP_CACHE_CONTROL, b.last.headers["Cache-Control"]
    assert_nil b.last.headers["Vary"]
  end

  def test_login_request_logout
    b = browser
    b.get("/login?user=42")
    assert_equal "logged in 42", b.body
    line = b.session_cookie_line
    assert_match(/\Asesame=[A-Za-z0-9_-]{80,99}; Path=\/; Secure; HttpOnly; SameSite=Lax\z/, line)
    refute_includes line, "Max-Age" # a browser-session cookie
    assert_equal "private, no-store", b.last.headers["Cache-Control"]
    assert_equal "Cookie", b.last.headers["Vary"]

    @clock.advance(60)
    b.get("/me")
    assert_equal "user=42 data=", b.body
    assert_empty b.set_cookies # not due for a refresh: nothing set, app's Cache-Control kept
    assert_equal "Cookie", b.last.headers["Vary"]

    b.get("/logout")
    assert_equal "bye", b.body
    assert_match(/\Asesame=; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970/, b.session_cookie_line)
    assert_equal "private, no-store", b.last.headers["Cache-Control"]
    b.get("/me")
    assert_equal "anonymous", b.body
  end

  def test_login_with_data_and_remember_me
    b = browser
    b.get("/login?user=7&data=role%3Dadmin&remember=1")
    assert_match(/; Max-Age=1209600\z/, b.session_cookie_line) # the policy's absolute lifetime
    b.get("/me")
    assert_equal "user=7 data=role=admin", b.body
    @clock.advance(1000) # due for a refresh: Max-Age counts down from login
    b.get("/me")
    assert_match(/; Max-Age=#{1_209_600 - 1000}\z/, b.session_cookie_line)
  end

  def test_refresh_when_due
    b = browser
    b.get("/login?user=5")
    first = b.cookies["sesame"]
    @clock.advance(899)
    b.get("/me")
    assert_empty b.set_cookies
    @clock.advance(1) # 900 s: the default refresh_after
    b.get("/me")
    assert_equal "user=5 data=", b.body
    refute_equal first, b.cookies["sesame"]
    assert_equal "private, no-store", b.last.headers["Cache-Control"]
    s = @ring.open(b.cookies["sesame"], now: @clock.now)
    assert_equal NOW, s.issued_at_i
    assert_equal NOW + 900, s.refreshed_at_i
    assert_equal @ring.open(first, now: @clock.now).session_id, s.session_id
  end

  def test_idle_expiry
    b = browser
    b.get("/login?user=5")
    @clock.advance(86_400)
    b.get("/me")
    assert_equal 200, b.last.status
    assert_equal "anonymous", b.body
    assert_match(/\Asesame=;.*Max-Age=0/, b.session_cookie_line)
    assert_nil b.cookies["sesame"]
    assert_includes @log.string, "Sesame::IdleExpired"
  end

  def test_absolute_expiry_despite_refreshes
    policy = Sesame::Policy.new(idle_timeout: 100, absolute_lifetime: 1000, refresh_after: 30)
    b = browser(policy: policy)
    b.get("/login?user=5")
    refreshes = 0
    loop do
      @clock.advance(50)
      b.get("/me")
      break if b.body == "anonymous"

      refreshes += 1 if b.session_cookie_line
    end
    assert_equal NOW + 1000, @clock.now
    assert_equal 19, refreshes
    assert_includes @log.string, "Sesame::LifetimeExpired"
    assert_equal "private, no-store", b.last.headers["Cache-Control"]
  end

  def test_bad_cookies_mean_no_session_never_an_error
    b = browser
    b.get("/login?user=5")
    good = b.cookies["sesame"]
    tampered = good.dup
    tampered[20] = tampered[20] == "A" ? "B" : "A"
    {
      tampered => "Sesame::AuthFailed",
      "garbage" => "Sesame::Malformed",
      "A" * 400 => "Sesame::TooLong",
      ring_with(9).seal(user_id: 5, now: NOW) => "Sesame::UnknownKey"
    }.each do |cookie, error|
      b.cookies["sesame"] = cookie
      b.get("/me")
      assert_equal 200, b.last.status
      assert_equal "anonymous", b.body
      assert_match(/\Asesame=;.*Max-Age=0/, b.session_cookie_line)
      assert_equal "private, no-store", b.last.headers["Cache-Control"]
      assert_includes @log.string, error
      refute_includes @log.string, cookie
    end
  end

  def test_a_failed_refresh_keeps_the_session_and_is_logged
    ring = Sesame::Keyring.new.add_key(1, KEY).add_key(2, Sesame::Keyring.generate_key).promote(2)
    b = browser(keyring: ring)
    b.get("/login?user=6") # sealed under key 2
    ring.promote(1).retire(1) # a botched rotation: key 2 still opens, but nothing can seal
    assert_nil ring.primary_id
    @clock.advance(900)
    b.get("/me")
    assert_equal "user=6 data=", b.body
    assert_empty b.set_cookies
    assert_includes @log.string, "could not refresh a valid session: Sesame::NoPrimaryKey"
  end

  def test_app_errors_propagate_without_cookie_changes
    b = browser
    b.get("/login?user=5")
    assert_raises(RuntimeError) { b.get("/boom") }
  end

  def test_device_binding
    alice = browser(bind_to_device: true)
    alice.get("/login?user=1")
    lines = alice.set_cookies
    assert_equal 2, lines.size
    assert_match(/\Asesame_device=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=34560000\z/,
                 lines.find { |l| l.start_with?("sesame_device=") })
    assert_equal "private, no-store", alice.last.headers["Cache-Control"]
    alice.get("/me")
    assert_equal "user=1 data=", alice.body
    device = alice.cookies["sesame_device"]
    token = alice.cookies["sesame"]
    assert_raises(Sesame::AuthFailed) { @ring.open(token, now: NOW) } # bound: opens only with the device context
    assert_equal 1, @ring.open(token, context: Digest::SHA256.digest(device), now: NOW).user_id

    # Bob has his own device cookie; Alice's session cookie in his browser is rejected.
    bob = browser(bind_to_device: true)
    bob.get("/login?user=2")
    bob_device = bob.cookies["sesame_device"]
    refute_equal device, bob_device
    bob.cookies["sesame"] = token
    bob.get("/me")
    assert_equal "anonymous", bob.body
    assert_match(/\Asesame=;.*Max-Age=0/, bob.session_cookie_line)
    assert_includes @log.string, "Sesame::AuthFailed"
    assert_equal bob_device, bob.cookies["sesame_device"] # Bob keeps his device cookie
    assert_equal 1, bob.set_cookies.size # only the session cookie is cleared

    # A browser with no device cookie at all: rejected too.
    eve = browser(bind_to_device: true)
    eve.cookies["sesame"] = token
    eve.get("/me")
    assert_equal "anonymous", eve.body
    assert_includes @log.string, "without a valid device cookie"

    # Alice is unaffected, and a refresh keeps the binding and renews the device cookie.
    @clock.advance(900)
    alice.get("/me")
    assert_equal "user=1 data=", alice.body
    assert_equal device, alice.cookies["sesame_device"]
    assert alice.set_cookies.any? { |l| l.start_with?("sesame_device=#{device};") }

    # Logging in again reuses the device cookie.
    alice.get("/login?user=1")
    assert_equal device, alice.cookies["sesame_device"]
  end

  def test_unbound_session_cookie_rejected_when_binding_is_on
    b = browser(bind_to_device: true)
    b.get("/login?user=1")
    b.cookies["sesame"] = @ring.seal(user_id: 1, now: NOW) # sealed without a device context
    b.get("/me")
    assert_equal "anonymous", b.body
  end

  def test_logout_everywhere
    laptop = browser
    phone = browser
    laptop.get("/login?user=8")
    phone.get("/login?user=8")
    other_user = browser
    other_user.get("/login?user=9")
    @clock.advance(10)

    phone.get("/logout_everywhere")
    assert_equal "cutoff #{NOW + 10}", phone.body
    assert_equal Time.at(NOW + 10), @cutoffs[8]
    assert_match(/\Asesame=;.*Max-Age=0/, phone.session_cookie_line)

    laptop.get("/me")
    assert_equal "anonymous", laptop.body
    assert_includes @log.string, "Sesame::Revoked"
    other_user.get("/me")
    assert_equal "user=9 data=", other_user.body

    # A login in the same second as the cut-off is not revoked.
    laptop.get("/login?user=8")
    laptop.get("/me")
    assert_equal "user=8 data=", laptop.body
  end

  # The first seed: a copy of the cookie replayed after logout. Stateless
  # tokens stay valid until they expire, unless the app deny-lists the session.
  def test_replay_after_logout
    b = browser
    b.get("/login?user=3")
    stolen = b.cookies["sesame"]
    b.get("/logout")
    thief = browser
    thief.cookies["sesame"] = stolen
    thief.get("/me")
    assert_equal "user=3 data=", thief.body, "documented: logout alone only deletes this browser's cookie"

    denylist = []
    b = browser(on_logout: ->(s) { denylist << s.session_id }, session_revoked: ->(s) { denylist.include?(s.session_id) })
    b.get("/login?user=3")
    stolen = b.cookies["sesame"]
    b.get("/logout")
    assert_equal 1, denylist.size
    thief = browser(on_logout: ->(_) {}, session_revoked: ->(s) { denylist.include?(s.session_id) })
    thief.cookies["sesame"] = stolen
    thief.get("/me")
    assert_equal "anonymous", thief.body
  end

  # The second seed: two users hammering the same path from several threads,
  # with a refresh on every request so every response carries a Set-Cookie.
  # Each response must name the user whose cookie was sent, and any cookie it
  # sets must belong to that user; every one must be private, no-store.
  def test_two_users_many_threads_no_cross_user_responses
    policy = Sesame::Policy.new(refresh_after: 0)
    shared_app = app(policy: policy, bind_to_device: true)
    users = [1001, 2002].to_h do |uid|
      b = Browser.new(self, shared_app)
      b.get("/login?user=#{uid}")
      [uid, b.cookies.dup]
    end
    cross = Queue.new
    threads = Array.new(4) do |t|
      Thread.new do
        local = Hash.new(0)
        200.times do |i|
          uid = users.keys[(i + t) % 2]
          cookies = users[uid]
          env = { "HTTP_COOKIE" => cookies.map { |k, v| "#{k}=#{v}" }.join("; ") }
          res = ::Rack::MockRequest.new(shared_app).get("https://example.com/me", env)
          cross << [uid, res.body] unless res.body == "user=#{uid} data="
          line = Array(res.headers["Set-Cookie"]).join("\n").split("\n").find { |l| l.start_with?("sesame=") }
          if line
            token = line.split(";").first.split("=", 2).last
            context = Digest::SHA256.digest(cookies["sesame_device"])
            owner = @ring.open(token, context: context, now: @clock.now, policy: policy).user_id
            cross << [uid, "cookie for #{owner}"] unless owner == uid
            cross << [uid, "no no-store"] unless res.headers["Cache-Control"] == "private, no-store"
            local[:set] += 1
          end
          local[:ok] += 1
        end
        local
      end
    end
    totals = threads.map(&:value)
    failures = []
    failures << cross.pop until cross.empty?
    assert_empty failures, "cross-user responses: #{failures.first(5).inspect}"
    assert_equal 800, totals.sum { |h| h[:ok] }
    assert_equal 800, totals.sum { |h| h[:set] }
  end

  def test_existing_headers_are_merged
    inner = lambda do |env|
      env["sesame.auth"].login(1)
      [200, { "Content-Type" => "text/plain", "cache-control" => "public", "Set-Cookie" => "theme=dark",
              "Vary" => "Accept-Encoding" }, ["ok"]]
    end
    res = ::Rack::MockRequest.new(Sesame::Rack::Session.new(inner, keyring: @ring, clock: -> { NOW })).get("/")
    assert_equal "private, no-store", res.headers["Cache-Control"]
    assert_equal 1, res.headers.keys.count { |k| k.casecmp?("cache-control") }
    assert_equal "Accept-Encoding, Cookie", res.headers["Vary"]
    lines = res.headers["Set-Cookie"].split("\n")
    assert_equal "theme=dark", lines.first
    assert lines.last.start_with?("sesame=")
  end

  def test_options
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: "nope") }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, policy: {}) }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, revoked_before: 5) }
    b = browser(cookie_name: "__Host-sid", secure: true, same_site: "Strict", remember_for: 3600)
    res = ::Rack::MockRequest.new(b.instance_variable_get(:@app)).get("https://example.com/login?user=1&remember=1")
    assert_match(/\A__Host-sid=\S+; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600\z/, res.headers["Set-Cookie"])
  end
end
