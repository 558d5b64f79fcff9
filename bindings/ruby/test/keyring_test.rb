# frozen_string_literal: true

require_relative "test_helper"

class KeyringTest < Minitest::Test
  include SesameTestHelper

  def test_new_ring_is_empty
    ring = Sesame::Keyring.new
    assert_equal 0, ring.size
    assert ring.empty?
    assert_nil ring.primary_id
    assert_equal "#<Sesame::Keyring keys=0 primary=nil>", ring.inspect
  end

  def test_first_key_is_primary_and_methods_chain
    ring = Sesame::Keyring.new.add_key(5, KEY).add_key(6, Sesame::Keyring.generate_key)
    assert_equal 2, ring.size
    assert_equal 2, ring.length
    assert_equal 5, ring.primary_id
    assert_same ring, ring.promote(6)
    assert_equal 6, ring.primary_id
    refute_includes ring.inspect, KEY
  end

  def test_seal_open_round_trip
    ring = ring_with(1)
    token = ring.seal(user_id: 123_456, now: NOW)
    assert_kind_of String, token
    assert_equal Encoding::US_ASCII, token.encoding
    assert_match(/\A[A-Za-z0-9_-]+\z/, token)
    assert_equal 92, token.size
    assert_operator token.size, :<, 100

    session = ring.open(token, now: NOW + 5)
    assert_kind_of Sesame::Session, session
    assert session.frozen?
    assert_equal 123_456, session.user_id
    assert_equal 16, session.session_id.bytesize
    assert_equal Encoding::BINARY, session.session_id.encoding
    assert_equal session.session_id.unpack1("H*"), session.session_id_hex
    assert_equal Time.at(NOW), session.issued_at
    assert_equal Time.at(NOW), session.refreshed_at
    assert_equal NOW, session.issued_at_i
    assert_nil session.lifetime
    assert_equal "", session.data
    assert_equal Encoding::BINARY, session.data.encoding
  end

  def test_each_seal_is_a_new_session
    ring = ring_with(1)
    a = ring.open(ring.seal(user_id: 1, now: NOW), now: NOW)
    b = ring.open(ring.seal(user_id: 1, now: NOW), now: NOW)
    refute_equal a.session_id, b.session_id
  end

  def test_session_kinds_have_their_own_limits
    ring = ring_with(3)
    remembered = ring.seal(user_id: 5, kind: :remember_me, now: NOW)
    browser = ring.seal(user_id: 5, now: NOW)
    later = NOW + (3 * 86_400) # past the browser idle timeout (24 h)
    session = ring.open(remembered, now: later)
    assert_equal :remember_me, session.kind
    assert session.remember_me?
    assert_raises(Sesame::IdleExpired) { ring.open(browser, now: later) }
    assert_equal :browser, ring.open(browser, now: NOW).kind
    refute ring.open(browser, now: NOW).remember_me?
    # The remember-me limits are the policy's own.
    short = Sesame::Policy.new(remember_me_idle_timeout: 86_400)
    assert_raises(Sesame::IdleExpired) { ring.open(remembered, policy: short, now: later) }
    assert_raises(Sesame::LifetimeExpired) { ring.open(remembered, now: NOW + (30 * 86_400)) }
    assert_equal :remember_me, ring.refresh(remembered, now: NOW + 60).last.kind
    assert_raises(ArgumentError) { ring.seal(user_id: 5, kind: :forever) }
  end

  def test_csrf_origin_rule
    assert Sesame.csrf_origin_allowed?(method: "GET", sec_fetch_site: "cross-site")
    assert Sesame.csrf_origin_allowed?(method: "POST", sec_fetch_site: "same-origin")
    refute Sesame.csrf_origin_allowed?(method: "POST", sec_fetch_site: "cross-site", origin: "https://a.test",
                                       host: "a.test")
    assert Sesame.csrf_origin_allowed?(method: "POST", origin: "https://a.test", host: "a.test")
    refute Sesame.csrf_origin_allowed?(method: "POST", origin: "https://evil.test", host: "a.test")
    assert Sesame.csrf_origin_allowed?(method: "POST")
  end

  def test_data_context_lifetime
    ring = ring_with(3)
    context = "\x00\xFFdevice".b
    token = ring.seal(user_id: 2**64 - 1, data: "role=admin\x00\xFF".b, context: context, lifetime: 3600, now: NOW)
    session = ring.open(token, context: context, now: NOW)
    assert_equal 2**64 - 1, session.user_id
    assert_equal "role=admin\x00\xFF".b, session.data
    assert_equal 3600, session.lifetime
    assert session.lifetime?
    assert_equal Time.at(NOW + 3600), session.expires_at
    assert_raises(Sesame::AuthFailed) { ring.open(token, now: NOW) }
    assert_raises(Sesame::AuthFailed) { ring.open(token, context: "#{context}x", now: NOW) }
  end

  def test_empty_context_and_data_equal_nil
    ring = ring_with(1)
    token = ring.seal(user_id: 1, context: "", data: "", now: NOW)
    assert_equal 1, ring.open(token, now: NOW).user_id
    assert_equal 1, ring.open(ring.seal(user_id: 1, now: NOW), context: "", now: NOW).user_id
  end

  def test_now_accepts_time_integer_and_nil
    ring = ring_with(1)
    t = Time.at(NOW, 999_999, :usec)
    s = ring.open(ring.seal(user_id: 1, now: t), now: t)
    assert_equal NOW, s.issued_at.to_i
    s = ring.open(ring.seal(user_id: 1, now: NOW), now: NOW)
    assert_equal NOW, s.issued_at.to_i
    s = ring.open(ring.seal(user_id: 1))
    assert_in_delta Time.now.to_i, s.issued_at.to_i, 2
    # Anything with #to_time (DateTime, ActiveSupport::TimeWithZone)
    with_to_time = Object.new
    with_to_time.define_singleton_method(:to_time) { Time.at(NOW + 7) }
    assert_equal NOW + 7, ring.open(ring.seal(user_id: 1, now: with_to_time), now: NOW + 7).issued_at_i
  end

  def test_refresh
    ring = ring_with(1)
    token = ring.seal(user_id: 9, data: "d", lifetime: 7200, now: NOW)
    first = ring.open(token, now: NOW)
    new_token, session = ring.refresh(token, now: NOW + 1000)
    refute_equal token, new_token
    assert_equal first.session_id, session.session_id
    assert_equal NOW, session.issued_at_i
    assert_equal NOW + 1000, session.refreshed_at_i
    assert_equal 7200, session.lifetime
    assert_equal "d", session.data
    assert_equal session, ring.open(new_token, now: NOW + 1000)
    assert_raises(Sesame::LifetimeExpired) { ring.refresh(token, now: NOW + 7200) }
    assert_raises(Sesame::IdleExpired) { ring.refresh(ring.seal(user_id: 9, now: NOW), now: NOW + 86_400) }
  end

  def test_refresh_moves_tokens_to_the_new_primary_and_retire_stops_them
    ring = ring_with(1)
    old = ring.seal(user_id: 4, now: NOW)
    ring.add_key(2, Sesame::Keyring.generate_key).promote(2)
    assert_equal 2, ring.primary_id
    assert_equal 4, ring.open(old, now: NOW).user_id # still opens
    fresh, = ring.refresh(old, now: NOW + 10)
    ring.retire(1)
    assert_equal 1, ring.size
    assert_raises(Sesame::UnknownKey) { ring.open(old, now: NOW + 10) }
    assert_equal 4, ring.open(fresh, now: NOW + 10).user_id
  end

  def test_derive_key_is_deterministic
    a = Sesame::Keyring.new.derive_key(1, "master secret", purpose: "session cookie")
    b = Sesame::Keyring.new.derive_key(1, "master secret", purpose: "session cookie")
    c = Sesame::Keyring.new.derive_key(1, "master secret", purpose: "other purpose")
    token = a.seal(user_id: 3, now: NOW)
    assert_equal 3, b.open(token, now: NOW).user_id
    assert_raises(Sesame::AuthFailed) { c.open(token, now: NOW) }
    d = Sesame::Keyring.new.derive_key(1, "master secret", purpose: "")
    assert_equal 1, d.size
  end

  def test_close_zeroizes_now_and_is_idempotent
    ring = ring_with(1)
    refute ring.closed?
    assert_nil ring.close
    assert ring.closed?
    ring.close
    assert_equal "#<Sesame::Keyring closed>", ring.inspect
    assert_raises(Sesame::KeyringClosed) { ring.open("x") }
    assert_raises(Sesame::KeyringClosed) { ring.add_key(2, KEY) }
    assert_raises(Sesame::KeyringClosed) { ring.size }
  end

  def test_cannot_be_copied
    ring = ring_with(1)
    assert_raises(TypeError) { ring.dup }
    assert_raises(TypeError) { ring.clone }
  end

  def test_garbage_collected_rings_are_freed
    100.times { ring_with(1).seal(user_id: 1) }
    GC.start
    assert_equal 1, ring_with(1).size
  end

  def test_no_lock_option_and_type_checks
    # The binding has no lock of its own any more (the native ring is
    # thread-safe): the old lock: option is gone, not silently ignored.
    assert_raises(ArgumentError) { Sesame::Keyring.new(lock: Object.new) }
    refute Sesame.const_defined?(:RWLock)
    refute Sesame.const_defined?(:ExclusiveLock)
    assert_raises(TypeError) { ring_with(1).open("x", policy: { idle_timeout: 1 }) }
  end

  def test_key_ids_ascending
    ring = Sesame::Keyring.new
    assert_equal [], ring.key_ids
    [7, 2, 4_000_000_000, 5].each { |id| ring.add_key(id, Sesame::Keyring.generate_key) }
    assert_equal [2, 5, 7, 4_000_000_000], ring.key_ids
    ring.retire(7)
    assert_equal [2, 5, 4_000_000_000], ring.key_ids
    ring.close
    assert_raises(Sesame::KeyringClosed) { ring.key_ids }
  end

  def test_token_key_id_needs_no_key
    ring = ring_with(9)
    token = ring.seal(user_id: 1, now: NOW)
    assert_equal 9, Sesame.token_key_id(token)
    ring.add_key(4_000_000_000, KEY.reverse).promote(4_000_000_000)
    assert_equal 4_000_000_000, Sesame.token_key_id(ring.seal(user_id: 1, now: NOW))
    assert_raises(Sesame::InvalidToken) { Sesame.token_key_id("") }
    assert_raises(Sesame::InvalidToken) { Sesame.token_key_id("not a token") }
    assert_raises(TypeError) { Sesame.token_key_id(nil) }
  end

  def test_close_wipes_keys_and_later_calls_raise
    ring = ring_with(1)
    token = ring.seal(user_id: 1, now: NOW)
    native = ring.unsafe_native_pointer
    ring.close
    # The native ring is still allocated (freed at GC) but holds no key.
    count = FFI::MemoryPointer.new(:size_t)
    assert_equal 0, Sesame::Native.sesame_keyring_len(native, count)
    assert_equal 0, count.get(:size_t, 0)
    assert_equal Sesame::UnknownKey.code,
                 Sesame::Native.sesame_open(native, token, token.bytesize, nil, 0, Sesame::Policy::DEFAULT.to_native,
                                            NOW, FFI::MemoryPointer.new(Sesame::Native::CLAIMS_SIZE))
    assert_raises(Sesame::KeyringClosed) { ring.load_keyset("sesame-keyset/1\n") }
    assert_raises(Sesame::KeyringClosed) { ring.key_ids }
    assert_equal "#<Sesame::Keyring closed>", ring.inspect
  end
