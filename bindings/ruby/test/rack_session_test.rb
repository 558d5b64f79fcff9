# frozen_string_literal: true

require_relative "test_helper"
require "rack"
require "rack/mock"
require "rack/lint"
require "logger"
require "stringio"
require "sesame/rack/session"

# Sesame::Rack::Session driven end to end through Rack::MockRequest (and
# Rack::Lint on both sides of the middleware), with browsers that keep a
# cookie jar the way a browser does (Max-Age=0 deletes).
class RackSessionTest < Minitest::Test
  include SesameTestHelper

  APP_CACHE_CONTROL = "public, max-age=60"
  DEVICE = "__Host-sesame-device"
  PREFIX = "__Host-sesame-s-"
  CACHE_HEADERS = {
    "Cache-Control" => "private, no-store",
    "Expires" => "Thu, 01 Jan 1970 00:00:00 GMT",
    "Pragma" => "no-cache",
    "Surrogate-Control" => "no-store",
    "CDN-Cache-Control" => "no-store",
    "Cloudflare-CDN-Cache-Control" => "no-store",
    "X-Accel-Expires" => "0",
    "Vary" => "Cookie"
  }.freeze

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
  # checked against the rules: one that sets or deletes a cookie carries all
  # the cache headers; any other keeps the app's Cache-Control; a GET/HEAD
  # response never sets the device cookie nor deletes a cookie.
  class Browser
    attr_reader :cookies, :last
    attr_accessor :get_login_caveat # expect the device cookie on a GET login

    def initialize(test, app)
      @test = test
      @app = app
      @cookies = {}
    end

    def get(path)
      request("GET", path)
    end

    def post(path)
      request("POST", path)
    end

    def request(method, path)
      env = { method: method }
      env["HTTP_COOKIE"] = cookie_header unless @cookies.empty?
      @last = ::Rack::MockRequest.new(@app).request(method, "https://example.com#{path}", env)
      check(method)
      apply(@last)
      @last
    end

    def cookie_header
      @cookies.map { |k, v| "#{k}=#{v}" }.join("; ")
    end

    # Stores a response's Set-Cookie lines, as a browser (or a shared
    # cache replaying the response to it) does.
    def apply(response)
      Browser.set_cookies(response).each do |line|
        name, value = line.split(";").first.split("=", 2)
        if line.include?("Max-Age=0")
          @cookies.delete(name)
        else
          @cookies[name] = value
        end
      end
    end

    def self.set_cookies(response)
      Array(response.headers["Set-Cookie"]).flat_map { |v| v.split("\n") }
    end

    def set_cookies
      Browser.set_cookies(@last)
    end

    def body
      @last.body
    end

    def session_names
      @cookies.keys.select { |k| k.start_with?(PREFIX) }
    end

    def device
      @cookies[DEVICE]
    end

    def check(method)
      headers = @last.headers
      if set_cookies.empty?
        @test.assert_equal APP_CACHE_CONTROL, headers["Cache-Control"], "Cache-Control changed without Set-Cookie"
      else
        CACHE_HEADERS.each { |name, value| @test.assert_equal value, headers[name], "#{name} with Set-Cookie" }
      end
      @test.assert_equal 1, headers.keys.count { |k| k.casecmp?("cache-control") }
      return unless %w[GET HEAD].include?(method)

      unless @get_login_caveat
        @test.assert(set_cookies.none? { |l| l.start_with?("#{DEVICE}=") }, "a GET response set the device cookie")
      end
      @test.assert(set_cookies.none? { |l| l.include?("Max-Age=0") }, "a GET response deleted a cookie")
    end
  end

  APP = lambda do |env|
    req = ::Rack::Request.new(env)
    sesame = env["sesame.auth"]
    text =
      case req.path_info
      when "/login"
        s = sesame.login(Integer(req.params["user"]), data: req.params["data"], remember_me: req.params["remember"] == "1")
        "logged in #{s.user_id}"
      when "/logout"
        sesame.logout
        "bye"
      when "/logout_everywhere"
        "cutoff #{sesame.logout_everywhere.to_i}"
      when "/boom"
        raise "the app failed"
      when "/form"
        sesame.csrf_token.to_s
      when "/submit"
        sesame.csrf_allowed?(req.params["csrf"]) ? "accepted" : "refused"
      when "/login_and_form"
        sesame.login(Integer(req.params["user"]))
        sesame.csrf_token.to_s
      else
        s = env["sesame.session"]
        s ? "user=#{s.user_id} data=#{s.data}" : "anonymous"
      end
    [200, { "Content-Type" => "text/plain", "Cache-Control" => APP_CACHE_CONTROL }, req.head? ? [] : [text]]
  end

  def setup
    Sesame::Rack::Session.reset_warnings!
    @clock = Clock.new(NOW)
    @log = StringIO.new
    @ring = ring_with(1)
    @cutoffs = {}
    @detections = []
  end

  def middleware(**options)
    defaults = {
      keyring: @ring,
      logger: Logger.new(@log),
      clock: -> { @clock.now },
      revoked_before: ->(user_id) { @cutoffs[user_id] },
      on_logout_everywhere: ->(user_id, at) { @cutoffs[user_id] = at },
      on_detection: ->(foreign) { @detections << foreign }
    }
    Sesame::Rack::Session.new(::Rack::Lint.new(APP), **defaults, **options)
  end

  def app(**options)
    ::Rack::Lint.new(middleware(**options))
  end

  def browser(app = nil, **options)
    Browser.new(self, app || self.app(**options))
  end

  def warnings
    @log.string.lines.grep(/\AW, /)
  end

  def test_anonymous_get_is_untouched
    b = browser
    b.get("/")
    assert_equal "anonymous", b.body
    assert_empty b.set_cookies
    assert_nil b.last.headers["Vary"]
  end

  def test_anonymous_post_gets_a_device_cookie_only
    b = browser
    b.post("/")
    assert_equal "anonymous", b.body
    assert_equal 1, b.set_cookies.size
    assert_match(/\A#{DEVICE}=[A-Za-z0-9_-]{22}; Max-Age=34560000; Path=\/; Secure; HttpOnly; SameSite=Lax\z/o,
                 b.set_cookies.first)
  end

  def test_login_by_post_sets_device_and_session_cookies_and_cache_headers
    b = browser
    b.post("/login?user=5")
    assert_equal "logged in 5", b.body
    assert_equal 2, b.set_cookies.size
    assert b.set_cookies[0].start_with?("#{DEVICE}=")
    assert_match(/\A#{PREFIX}[A-Za-z0-9_-]{11}=[A-Za-z0-9_-]+; Max-Age=86400; Path=\/; Secure; HttpOnly; SameSite=Lax\z/o,
                 b.set_cookies[1])
    assert_equal 1, b.session_names.size
    b.get("/me")
    assert_equal "user=5 data=", b.body
    assert_empty b.set_cookies, "a valid session that is not due sets nothing"
    assert_equal APP_CACHE_CONTROL, b.last.headers["Cache-Control"]
  end

  def test_login_with_data_and_remember_me
    b = browser(remember_for: 3600)
    b.post("/login?user=6&data=theme%3Ddark&remember=1")
    b.get("/me")
    assert_equal "user=6 data=theme=dark", b.body
    session = nil
    inner = lambda do |env|
      session = env["sesame.session"]
      [200, {}, []]
    end
    ::Rack::MockRequest.new(Sesame::Rack::Session.new(inner, keyring: @ring, clock: -> { @clock.now }))
                       .get("/", "HTTP_COOKIE" => b.cookie_header)
    assert_equal 3600, session.lifetime
    assert session.remember_me?
  end

  def test_remember_me_outlives_the_browser_idle_timeout_and_its_cookie_lasts
    b = browser
    b.post("/login?user=6&remember=1")
    set = b.last.headers["set-cookie"] || b.last.headers["Set-Cookie"]
    session_line = Array(set).join("\n").lines.find { |l| l.include?("__Host-sesame-s-") }
    assert_includes session_line, "Max-Age=2592000", "a remember-me cookie lives the remember-me lifetime"
    @clock.advance(3 * 86_400) # past the browser idle timeout
    b.get("/me")
    assert_equal "user=6 data=", b.body
    plain = browser
    plain.post("/login?user=7")
    @clock.advance(3 * 86_400)
    plain.get("/me")
    assert_equal "anonymous", plain.body
  end

  def test_csrf_tokens_come_from_the_device
    a = browser
    b = browser
    assert_equal "", a.get("/form").body, "no device yet: no token"
    assert_equal "accepted", a.post("/submit").body, "a first visit without browser headers passes the origin rule"
    token = a.get("/form").body
    assert_equal 86, token.bytesize
    assert_equal "accepted", a.post("/submit?csrf=#{token}").body
    refute_equal token, a.get("/form").body, "a fresh mask every time"
    assert_equal "refused", a.post("/submit").body, "a device's POST needs its token"
    b.post("/submit")
    assert_equal "refused", b.post("/submit?csrf=#{token}").body, "another browser's token"
    # A form rendered in the login's own response carries the new device's token.
    after_login = a.post("/login_and_form?user=3").body
    assert_equal "accepted", a.post("/submit?csrf=#{after_login}").body
    assert_equal "refused", a.post("/submit?csrf=#{token}").body, "the old device's token"
  end

  def test_get_refresh_sets_only_the_session_cookie
    b = browser(policy: Sesame::Policy.new(refresh_after: 60))
    b.post("/login?user=5")
    name = b.session_names.first
    old = b.cookies[name]
    device = b.device
    @clock.advance(120)
    b.get("/me")
    assert_equal "user=5 data=", b.body
    assert_equal 1, b.set_cookies.size, b.set_cookies.inspect
    assert b.set_cookies.first.start_with?("#{name}="), "the refresh is under the browser's own name"
    refute_equal old, b.cookies[name]
    assert_equal device, b.device
    assert_equal [name], b.session_names
  end

  # The incident: a shared cache replays Alice's refresh (a GET response
  # with her Set-Cookie) to Bob.
  def test_replayed_foreign_refresh_cookie_is_inert_and_detected
    rules = Sesame::CookieRules.new(policy: Sesame::Policy.new(refresh_after: 60))
    shared = app(rules: rules)
    alice = browser(shared)
    bob = browser(shared)
    alice.post("/login?user=1")
    bob.post("/login?user=2")
    @clock.advance(120)
    refresh = alice.get("/me")
    alice_token = alice.cookies[alice.session_names.first]
    assert_equal 1, Browser.set_cookies(refresh).size

    bob.apply(refresh) # the cache's replay
    assert_equal 2, bob.session_names.size
    bob.get("/me")
    assert_equal "user=2 data=", bob.body, "Bob stays Bob"
    assert bob.set_cookies.none? { |l| l.start_with?("#{alice.session_names.first}=") }
    assert_equal [1], @detections
    assert_equal 1, rules.detections
    assert_equal 1, warnings.size, @log.string
    refute_includes @log.string, alice_token

    # Counted every time, logged at most once a minute.
    bob.get("/me")
    assert_equal [1, 1], @detections
    assert_equal 2, rules.detections
    assert_equal 1, warnings.size

    # Bob's next POST deletes the foreign cookie and keeps his session.
    bob.post("/me")
    assert_equal "user=2 data=", bob.body
    assert_includes bob.set_cookies, "#{alice.session_names.first}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert_equal 1, bob.session_names.size
    assert_equal 3, rules.detections, "the POST carried it too"
    bob.get("/me")
    assert_equal "user=2 data=", bob.body
    assert_equal 3, rules.detections, "gone from the jar"
    assert_equal [1, 1, 1], @detections
    assert_equal 1, warnings.size
    alice.get("/me")
    assert_equal "user=1 data=", alice.body
  end

  def test_post_deletes_every_foreign_cookie
    b = browser
    b.post("/login?user=3")
    foreign = Array.new(3) { |i| "#{PREFIX}Abcdefghij#{i}" }
    foreign.each { |name| b.cookies[name] = "x" }
    b.post("/me")
    assert_equal "user=3 data=", b.body
    foreign.each { |name| assert_includes b.set_cookies, "#{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax" }
    assert_equal 1, b.session_names.size
    assert_equal [3], @detections
  end

  def test_logout_by_post_rotates_the_device_and_ends_the_session
    b = browser
    b.post("/login?user=4")
    device = b.device
    old_name = b.session_names.first
    old_token = b.cookies[old_name]
    b.post("/logout")
    assert_equal "bye", b.body
    assert b.set_cookies[0].start_with?("#{DEVICE}=")
    assert_includes b.set_cookies, "#{old_name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
    refute_equal device, b.device
    assert_empty b.session_names
    b.get("/me")
    assert_equal "anonymous", b.body
    # A cached copy of the old session cookie is foreign to the new device.
    b.cookies[old_name] = old_token
    b.get("/me")
    assert_equal "anonymous", b.body
    assert_equal [1], @detections
  end

  def test_get_logout_sets_nothing_and_warns_once
    b = browser
    b.post("/login?user=4")
    b.get("/logout")
    assert_equal "bye", b.body
    assert_empty b.set_cookies
    assert_equal 1, warnings.size
    assert_includes warnings.first, "logout on GET"
    b.get("/logout")
    assert_equal 1, warnings.size, "once per process"
    b.get("/me")
    assert_equal "user=4 data=", b.body, "documented: a GET logout cannot take effect"
  end

  def test_get_login_with_a_device_sets_only_the_session_cookie
    b = browser
    b.post("/") # the device cookie first
    device = b.device
    b.get("/login?user=9") # an OAuth callback
    assert_equal 1, b.set_cookies.size
    assert b.set_cookies.first.start_with?(PREFIX)
    assert_equal device, b.device
    assert_empty warnings
    b.get("/me")
    assert_equal "user=9 data=", b.body
  end

  def test_get_login_without_a_device_warns_once
    b = browser
    b.get_login_caveat = true
    b.get("/login?user=9")
    assert_equal 2, b.set_cookies.size, "the caveat: it has to set both"
    assert_equal 1, warnings.size
    assert_includes warnings.first, "login on GET"
    other = browser
    other.get_login_caveat = true
    other.get("/login?user=10")
    assert_equal 1, warnings.size
  end

  def test_bad_or_expired_cookies_set_nothing_on_get_and_are_deleted_on_post
    b = browser
    b.post("/login?user=5")
    name = b.session_names.first
    good = b.cookies[name]
    tampered = good.dup
    tampered[20] = tampered[20] == "A" ? "B" : "A"
    {
      tampered => "Sesame::AuthFailed",
      "garbage" => "Sesame::Malformed",
      "A" * 400 => "Sesame::TooLong",
      ring_with(9).seal(user_id: 5, now: NOW) => "Sesame::UnknownKey"
    }.each do |cookie, error|
      b.cookies[name] = cookie
      b.get("/me")
      assert_equal 200, b.last.status
      assert_equal "anonymous", b.body
      assert_empty b.set_cookies
      assert_includes @log.string, error
      refute_includes @log.string, cookie
      b.post("/me")
      assert_equal "anonymous", b.body
      assert_includes b.set_cookies, "#{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
      refute b.cookies.key?(name)
    end

    b.post("/login?user=5")
    @clock.advance(86_401) # the default idle timeout
    b.get("/me")
    assert_equal "anonymous", b.body
    assert_empty b.set_cookies
    assert_includes @log.string, "Sesame::IdleExpired"
    b.post("/me")
    assert b.set_cookies.any? { |l| l.start_with?(PREFIX) && l.include?("Max-Age=0") }
    assert_empty b.session_names
  end

  def test_absolute_expiry_despite_refreshes
    b = browser(policy: Sesame::Policy.new(idle_timeout: 3600, absolute_lifetime: 3 * 3600, refresh_after: 60))
    b.post("/login?user=5")
    5.times do
      @clock.advance(1800)
      b.get("/me")
    end
    assert_equal "user=5 data=", b.body
    @clock.advance(1800 + 1)
    b.get("/me")
    assert_equal "anonymous", b.body
    assert_includes @log.string, "Sesame::LifetimeExpired"
  end

  def test_invalid_cookie_names_raise_at_construction
    assert_raises(Sesame::InvalidCookieName) { middleware(device_cookie_name: "session") }
    assert_raises(Sesame::InvalidCookieName) { middleware(session_cookie_prefix: "rack.session") }
    assert_raises(Sesame::InvalidCookieName) { middleware(device_cookie_name: "no good") }
  end

  def test_custom_cookie_names
    b = browser(device_cookie_name: "__Host-app-device", session_cookie_prefix: "__Host-app-s-")
    b.post("/login?user=5")
    assert_equal ["__Host-app-device", "__Host-app-s-"], b.cookies.keys.map { |k| k.sub(/s-.*/, "s-") }
    b.get("/me")
    assert_equal "user=5 data=", b.body
  end

  def test_options
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: "nope") }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, policy: {}) }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, revoked_before: 5) }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, on_detection: 5) }
    assert_raises(TypeError) { Sesame::Rack::Session.new(APP, keyring: @ring, rules: {}) }
    rules = Sesame::CookieRules.new
    assert_raises(ArgumentError) { Sesame::Rack::Session.new(APP, keyring: @ring, rules: rules, policy: Sesame::Policy.new) }
    assert_same rules, Sesame::Rack::Session.new(APP, keyring: @ring, rules: rules).rules
    %i[bind_to_device cookie_name secure same_site domain].each do |removed|
      e = assert_raises(ArgumentError) { Sesame::Rack::Session.new(APP, keyring: @ring, removed => true) }
      assert_includes e.message, "docs/COOKIES.md"
    end
    e = assert_raises(ArgumentError) { Sesame::Rack::Session.new(APP, keyring: @ring, nonsense: 1) }
    assert_includes e.message, "nonsense"
    mw = Sesame::Rack::Session.new(APP, keyring: @ring, policy: Sesame::Policy.new(idle_timeout: 600))
    assert_equal 600, mw.policy.idle_timeout
  end

  def test_logout_everywhere
    laptop = browser
    phone = browser
    laptop.post("/login?user=8")
    phone.post("/login?user=8")
    other_user = browser
    other_user.post("/login?user=9")
    @clock.advance(10)

    phone.post("/logout_everywhere")
    assert_equal "cutoff #{NOW + 10}", phone.body
    assert_equal Time.at(NOW + 10), @cutoffs[8]
    assert_empty phone.session_names

    laptop.get("/me")
    assert_equal "anonymous", laptop.body
    assert_empty laptop.set_cookies, "an app-side rejection on GET deletes nothing"
    assert_includes @log.string, "Sesame::Revoked"
    laptop.post("/me")
    assert_empty laptop.session_names, "and on POST deletes the cookie"
    other_user.get("/me")
    assert_equal "user=9 data=", other_user.body

    # A login in the same second as the cut-off is not revoked.
    laptop.post("/login?user=8")
    laptop.get("/me")
    assert_equal "user=8 data=", laptop.body
  end

  # A copy of the cookies (device and session) replayed after logout:
  # stateless tokens open until they expire, unless the app deny-lists them.
  def test_copied_cookies_after_logout
    denylist = []
    options = { on_logout: ->(s) { denylist << s.session_id }, session_revoked: ->(s) { denylist.include?(s.session_id) } }
    b = browser(**options)
    b.post("/login?user=3")
    stolen = b.cookies.dup
    b.post("/logout")
    assert_equal 1, denylist.size
    thief = browser(**options)
    thief.cookies.replace(stolen)
    thief.get("/me")
    assert_equal "anonymous", thief.body

    b = browser
    b.post("/login?user=3")
    stolen = b.cookies.dup
    b.post("/logout")
    thief = browser
    thief.cookies.replace(stolen)
    thief.get("/me")
    assert_equal "user=3 data=", thief.body, "documented: logout alone only changes this browser's cookies"
  end

  def test_app_errors_propagate_and_buffers_are_reused
    b = browser
    b.post("/login?user=5")
    assert_raises(RuntimeError) { b.get("/boom") }
    b.get("/me")
    assert_equal "user=5 data=", b.body
    assert_equal 1, Thread.current[Sesame::CookieRules::Request::POOL].size
  end

  def test_handle_misuse
    kept = nil
    inner = lambda do |env|
      kept = env["sesame.auth"]
      kept.login(1)
      assert_raises(Sesame::UsageError) { kept.logout }
      assert_raises(Sesame::UsageError) { kept.login(2) }
      [200, {}, []]
    end
    ::Rack::MockRequest.new(Sesame::Rack::Session.new(inner, keyring: @ring)).post("/")
    assert_raises(Sesame::UsageError) { kept.login(3) }
    assert_equal 1, kept.user_id
    assert_raises(Sesame::DataTooLong) do
      ::Rack::MockRequest.new(Sesame::Rack::Session.new(->(env) { env["sesame.auth"].login(1, data: "x" * 129) },
                                                       keyring: @ring)).post("/")
    end
    assert_raises(Sesame::NoPrimaryKey) do
      ::Rack::MockRequest.new(Sesame::Rack::Session.new(->(env) { env["sesame.auth"].login(1) },
                                                       keyring: Sesame::Keyring.new)).post("/")
    end
  end

  def test_logout_then_login_switches_user
    b = browser
    b.post("/login?user=1")
    inner = lambda do |env|
      env["sesame.auth"].logout
      env["sesame.auth"].login(2)
      [200, { "Cache-Control" => APP_CACHE_CONTROL }, []]
    end
    logged_out = []
    switch = Browser.new(self, Sesame::Rack::Session.new(inner, keyring: @ring, clock: -> { @clock.now },
                                                              on_logout: ->(s) { logged_out << s.user_id }))
    switch.cookies.replace(b.cookies)
    switch.post("/switch")
    assert_equal [1], logged_out
    b.cookies.replace(switch.cookies)
    b.get("/me")
    assert_equal "user=2 data=", b.body
  end

  def test_head_is_treated_like_get
    b = browser
    b.get_login_caveat = true
    b.request("HEAD", "/login?user=5")
    assert_equal 2, b.set_cookies.size # the GET login caveat, on HEAD too
    b.request("HEAD", "/logout")
    assert_empty b.set_cookies
  end

  # Many threads, two users, a refresh due on every request: each response
  # names the user whose cookies were sent, and any cookie it sets is under
  # that browser's own name.
  def test_two_users_many_threads_no_cross_user_responses
    shared = app(policy: Sesame::Policy.new(refresh_after: 0))
    users = [1001, 2002].to_h do |uid|
      b = Browser.new(self, shared)
      b.post("/login?user=#{uid}")
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
          res = ::Rack::MockRequest.new(shared).get("https://example.com/me", env)
          cross << [uid, res.body] unless res.body == "user=#{uid} data="
          lines = Browser.set_cookies(res)
          own = cookies.keys.find { |k| k.start_with?(PREFIX) }
          cross << [uid, lines] unless lines.size == 1 && lines.first.start_with?("#{own}=")
          cross << [uid, "no no-store"] unless res.headers["Cache-Control"] == "private, no-store"
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
  end

  def test_existing_headers_are_merged
    inner = lambda do |env|
      env["sesame.auth"].login(1)
      [200, { "Content-Type" => "text/plain", "cache-control" => "public", "Set-Cookie" => "theme=dark",
              "Vary" => "Accept-Encoding", "Pragma" => "x" }, ["ok"]]
    end
    res = ::Rack::MockRequest.new(Sesame::Rack::Session.new(inner, keyring: @ring, clock: -> { NOW })).post("/")
    assert_equal "private, no-store", res.headers["Cache-Control"]
    assert_equal 1, res.headers.keys.count { |k| k.casecmp?("cache-control") }
    assert_equal "no-cache", res.headers["Pragma"]
    assert_equal "Accept-Encoding, Cookie", res.headers["Vary"]
    lines = res.headers["Set-Cookie"].split("\n")
    assert_equal "theme=dark", lines.first
    assert_equal 3, lines.size
  end

  LINES = "Set-Cookie: a=1; Path=/\nSet-Cookie: b=2; Path=/\nCache-Control: private, no-store\nVary: Cookie\n"

  def test_merge_headers_rack2_style
    merged = Sesame::Rack::Session.merge_headers(
      { "Set-Cookie" => "app=1", "cache-control" => "public", "vary" => "Accept" }, LINES, false
    )
    assert_equal "app=1\na=1; Path=/\nb=2; Path=/", merged["Set-Cookie"]
    assert_equal "private, no-store", merged["Cache-Control"]
    assert_equal 1, merged.keys.count { |k| k.casecmp?("cache-control") }
    assert_equal "Accept, Cookie", merged["Vary"]
    assert_equal "a=1; Path=/\nb=2; Path=/", Sesame::Rack::Session.merge_headers({}, LINES, false)["Set-Cookie"]
    assert_equal "*", Sesame::Rack::Session.merge_headers({ "Vary" => "*" }, LINES, false)["Vary"]
  end

  def test_merge_headers_rack3_style
    merged = Sesame::Rack::Session.merge_headers(
      { "set-cookie" => ["app=1", "app=2"], "cache-control" => "public", "vary" => "accept, cookie" }.freeze,
      LINES, true
    )
    assert_equal ["app=1", "app=2", "a=1; Path=/", "b=2; Path=/"], merged["set-cookie"]
    assert_equal "private, no-store", merged["cache-control"]
    assert_equal "accept, cookie", merged["vary"]
    assert merged.keys.all? { |k| k == k.downcase }, merged.keys.inspect
    # A mixed-case plain Hash (not Rack 3 SPEC, but common) is still merged case-insensitively.
    merged = Sesame::Rack::Session.merge_headers({ "Set-Cookie" => "app=1", "Cache-Control" => "public",
                                                   "Vary" => "Accept" }, LINES, true)
    assert_equal ["app=1", "a=1; Path=/", "b=2; Path=/"], merged["set-cookie"]
    assert_equal({ "set-cookie" => 1, "cache-control" => 1, "vary" => 1 }, merged.keys.map(&:downcase).tally)
    assert_equal "Accept, Cookie", merged["vary"]
  end
end
