# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"
require "fileutils"
require "socket"
require "timeout"

# Temporary SQLite files and redis-servers for the registry tests, started on
# demand, stopped by PID when the run ends.
module RegistryStores
  REDIS_SERVER = ENV.fetch("REDIS_SERVER", "redis-server")
  BUILD_HINT = "build it with `CARGO_TARGET_DIR=target/registry cargo rustc --lib --release " \
               "--features capi,registry-sqlite,registry-redis --crate-type cdylib` and set " \
               "SESAME_LIB=target/registry/release/libsesame.so"

  @servers = []
  @dir = nil

  class << self
    def dir
      @dir ||= Dir.mktmpdir("sesame-ruby-registry-")
    end

    # Whether the loaded libsesame has the store of +scheme+: a build without
    # its feature answers SESAME_INVALID_REGISTRY_URL.
    def supports?(scheme)
      @supports ||= {}
      return @supports[scheme] if @supports.key?(scheme)

      url = scheme == "sqlite" ? "sqlite://#{File.join(dir, "probe.db")}" : "redis://127.0.0.1:1/0?timeout_ms=200"
      @supports[scheme] = begin
        Sesame::Registry.new(url)
        true
      rescue Sesame::InvalidRegistryUrl
        false
      rescue Sesame::RegistryUnavailable
        true # redis compiled in; nothing listens on port 1
      end
    end

    def redis_server?
      system(REDIS_SERVER, "--version", out: File::NULL, err: File::NULL)
    rescue SystemCallError
      false
    end

    def free_port
      server = TCPServer.new("127.0.0.1", 0)
      server.addr[1]
    ensure
      server&.close
    end

    # Starts a redis-server on a free loopback port in a temporary directory;
    # waits (at most 10 s) until it answers PING. Returns [pid, port].
    def start_redis(extra = [])
      port = free_port
      home = Dir.mktmpdir("redis-", dir)
      pid = Process.spawn(REDIS_SERVER, "--port", port.to_s, "--bind", "127.0.0.1", "--dir", home,
                          "--save", "", "--appendonly", "no", "--daemonize", "no", *extra,
                          out: File.join(home, "redis.log"), err: %i[child out])
      @servers << pid
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      loop do
        return [pid, port] if redis_command(port, "PING") == "+PONG"
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline || Process.waitpid(pid, Process::WNOHANG)
          stop(pid)
          raise "redis-server did not start on port #{port}: #{File.read(File.join(home, "redis.log"))}"
        end

        sleep 0.05
      end
    end

    # One inline command; the reply's first line, or nil when nothing answers.
    # +sent+, a Queue, is told once the command is written.
    def redis_command(port, *words, sent: nil)
      TCPSocket.open("127.0.0.1", port) do |socket|
        socket.write("*#{words.size}\r\n#{words.map { |w| "$#{w.bytesize}\r\n#{w}\r\n" }.join}")
        sent&.push(true)
        socket.gets&.chomp
      end
    rescue SystemCallError
      sent&.push(false)
      nil
    end

    # Stops a server this run started, by its PID (bounded: TERM, then KILL).
    def stop(pid)
      return unless @servers.delete(pid)

      Process.kill("TERM", pid)
      Timeout.timeout(5) { Process.wait(pid) }
    rescue Timeout::Error
      Process.kill("KILL", pid)
      Process.wait(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end

    # The redis-server shared by the Redis rules suite: [pid, port].
    def shared_redis
      @shared_redis ||= start_redis(["--enable-debug-command", "yes"])
    end

    def cleanup
      @servers.dup.each { |pid| stop(pid) }
      FileUtils.rm_rf(@dir) if @dir
    end
  end
end

Minitest.after_run { RegistryStores.cleanup }

# The registry's rules, through the Ruby API, on every store. Each test gets
# a fresh store (#fresh_url); times are fixed unix seconds.
module RegistryRules
  include SesameTestHelper

  def setup
    super
    @ring = ring_with
  end

  def registry(**config)
    Sesame::Registry.new(fresh_url, **config)
  end

  # A login of +user+ at +at+: [token, session].
  def login(user = 7, at: NOW)
    token = @ring.seal(user_id: user, now: at)
    [token, @ring.open(token, now: at)]
  end

  def test_two_logins_are_listed_newest_first_with_the_current_one_marked
    r = registry
    laptop_token, laptop = login
    phone_token, phone = login
    assert_equal 0, r.register(laptop, laptop_token, device: "Firefox on a laptop", ip: "192.0.2.1", now: NOW)
    assert_equal 0, r.register(phone, phone_token, device: "Safari on a phone", ip: "2001:db8::1", now: NOW + 5)

    list = r.list(7, current: laptop, now: NOW + 6)
    assert_equal [phone.session_id_hex, laptop.session_id_hex], list.map(&:session_id)
    assert_equal ["Safari on a phone", "Firefox on a laptop"], list.map(&:device)
    assert_equal ["2001:db8::1", "192.0.2.1"], list.map(&:ip)
    assert_equal [false, true], list.map(&:current?)
    assert_equal [Time.at(NOW + 5), Time.at(NOW)], list.map(&:created_at)
    assert_equal %i[browser browser], list.map(&:kind)
    assert_equal [7, 7], list.map(&:user_id)
    assert list.all? { |e| e.frozen? && e.device.frozen? && e.device.encoding == Encoding::UTF_8 }
    assert_equal Time.at(NOW + 5 + 86_400), list.first.expires_at # browser idle 24 h
    assert_equal phone.session_id, list.first.session_id_bytes

    # current: also takes a hex ID or the bytes; no current: none marked.
    assert_equal [true, false], r.list(7, current: phone.session_id_hex, now: NOW + 6).map(&:current?)
    assert_equal [false, true], r.list(7, current: laptop.session_id, now: NOW + 6).map(&:current?)
    assert_equal [false, false], r.list(7, now: NOW + 6).map(&:current?)
    assert_empty r.list(8, now: NOW + 6)
  end

  def test_check_and_peek
    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    assert_equal :live, r.check(session, token, now: NOW + 1)
    assert_equal :live, r.peek(session, now: NOW + 1)
    other_token, other = login
    assert_equal :unknown, r.check(other, other_token, now: NOW + 1)
    assert_equal :unknown, r.peek(other, now: NOW + 1)
    # Past the browser idle limit the session is gone.
    assert_equal :unknown, r.check(session, token, now: NOW + 1 + 86_400 + 1)
    assert Sesame::Registry.serve?(:live)
    assert Sesame::Registry.serve?(:grace)
    refute Sesame::Registry.serve?(:theft_detected)
  end

  def test_refresh_then_the_old_token_after_the_grace_period_is_theft
    r = registry
    old, session = login
    r.register(session, old, now: NOW)
    assert_equal :live, r.check(session, old, now: NOW + 1)
    fresh, refreshed = @ring.refresh(old, now: NOW + 900)
    assert_equal session.session_id, refreshed.session_id
    assert_equal :live, r.refresh(session, old, fresh, now: NOW + 900)
    # A racing request that refreshed the same old token: serve, send nothing.
    racer, = @ring.refresh(old, now: NOW + 901)
    assert_equal :grace, r.refresh(session, old, racer, now: NOW + 901)
    assert_equal :live, r.check(refreshed, fresh, now: NOW + 902)
    assert_equal :grace, r.check(session, old, now: NOW + 910) # a slow request within the grace period
    assert_equal :theft_detected, r.check(session, old, now: NOW + 1000)
    # Both parties are logged out.
    assert_equal :revoked, r.check(refreshed, fresh, now: NOW + 1001)
    assert_empty r.list(7, now: NOW + 1001)
  end

  def test_a_lost_refresh_response_is_not_theft
    r = registry
    old, session = login
    r.register(session, old, now: NOW)
    lost, = @ring.refresh(old, now: NOW + 900)
    assert_equal :live, r.refresh(session, old, lost, now: NOW + 900)
    # The browser never got `lost`: its old token stays acceptable...
    assert_equal :grace, r.check(session, old, now: NOW + 2000)
    # ...and refreshes again from it.
    again, = @ring.refresh(old, now: NOW + 2000)
    assert_equal :live, r.refresh(session, old, again, now: NOW + 2000)
    assert_equal :live, r.check(session, again, now: NOW + 2001)
    # The unseen successor showing up now is a second party.
    assert_equal :theft_detected, r.check(session, lost, now: NOW + 3000)
  end

  def test_revoke_others_is_effective_at_once_in_the_same_second
    r = registry
    a_token, a = login
    b_token, b = login
    c_token, c = login(8)
    [[a, a_token], [b, b_token], [c, c_token]].each { |s, t| r.register(s, t, now: NOW) }
    assert_equal 1, r.revoke_others(a, now: NOW)
    assert_equal :revoked, r.check(b, b_token, now: NOW)
    assert_equal :live, r.check(a, a_token, now: NOW)
    assert_equal :live, r.check(c, c_token, now: NOW) # another user's session is untouched
    # A login in the same second, after it, is not caught.
    d_token, d = login
    r.register(d, d_token, now: NOW)
    assert_equal :live, r.check(d, d_token, now: NOW)
    assert_equal [a.session_id_hex, d.session_id_hex].sort, r.list(7, now: NOW).map(&:session_id).sort
  end

  def test_revoke_one_by_hex_bytes_entry_or_session_scoped_to_the_user
    r = registry
    sessions = Array.new(4) { login.tap { |t, s| r.register(s, t, now: NOW) } }
    other_token, other = login(8)
    r.register(other, other_token, now: NOW)

    assert r.revoke(7, sessions[0][1].session_id_hex, now: NOW + 1)
    refute r.revoke(7, sessions[0][1].session_id_hex, now: NOW + 1) # already ended
    assert r.revoke(7, sessions[1][1].session_id_hex.upcase, now: NOW + 1)
    assert r.revoke(7, sessions[2][1].session_id, now: NOW + 1)
    entry = r.list(7, now: NOW + 1).first
    assert r.revoke(7, entry, now: NOW + 1)
    assert_equal %i[revoked revoked revoked revoked],
                 sessions.map { |t, s| r.check(s, t, now: NOW + 2) }
    # Another user's session ID, under user 7, ends nothing.
    refute r.revoke(7, other.session_id_hex, now: NOW + 2)
    assert_equal :live, r.check(other, other_token, now: NOW + 2)

    assert_raises(ArgumentError) { r.revoke(7, "not hex", now: NOW) }
    assert_raises(ArgumentError) { r.revoke(7, "g" * 32, now: NOW) }
    assert_raises(TypeError) { r.revoke(7, 1234, now: NOW) }
  end

  def test_revoke_all
    r = registry
    tokens = Array.new(3) { login.tap { |t, s| r.register(s, t, now: NOW) } }
    assert_equal 3, r.revoke_all(7, now: NOW + 1)
    assert_equal 0, r.revoke_all(7, now: NOW + 1)
    assert(tokens.all? { |t, s| r.check(s, t, now: NOW + 2) == :revoked })
  end

  def test_logout_is_final
    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    assert_equal :revoked, r.logout(session, token, now: NOW + 10)
    assert_equal :revoked, r.check(session, token, now: NOW + 11)
    assert_equal :revoked, r.peek(session, now: NOW + 11)
    fresh, = @ring.refresh(token, now: NOW + 12)
    assert_equal :revoked, r.refresh(session, token, fresh, now: NOW + 12) # cannot be resumed
    assert_equal :revoked, r.logout(session, token, now: NOW + 13)
    assert_empty r.list(7, now: NOW + 13)
    never_token, never = login
    assert_equal :unknown, r.logout(never, never_token, now: NOW + 13)
  end

  def test_logout_with_a_superseded_token_is_theft
    r = registry
    old, session = login
    r.register(session, old, now: NOW)
    fresh, = @ring.refresh(old, now: NOW + 900)
    r.refresh(session, old, fresh, now: NOW + 900)
    r.check(session, fresh, now: NOW + 901)
    assert_equal :theft_detected, r.logout(session, old, now: NOW + 1000)
    assert_equal :revoked, r.check(session, fresh, now: NOW + 1001)
  end

  def test_the_cap_evicts_the_oldest
    r = registry(max_sessions: 2)
    logins = Array.new(3) { |i| login(7, at: NOW + i) }
    assert_equal [0, 0, 1], logins.each_with_index.map { |(t, s), i| r.register(s, t, now: NOW + i) }
    assert_equal %i[revoked live live], logins.map { |t, s| r.check(s, t, now: NOW + 3) }
    assert_equal logins[1..].reverse.map { |_, s| s.session_id_hex }, r.list(7, now: NOW + 3).map(&:session_id)
  end

  def test_kinds_and_their_limits
    r = registry(browser_idle: 100, remember_me_idle: 1000)
    browser_token, browser = login
    remember_token = @ring.seal(user_id: 7, kind: :remember_me, now: NOW)
    remember = @ring.open(remember_token, now: NOW)
    forced_token, forced = login
    r.register(browser, browser_token, now: NOW)
    r.register(remember, remember_token, now: NOW) # kind from the token
    r.register(forced, forced_token, kind: :remember_me, now: NOW)
    kinds = r.list(7, now: NOW).to_h { |e| [e.session_id, e.kind] }
    assert_equal({ browser.session_id_hex => :browser, remember.session_id_hex => :remember_me,
                   forced.session_id_hex => :remember_me }, kinds)
    assert_equal :unknown, r.check(browser, browser_token, now: NOW + 101)
    assert_equal :live, r.check(remember, remember_token, now: NOW + 101)
    assert_raises(ArgumentError) { r.register(browser, browser_token, kind: :forever, now: NOW) }
  end

  def test_labels_are_utf8_and_cut
    r = registry
    token, session = login
    r.register(session, token, device: "Firefox \xFF\xFE on Linux #{"x" * 300}".b, ip: "198.51.100.#{"9" * 60}",
                               now: NOW)
    entry = r.list(7, now: NOW).first
    assert entry.device.valid_encoding?
    assert entry.device.start_with?("Firefox \uFFFD\uFFFD on Linux")
    assert_equal 128, entry.device.bytesize
    assert_equal 45, entry.ip.bytesize
    t2, s2 = login
    r.register(s2, t2, now: NOW + 1)
    assert_equal ["", ""], [r.list(7, now: NOW + 1).first.device, r.list(7, now: NOW + 1).first.ip]
  end

  def test_prune
    r = registry(browser_idle: 60)
    2.times { |u| login(100 + u).then { |t, s| r.register(s, t, now: NOW) } }
    assert_kind_of Integer, r.prune(now: NOW + 30)
    assert_equal 1, r.list(100, now: NOW + 30).size
    pruned = r.prune(now: NOW + 4000)
    assert_kind_of Integer, pruned
    assert_empty r.list(100, now: NOW + 4000)
    assert_empty r.list(101, now: NOW + 4000)
  end

  def test_argument_errors
    r = registry
    token, session = login
    assert_raises(TypeError) { r.register(token, token, now: NOW) }
    assert_raises(TypeError) { r.check(session, nil, now: NOW) }
    assert_raises(Sesame::TooLong) { r.check(session, "a" * (Sesame::TOKEN_MAX + 1), now: NOW) }
    assert_raises(Sesame::Malformed) { r.register(session, "not a token", now: NOW) }
    assert_raises(ArgumentError) { r.list(-1) }
    assert_raises(ArgumentError) { registry(max_sessions: 2**32) }
    assert_raises(TypeError) { r.dup }
  end

  def test_close
    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    assert_same r, r.close
    assert r.closed?
    assert_raises(Sesame::RegistryClosed) { r.check(session, token, now: NOW) }
    assert_kind_of Sesame::UsageError, Sesame::RegistryClosed.new
    assert_match(/closed/, r.inspect)
  end

  # One Registry shared by threads: each thread logs its own user in and
  # checks, lists and revokes; then 8 threads race to refresh one token.
  def test_threads_share_one_registry
    r = registry
    results = Array.new(6) do |n|
      Thread.new do
        user = 1000 + n
        logins = Array.new(4) { |i| login(user, at: NOW + i).tap { |t, s| r.register(s, t, now: NOW + i) } }
        verdicts = logins.map { |t, s| r.check(s, t, now: NOW + 10) }
        listed = r.list(user, now: NOW + 10).map(&:session_id)
        ended = r.revoke_others(logins.last[1], now: NOW + 11)
        [verdicts, listed.size, ended, r.list(user, now: NOW + 11).map(&:session_id) == [logins.last[1].session_id_hex]]
      end
    end.map(&:value)
    assert_equal [[%i[live live live live], 4, 3, true]] * 6, results

    old, session = login(2000)
    r.register(session, old, now: NOW)
    gate = Queue.new
    racers = Array.new(8) do |i|
      Thread.new do
        fresh, = @ring.refresh(old, now: NOW + 900)
        gate.pop
        [r.refresh(session, old, fresh, now: NOW + 900), r.check(session, old, now: NOW + 905 + i)]
      end
    end
    8.times { gate << true }
    outcomes = racers.map(&:value)
    assert_equal 1, outcomes.count { |refresh, _| refresh == :live }
    assert_equal 7, outcomes.count { |refresh, _| refresh == :grace }
    assert(outcomes.all? { |_, late| late == :grace }, "late old-token requests within the grace period are served")
  end
end

class RegistryMemoryTest < Minitest::Test
  include RegistryRules

  def fresh_url
    "memory://?capacity=256"
  end

  def test_an_invalid_url_is_refused
    assert_raises(Sesame::InvalidRegistryUrl) { Sesame::Registry.new("ftp://nowhere") }
    assert_raises(Sesame::InvalidRegistryUrl) { Sesame::Registry.new("") }
    assert_kind_of Sesame::UsageError, Sesame::InvalidRegistryUrl.new
    assert_equal 22, Sesame::InvalidRegistryUrl.code
    assert_raises(TypeError) { Sesame::Registry.new(nil) }
  end

  def test_a_full_memory_store
    r = Sesame::Registry.new("memory://?capacity=2", max_sessions: 0)
    2.times { login(7).then { |t, s| r.register(s, t, now: NOW) } }
    token, session = login(8)
    error = assert_raises(Sesame::RegistryFull) { r.register(session, token, now: NOW) }
    assert_equal 21, error.code
  end

  def test_limits_from_the_policy
    policy = Sesame::Policy.new(remember_me_absolute_lifetime: 90 * 86_400, idle_timeout: 600)
    r = Sesame::Registry.new("memory://", policy: policy)
    token = @ring.seal(user_id: 9, kind: :remember_me, now: NOW)
    r.register(@ring.open(token, now: NOW, policy: policy), token, now: NOW)
    browser = @ring.seal(user_id: 9, now: NOW)
    r.register(@ring.open(browser, now: NOW, policy: policy), browser, now: NOW + 1)
    remembered, plain = r.list(9, now: NOW + 1).partition { |e| e.kind == :remember_me }.map(&:first)
    assert_equal Time.at(NOW + (90 * 86_400)), remembered.expires_at
    assert_equal Time.at(NOW + 1 + 600), plain.expires_at
    assert_raises(TypeError) { Sesame::Registry.new("memory://", policy: 60) }
  end

  def test_defaults_come_from_the_library
    assert_equal({ browser_idle: 86_400, browser_lifetime: 14 * 86_400, remember_me_idle: 30 * 86_400,
                   remember_me_lifetime: 30 * 86_400, max_sessions: 10, grace: 30, touch_interval: 60,
                   tombstone_ttl: 3600 }, Sesame::Registry.defaults)
    assert_equal "memory://", Sesame::Registry.new.url
  end

  # The README's "your sessions" page runs as is.
  def test_the_readme_sessions_page
    blocks = File.read(File.join(__dir__, "..", "README.md")).scan(/^```ruby registry\n(.*?)^```$/m).flatten
    assert_equal 1, blocks.size, "README.md must have one ```ruby registry block"
    out, status = Open3.capture2e(RbConfig.ruby, "-w", "-I", File.expand_path("../lib", __dir__), "-e", blocks.first)
    assert status.success?, out
    assert_match(/Your sessions/, out)
    assert_match(/revoked \h{32}: the phone/, out)
    refute_match(/warning/, out)
  end

  # After fork a child must not free (and so close) its parent's connection.
  def test_only_the_opening_process_frees_the_handle
    freed = []
    Sesame::Native.stub(:sesame_registry_free, ->(pointer) { freed << pointer }) do
      Sesame::Registry::Releaser.new(Process.pid + 1).call(:from_the_parent)
      Sesame::Registry::Releaser.new(Process.pid).call(:own)
    end
    assert_equal [:own], freed
  end

  def test_struct_layouts_are_the_c_layouts
    # No size query in the C ABI for these (yet): check the C layout rules.
    assert_equal 64, Sesame::Native::RegistryConfig.size
    assert_equal 232, Sesame::Native::RegistryEntry.size
    assert_equal 32, Sesame::Native::RegistryEntry.offset_of(:created_at)
    assert_equal 56, Sesame::Native::RegistryEntry.offset_of(:device)
  end
end

class RegistrySqliteTest < Minitest::Test
  include RegistryRules

  def setup
    unless RegistryStores.supports?("sqlite")
      skip "SQLite registry: #{Sesame.library_path} was built without registry-sqlite; #{RegistryStores::BUILD_HINT}"
    end
    super
  end

  def fresh_url
    @counter = (@counter || 0) + 1
    "sqlite://#{File.join(RegistryStores.dir, "#{name}-#{@counter}.db")}"
  end

  # Two handles on one file (two processes, in production) see each other's writes.
  def test_two_handles_share_the_file
    url = fresh_url
    a = Sesame::Registry.new(url)
    b = Sesame::Registry.new(url)
    token, session = login
    a.register(session, token, now: NOW)
    assert_equal :live, b.check(session, token, now: NOW + 1)
    b.revoke(7, session.session_id_hex, now: NOW + 2)
    assert_equal :revoked, a.check(session, token, now: NOW + 3)
  end

  def test_a_forked_child_uses_the_parents_registry
    skip "no fork here" unless Process.respond_to?(:fork)

    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    pid = fork do
      ok = r.check(session, token, now: NOW + 1) == :live && r.revoke(7, session, now: NOW + 2)
      exit(ok ? 0 : 1) # a normal exit: finalizers run, and must not close the parent's connection
    end
    Process.wait(pid)
    assert_predicate $?, :success?
    assert_equal :revoked, r.check(session, token, now: NOW + 3)
    t2, s2 = login
    r.register(s2, t2, now: NOW + 4)
    assert_equal :live, r.check(s2, t2, now: NOW + 5)
  end
end

class RegistryRedisTest < Minitest::Test
  include RegistryRules

  def setup
    unless RegistryStores.supports?("redis")
      skip "Redis registry: #{Sesame.library_path} was built without registry-redis; #{RegistryStores::BUILD_HINT}"
    end
    skip "Redis registry: no #{RegistryStores::REDIS_SERVER} binary (apt-get install redis-server)" unless RegistryStores.redis_server?
    super
    _, @port = RegistryStores.shared_redis
  end

  # A key prefix per test keeps the tests apart on one server.
  def fresh_url
    @counter = (@counter || 0) + 1
    "redis://127.0.0.1:#{@port}/0?prefix=#{name}-#{@counter}&timeout_ms=2000"
  end

  def test_a_stopped_redis_is_unavailable
    pid, port = RegistryStores.start_redis
    r = Sesame::Registry.new("redis://127.0.0.1:#{port}/0?timeout_ms=500")
    token, session = login
    r.register(session, token, now: NOW)
    assert_equal :live, r.check(session, token, now: NOW + 1)
    RegistryStores.stop(pid)
    error = assert_raises(Sesame::RegistryUnavailable) { r.check(session, token, now: NOW + 2) }
    assert_equal 20, error.code
    assert_raises(Sesame::RegistryUnavailable) { r.list(7, now: NOW + 2) }
  ensure
    RegistryStores.stop(pid) if pid
  end

  # Calls release the GVL while they wait on the store: another Ruby thread
  # keeps running while redis-server is made to sleep.
  def test_a_waiting_call_releases_the_gvl
    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    ticks = 0
    ticker = Thread.new { loop { ticks += 1; sleep 0.005 } }
    sent = Queue.new
    sleeper = Thread.new { RegistryStores.redis_command(@port, "DEBUG", "SLEEP", "1", sent: sent) }
    sent.pop
    sleep 0.1 # let the server read DEBUG SLEEP first
    before = ticks
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_equal :live, r.check(session, token, now: NOW + 1)
    waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    during = ticks - before
    sleeper.join
    ticker.kill
    assert_operator waited, :>, 0.5, "the call should have waited for the sleeping server"
    assert_operator during, :>, 30, "the ticker thread ran only #{during} times during a #{waited.round(2)} s call"
  end

  # A thread of the parent was inside a call (holding the native handle's
  # lock) when the process forked, as under Puma's fork_worker, which forks
  # from a worker serving requests: the child opens a handle of its own
  # instead of waiting forever for a lock no thread of its will release.
  def test_a_child_forked_during_a_call_opens_its_own_handle
    skip "no fork here" unless Process.respond_to?(:fork)

    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    sent = Queue.new
    sleeper = Thread.new { RegistryStores.redis_command(@port, "DEBUG", "SLEEP", "1", sent: sent) }
    sent.pop
    sleep 0.1 # the server sleeps from here
    busy = Thread.new { r.check(session, token, now: NOW + 1) } # waits inside the handle's lock
    sleep 0.2
    pid = fork { exit!(r.check(session, token, now: NOW + 2) == :live ? 0 : 1) }
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    status = nil
    until (status = Process.wait2(pid, Process::WNOHANG)&.last)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill("KILL", pid)
        Process.wait(pid)
        flunk "the child hung on the handle its parent was using when it forked"
      end
      sleep 0.05
    end
    assert_predicate status, :success?
    assert_equal :live, busy.value
    sleeper.join
  end

  def test_a_forked_child_reconnects
    skip "no fork here" unless Process.respond_to?(:fork)

    r = registry
    token, session = login
    r.register(session, token, now: NOW)
    pid = fork do
      exit(r.revoke(7, session, now: NOW + 1) ? 0 : 1)
    end
    Process.wait(pid)
    assert_predicate $?, :success?
    assert_equal :revoked, r.check(session, token, now: NOW + 2)
  end
end