end

class PolicyTest < Minitest::Test
  include SesameTestHelper

  def test_defaults_come_from_the_library
    native = Sesame::Native::Policy.new
    Sesame.check!(Sesame::Native.sesame_policy_default(native.pointer))
    p = Sesame::Policy.default
    assert_equal native[:idle_timeout], p.idle_timeout
    assert_equal native[:absolute_lifetime], p.absolute_lifetime
    assert_equal native[:future_leeway], p.future_leeway
    assert_equal native[:refresh_after], p.refresh_after
    assert_nil p.revoked_before
    assert_equal({ idle_timeout: 86_400, absolute_lifetime: 1_209_600, future_leeway: 60, revoked_before: nil,
                   refresh_after: 900, remember_me_idle_timeout: nil, remember_me_absolute_lifetime: 2_592_000 },
                 p.to_h)
    assert p.frozen?
    assert_equal p, Sesame::Policy.new
  end

  def test_nil_means_no_limit
    p = Sesame::Policy.new(idle_timeout: nil, absolute_lifetime: nil)
    struct = Sesame::Native::Policy.new(p.to_native)
    assert_equal 2**64 - 1, struct[:idle_timeout]
    assert_equal 2**64 - 1, struct[:absolute_lifetime]
    ring = ring_with(1)
    token = ring.seal(user_id: 1, now: NOW)
    assert_equal 1, ring.open(token, now: NOW + (10 * 365 * 86_400), policy: p).user_id
  end

  def test_revoked_before_and_with
    p = Sesame::Policy.new(revoked_before: Time.at(NOW))
    assert_equal Time.at(NOW), p.revoked_before
    assert_equal NOW, Sesame::Native::Policy.new(p.to_native)[:revoked_before]
    ring = ring_with(1)
    ring.open(ring.seal(user_id: 1, now: NOW), now: NOW, policy: p) # not strictly before
    assert_raises(Sesame::Revoked) { ring.open(ring.seal(user_id: 1, now: NOW - 1), now: NOW, policy: p) }
    q = p.with(idle_timeout: 5)
    assert_equal 5, q.idle_timeout
    assert_equal Time.at(NOW), q.revoked_before
    assert_raises(ArgumentError) { p.with(bogus: 1) }
    assert_raises(TypeError) { Sesame::Policy.new(idle_timeout: "1") }
    assert_raises(ArgumentError) { Sesame::Policy.new(idle_timeout: -1) }
    assert_includes p.inspect, "idle_timeout=86400"
  end

  def test_should_refresh
    ring = ring_with(1)
    session = ring.open(ring.seal(user_id: 1, now: NOW), now: NOW)
    p = Sesame::Policy.new(refresh_after: 600)
    refute p.should_refresh?(session, NOW + 599)
    assert p.should_refresh?(session, NOW + 600)
    assert p.should_refresh?(session, Time.at(NOW + 601))
    refute Sesame::Policy.new(refresh_after: nil).should_refresh?(session, NOW + (10**9))
    assert Sesame::Policy.default.should_refresh?(session) # "now" is years after NOW
  end

  def test_durations_with_to_i
    duration = Object.new
    duration.define_singleton_method(:to_i) { 3600 }
    assert_equal 3600, Sesame::Policy.new(idle_timeout: duration).idle_timeout
  end
