# frozen_string_literal: true

require_relative "test_helper"
require_relative "rack_session_test"
require_relative "registry_test"

# Sesame::Rack::Session with registry: end to end through Rack::MockRequest
# (and Rack::Lint), browsers with cookie jars, on memory:// and on a real
# SQLite file (a second Registry handle on that file plays another process).
module RackRegistryCases
  include SesameTestHelper

  Browser = RackSessionTest::Browser
  APP_CACHE_CONTROL = RackSessionTest::APP_CACHE_CONTROL
  REFRESH = 60 # Policy#refresh_after in these tests
  AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"

  # A browser with a User-Agent and an address.
  class AgentBrowser < Browser
    def initialize(test, app, agent: AGENT, ip: "203.0.113.7")
      super(test, app)
      @agent = agent
      @ip = ip
    end

    def request(method, path)
      env = { method: method, "HTTP_USER_AGENT" => @agent, "REMOTE_ADDR" => @ip }
      env["HTTP_COOKIE"] = cookie_header unless @cookies.empty?
      @last = ::Rack::MockRequest.new(@app).request(method, "https://example.com#{path}", env)
      check(method)
      apply(@last)
      @last
    end

    # A refresh the registry did not record keeps the core's no-store
    # headers without its Set-Cookie: allowed (the rest of the checks hold).
    def check(method)
      return super unless set_cookies.empty? && @last.headers["Cache-Control"] == "private, no-store"

      @stripped = (@stripped || 0) + 1
    end

    attr_reader :stripped

    # A copy of this browser's cookies in another browser (a thief's).
    def clone_into(other)
      other.cookies.replace(@cookies.dup)
      other
    end
  end

  APP = lambda do |env|
    req = ::Rack::Request.new(env)
    auth = env["sesame.auth"]
    text =
      case req.path_info
      when "/login"
        s = auth.login(Integer(req.params["user"]), remember_me: req.params["remember"] == "1")
        "logged in #{s.user_id}"
      when "/logout"
        auth.logout
        "bye"
      when "/logout_everywhere"
        auth.logout_everywhere
        "bye everywhere"
      when "/logout_others"
        "ended #{auth.logout_others}"
      when "/sessions"
        auth.sessions.map { |e| "#{e.session_id} #{e.kind} #{e.device} #{e.ip}#{" current" if e.current?}" }.join("\n")
      when "/revoke"
        "revoked #{auth.revoke(req.params["id"])}"
      else
        s = env["sesame.session"]
        s ? "user=#{s.user_id}" : "anonymous"
      end
    [200, { "Content-Type" => "text/plain", "Cache-Control" => APP_CACHE_CONTROL }, req.head? ? [] : [text]]
  end

  def setup
    super
    Sesame::Rack::Session.reset_warnings!
    @clock = RackSessionTest::Clock.new(NOW)
    @log = StringIO.new
    @ring = ring_with(1)
    @thefts = []
    @registry = open_registry
  end

  def app(registry: @registry, **options)
    mw = Sesame::Rack::Session.new(::Rack::Lint.new(APP), keyring: @ring, logger: Logger.new(@log),
                                                          clock: -> { @clock.now }, registry: registry,
                                                          policy: Sesame::Policy.new(refresh_after: REFRESH),
                                                          on_theft: ->(s) { @thefts << s }, **options)
    ::Rack::Lint.new(mw)
  end

  def browser(app = nil, agent: AGENT, ip: "203.0.113.7", **options)
    AgentBrowser.new(self, app || self.app(**options), agent: agent, ip: ip)
  end

  def logged_in(b, user = 7)
    b.post("/login?user=#{user}")
    assert_equal "logged in #{user}", b.body
    b
  end

  def assert_user(b, user = 7)
    b.get("/")
    assert_equal "user=#{user}", b.body
  end

  def assert_refused(b)
    b.get("/")
    assert_equal "anonymous", b.body
  end

  def errors
    @log.string.lines.grep(/\AE, /)
  end

  # --- login, list, refresh ------------------------------------------------

  def test_login_registers_the_session_with_device_ip_and_kind
    a = logged_in(browser)
    b = browser(agent: "curl/8.0", ip: "198.51.100.2")
    b.post("/login?user=7&remember=1")
    entries = @registry.list(7, now: @clock.now)
    assert_equal 2, entries.size
    assert_equal [[AGENT, "203.0.113.7", "browser"], %w[curl/8.0 198.51.100.2 remember_me]],
                 entries.map { |e| [e.device, e.ip, e.kind.to_s] }.sort
    a.get("/sessions")
    lines = a.body.lines(chomp: true)
    assert_equal 2, lines.size
    assert_equal 1, lines.count { |l| l.end_with?(" browser #{AGENT} 203.0.113.7 current") }
    assert_equal 1, lines.count { |l| l.end_with?(" remember_me curl/8.0 198.51.100.2") }
  end

  def test_a_long_user_agent_is_cut_by_the_core
    b = logged_in(browser(agent: "A" * 500))
    assert_equal 128, @registry.list(7, now: @clock.now).first.device.bytesize
    assert_user(b)
  end

  def test_refresh_is_recorded_and_the_new_token_sent
    b = logged_in(browser(registry_check: :every_request))
    before = b.cookies.dup
    @clock.advance(REFRESH + 1)
    assert_user(b)
    refute_equal before, b.cookies, "the refreshed token was not sent"
    @clock.advance(5)
    assert_user(b) # the new token is the registry's current one
    # the old token, once its successor was seen and past the grace: theft
    thief = b.clone_into(browser(registry_check: :every_request))
    thief.cookies.replace(before)
    @clock.advance(31)
    assert_refused(thief)
  end

  def test_a_refresh_answered_grace_serves_but_sends_no_cookie
    b = logged_in(browser)
    other_tab = b.clone_into(browser)
    @clock.advance(REFRESH + 1)
    assert_user(b) # refreshes first
    kept = other_tab.cookies.dup
    assert_user(other_tab) # same old token, within the grace: served
    assert_equal kept, other_tab.cookies, "a :grace refresh sent a token the registry does not know"
    assert_user(b)
  end

  def test_login_over_a_session_ends_the_old_one_in_the_store
    b = logged_in(browser)
    b.post("/login?user=7")
    assert_equal 1, @registry.list(7, now: @clock.now).size
  end

  # --- logout is final -----------------------------------------------------

  def check_logout_is_final(mode)
    b = logged_in(browser(registry_check: mode))
    copy = b.clone_into(browser(registry_check: mode))
    b.post("/logout")
    assert_empty b.session_names
    assert_empty @registry.list(7, now: @clock.now)
    if mode == :on_refresh
      assert_user(copy) # opens locally until its refresh: the documented latency
      @clock.advance(REFRESH + 1)
    end
    assert_refused(copy)
    @clock.advance(2 * REFRESH)
    assert_refused(copy)
  end

  def test_logout_is_final_every_request
    check_logout_is_final(:every_request)
  end

  def test_logout_is_final_on_refresh
    check_logout_is_final(:on_refresh)
  end

  def test_logout_everywhere_ends_every_session
    a = logged_in(browser(registry_check: :every_request))
    b = logged_in(browser(registry_check: :every_request))
    a.post("/logout_everywhere")
    assert_refused(b)
    assert_empty @registry.list(7, now: @clock.now)
  end

  # --- log out other sessions, revoke from the list --------------------------

  def test_logout_others_ends_the_other_browsers_session_every_request
    a = logged_in(browser(registry_check: :every_request))
    b = logged_in(browser(registry_check: :every_request))
    a.post("/logout_others")
    assert_equal "ended 1", a.body
    assert_refused(b)
    assert_user(a)
  end

  def test_logout_others_reaches_the_other_browser_at_its_refresh
    a = logged_in(browser)
    b = logged_in(browser)
    a.post("/logout_others")
    assert_user(b) # until its token is due
    @clock.advance(REFRESH + 1)
    assert_refused(b)
    assert_user(a)
  end

  def test_revoke_from_the_list
    a = logged_in(browser(registry_check: :every_request))
    b = logged_in(browser(registry_check: :every_request))
    other = @registry.list(7, now: @clock.now).reject { |e| e.device == AGENT && e.current? }
    a.get("/sessions")
    ids = a.body.lines(chomp: true).map(&:split)
    theirs = ids.find { |w| w.last != "current" }.first
    assert_includes other.map(&:session_id), theirs
    a.post("/revoke?id=#{theirs}")
    assert_equal "revoked true", a.body
    assert_refused(b)
    assert_user(a)
    a.get("/sessions")
    assert_equal 1, a.body.lines.size
  end

  def test_revoke_is_scoped_to_the_user
    a = logged_in(browser(registry_check: :every_request), 7)
    m = logged_in(browser(registry_check: :every_request), 8)
    mallory_id = @registry.list(8, now: @clock.now).first.session_id
    a.post("/revoke?id=#{mallory_id}")
    assert_equal "revoked false", a.body
    assert_user(m, 8)
  end

  def test_revoking_the_current_session_logs_this_browser_out
    a = logged_in(browser(registry_check: :every_request))
    id = @registry.list(7, now: @clock.now).first.session_id
    a.post("/revoke?id=#{id}")
    assert_equal "revoked true", a.body
    assert_empty a.session_names
    assert_refused(a)
  end

  # --- theft -----------------------------------------------------------------

  def check_theft(mode)
    victim = logged_in(browser(registry_check: mode))
    thief = victim.clone_into(browser(registry_check: mode))
    @clock.advance(REFRESH + 1)
    assert_user(victim) # refreshed
    assert_user(victim) # :every_request: the registry sees the successor
    @clock.advance(31) # past the grace
    if mode == :on_refresh
      # The registry sees the successor only at the victim's next refresh:
      # until then the thief's old token looks like a lost refresh response
      # and rotates again; the victim's next refresh is then the one
      # reported (docs/REGISTRY.md, "Limits"), and both are out.
      assert_user(thief)
      assert_empty @thefts
      @clock.advance(REFRESH + 1)
      assert_refused(victim)
    else
      assert_refused(thief)
    end
    assert_equal 1, @thefts.size
    assert_equal 7, @thefts.first.user_id
    assert_match(/W, .*session theft detected at check: .*user 7's session/, @log.string)
    refute_match(/[A-Za-z0-9_-]{60,}/, @log.string, "a token was logged")
    # the session is ended for both parties
    @clock.advance(REFRESH + 1) if mode == :on_refresh
    assert_refused(thief)
    assert_refused(victim)
  end

  def test_theft_every_request
    check_theft(:every_request)
  end

  def test_theft_on_refresh
    check_theft(:on_refresh)
  end

  # --- store errors ----------------------------------------------------------

  def test_a_closed_registry_fails_closed
    b = logged_in(browser(registry_check: :every_request))
    @registry.close
    assert_refused(b)
    assert_match(/E, .*registry: check failed, refusing the session \(fail closed\): Sesame::RegistryClosed/, @log.string)
  end

  # A store outage is not a logout: the request is refused, the cookie
  # stays (a POST would otherwise delete it), and the session is judged
  # again once the store answers.
  def test_a_store_error_refuses_the_request_but_keeps_the_cookie
    [{ registry_check: :every_request }, {}].each do |options|
      registry = Sesame::Registry.new("memory://")
      b = logged_in(browser(app(registry: registry, **options)))
      kept = b.cookies.dup
      registry.close
      @clock.advance(REFRESH + 1) if options.empty?
      b.post("/")
      assert_equal "anonymous", b.body
      assert_equal kept, b.cookies, "#{options}: the session cookie was changed on a store error"
    end
  end

  def test_a_closed_registry_on_refresh_fails_closed_at_the_refresh
    b = logged_in(browser)
    @registry.close
    assert_user(b) # not due: no store round trip
    @clock.advance(REFRESH + 1)
    assert_refused(b)
  end

  def test_fail_open_serves_on_the_token_alone_and_sends_no_unrecorded_token
    b = logged_in(browser(registry_fail_open: true))
    kept = b.cookies.dup
    @registry.close
    @clock.advance(REFRESH + 1)
    assert_user(b)
    assert_equal kept, b.cookies
    assert_equal 1, errors.size # one round trip: the refresh, before the app
    assert_match(/registry: refresh failed, serving on the token alone \(registry_fail_open\)/, errors.first)
  end

  def test_a_login_the_store_cannot_register_sets_no_cookie_and_raises
    app = self.app
    @registry.close
    b = AgentBrowser.new(self, app)
    assert_raises(Sesame::RegistryClosed) { b.post("/login?user=7") }
  end

  def test_a_logout_the_store_cannot_record_raises
    b = logged_in(browser)
    @registry.close
    assert_raises(Sesame::RegistryClosed) { b.post("/logout") }
  end

  # --- options -----------------------------------------------------------------

  def test_options_are_checked
    assert_raises(ArgumentError) { app(registry_check: :sometimes) }
    assert_raises(TypeError) { app(registry: :memory) }
    by_url = Sesame::Rack::Session.new(->(_env) { [200, {}, []] }, keyring: @ring, registry: "memory://")
    assert_kind_of Sesame::Registry, by_url.registry
    plain = Sesame::Rack::Session.new(->(env) { [200, {}, [env["sesame.auth"].sessions.size.to_s]] }, keyring: @ring)
    assert_raises(Sesame::UsageError) { plain.call(::Rack::MockRequest.env_for("/")) }
  end
end

class RackRegistryMemoryTest < Minitest::Test
  include RackRegistryCases

  def open_registry
    Sesame::Registry.new("memory://")
  end

  # A registry that records the store calls the middleware makes.
  class CountingRegistry < Sesame::Registry
    attr_reader :calls

    def initialize(*args, **kw)
      super
      @calls = []
    end

    %i[check peek refresh register logout].each do |name|
      define_method(name) do |*args, **kw|
        @calls << [name, *args.grep(String)]
        super(*args, **kw)
      end
    end
  end

  # A due token costs one round trip before the app, registry.refresh with
  # the token the core says was presented and the one it issued (and sends);
  # a token not due, one check (:every_request) or none (:on_refresh).
  def check_store_round_trips(mode)
    counting = CountingRegistry.new("memory://")
    b = logged_in(browser(registry: counting, registry_check: mode))
    register = counting.calls.shift
    assert_equal [:register, b.cookies.fetch(b.session_names.first)], register
    presented = register.last
    @clock.advance(5)
    assert_user(b)
    assert_equal(mode == :every_request ? [[:check, presented]] : [], counting.calls)
    counting.calls.clear
    @clock.advance(REFRESH + 1)
    assert_user(b)
    issued = b.cookies.fetch(b.session_names.first)
    refute_equal presented, issued
    assert_equal [[:refresh, presented, issued]], counting.calls
    counting.calls.clear
    b.post("/logout")
    expected = [[:logout, issued]]
    expected.unshift([:check, issued]) if mode == :every_request
    assert_equal expected, counting.calls
  end

  def test_store_round_trips_every_request
    check_store_round_trips(:every_request)
  end

  def test_store_round_trips_on_refresh
    check_store_round_trips(:on_refresh)
  end

  # The registry glue reads tokens from the core (sesame_request_token): no
  # Ruby code derives the session cookie's name or parses Set-Cookie lines
  # for tokens (that rule lives only in the Rust core).
  def test_no_ruby_code_derives_the_session_cookie_name
    lib = File.expand_path("../lib", __dir__)
    files = Dir[File.join(lib, "**", "*.rb")]
    refute_empty files
    files.each do |file|
      text = File.read(file)
      refute text.match?(/cookie-name|\bDigest\b|\bOpenSSL\b|require ["'](digest|openssl)/),
             "#{file} derives a cookie name (a hash in Ruby)"
      refute text.match?(/Set-Cookie: #\{/), "#{file} parses Set-Cookie lines for tokens"
    end
    refute_respond_to Sesame::Rack::Session.new(->(_) { [200, {}, []] }, keyring: @ring), :presented_token
  end

  # The README's "your sessions" page on the middleware runs as is.
  def test_the_readme_rack_sessions_page
    blocks = File.read(File.join(__dir__, "..", "README.md")).scan(/^```ruby rack-registry\n(.*?)^```$/m).flatten
    assert_equal 1, blocks.size, "README.md must have one ```ruby rack-registry block"
    out, status = Open3.capture2e(RbConfig.ruby, "-w", "-I", File.expand_path("../lib", __dir__), "-e", blocks.first)
    assert status.success?, out
    assert_match(/\(this device\)/, out)
    assert_match(/revoked \h{32}: the phone is logged out/, out)
    refute_match(/warning/, out)
  end
end

class RackRegistrySqliteTest < Minitest::Test
  include RackRegistryCases

  def open_registry
    skip "SQLite registry: #{RegistryStores::BUILD_HINT}" unless RegistryStores.supports?("sqlite")
    @path = File.join(Dir.mktmpdir("rack-", RegistryStores.dir), "sessions.db")
    Sesame::Registry.new("sqlite://#{@path}")
  end

  # Another process's handle on the same file.
  def other_process
    Sesame::Registry.new("sqlite://#{@path}")
  end

  def test_every_request_sees_another_handles_revoke_at_once
    a = logged_in(browser(registry_check: :every_request))
    id = other_process.list(7, now: @clock.now).first.session_id
    assert other_process.revoke(7, id, now: @clock.now)
    assert_refused(a)
  end

  def test_on_refresh_sees_another_handles_revoke_at_the_next_refresh
    a = logged_in(browser)
    assert_equal 1, other_process.revoke_all(7, now: @clock.now)
    assert_user(a)
    @clock.advance(REFRESH - 1)
    assert_user(a)
    @clock.advance(2)
    assert_refused(a)
  end
end

class RackRegistryRedisTest < Minitest::Test
  include RackRegistryCases

  def open_registry
    skip "Redis registry: #{RegistryStores::BUILD_HINT}" unless RegistryStores.supports?("redis")
    skip "Redis registry: no #{RegistryStores::REDIS_SERVER} binary" unless RegistryStores.redis_server?
    @pid, port = RegistryStores.start_redis
    Sesame::Registry.new("redis://127.0.0.1:#{port}/0?timeout_ms=500")
  end

  def teardown
    RegistryStores.stop(@pid) if @pid
    super
  end

  def test_redis_stopped_fails_closed
    b = logged_in(browser(registry_check: :every_request))
    assert_user(b)
    RegistryStores.stop(@pid)
    assert_refused(b)
    assert_match(/E, .*refusing the session \(fail closed\): Sesame::RegistryUnavailable/, @log.string)
  end

  def test_redis_stopped_fail_open_serves
    b = logged_in(browser(registry_check: :every_request, registry_fail_open: true))
    RegistryStores.stop(@pid)
    assert_user(b)
  end
end