end

class SessionTest < Minitest::Test
  include SesameTestHelper

  def setup
    @ring = ring_with(1)
    @session = @ring.open(@ring.seal(user_id: 77, data: "x", now: NOW), now: NOW)
  end

  def test_value_semantics
    assert @session.frozen?
    assert @session.session_id.frozen?
    assert @session.data.frozen?
    assert_raises(FrozenError) { @session.instance_variable_set(:@user_id, 1) }
    assert_raises(NoMethodError) { Sesame::Session.new(1, "") }
    assert_equal %i[user_id session_id issued_at refreshed_at lifetime kind data], @session.members
    assert_equal 77, @session.to_h[:user_id]
    copy = Sesame::Session.build(user_id: 77, session_id: @session.session_id, issued_at: NOW,
                                 refreshed_at: Time.at(NOW), lifetime: nil, data: "x")
    assert_equal @session, copy
    assert_equal @session.hash, copy.hash
    case @session
    in { user_id: 77, data: "x" } then pass
    end
    assert_includes @session.inspect, "user_id=77"
  end

  def test_revoked_before
    refute @session.revoked_before?(nil)
    refute @session.revoked_before?(NOW)
    assert @session.revoked_before?(NOW + 1)
    assert @session.revoked_before?(Time.at(NOW + 1))
    assert_same @session, @session.check_revoked!(NOW)
    assert_same @session, @session.check_revoked!(nil)
    assert_raises(Sesame::Revoked) { @session.check_revoked!(Time.at(NOW + 1)) }
  end

  def test_build_and_write_native_validate
    s = Sesame::Session.build(user_id: 1, session_id: "\x01" * 16, issued_at: Time.at(NOW))
    assert_equal NOW, s.refreshed_at_i
    assert Sesame::Policy.default.should_refresh?(s, NOW + 900)
    assert_equal [nil, "".b], [s.lifetime, s.data]
    assert_raises(ArgumentError) { Sesame::Session.build(user_id: 1, session_id: "short", issued_at: NOW) }
    assert_raises(Sesame::DataTooLong) do
      Sesame::Session.build(user_id: 1, session_id: "\x01" * 16, issued_at: NOW, data: "x" * 200)
    end
    full = Sesame::Session.build(user_id: 2**64 - 1, session_id: "\xFF" * 16, issued_at: 2**64 - 2,
                                 lifetime: 2**64 - 2, data: "\x00" * 128)
    assert_equal [2**64 - 1, "\xFF".b * 16, 2**64 - 2, 2**64 - 2, 2**64 - 2, "\x00".b * 128],
                 [full.user_id, full.session_id, full.issued_at_i, full.refreshed_at_i, full.lifetime, full.data]
  end
end
