# frozen_string_literal: true

require_relative "test_helper"

# Every result code the library names has a class, and every one is raised
# by the binding when the library returns it: through the public API where a
# caller can reach it, through the raw layer (NULL pointers, misaligned
# storage, a failing random source) where only C can.
class ErrorsTest < Minitest::Test
  include SesameTestHelper

  EXPECTED = {
    1 => [Sesame::Malformed, Sesame::InvalidToken],
    2 => [Sesame::TooLong, Sesame::InvalidToken],
    3 => [Sesame::UnsupportedVersion, Sesame::InvalidToken],
    4 => [Sesame::UnknownKey, Sesame::InvalidToken],
    5 => [Sesame::AuthFailed, Sesame::InvalidToken],
    6 => [Sesame::IdleExpired, Sesame::SessionExpired],
    7 => [Sesame::LifetimeExpired, Sesame::SessionExpired],
    8 => [Sesame::IssuedInFuture, Sesame::SessionExpired],
    9 => [Sesame::Revoked, Sesame::SessionExpired],
    10 => [Sesame::BufferTooSmall, Sesame::UsageError],
    11 => [Sesame::NoPrimaryKey, Sesame::KeyringError],
    12 => [Sesame::RingFull, Sesame::KeyringError],
    13 => [Sesame::InvalidKey, Sesame::KeyringError],
    14 => [Sesame::DuplicateKeyId, Sesame::KeyringError],
    15 => [Sesame::DataTooLong, Sesame::UsageError],
    16 => [Sesame::ContextTooLong, Sesame::UsageError],
    17 => [Sesame::RandomFailed, Sesame::Error],
    18 => [Sesame::InvalidKeyset, Sesame::KeyringError],
    19 => [Sesame::InvalidCookieName, Sesame::UsageError],
    20 => [Sesame::RegistryUnavailable, Sesame::Error],
    21 => [Sesame::RegistryFull, Sesame::Error],
    22 => [Sesame::InvalidRegistryUrl, Sesame::UsageError],
    100 => [Sesame::NullArgument, Sesame::UsageError],
    101 => [Sesame::InvalidArgument, Sesame::UsageError],
    102 => [Sesame::InternalError, Sesame::Error]
  }.freeze

  def test_table_is_built_from_the_library
    assert_equal EXPECTED.keys, Sesame::ERRORS.keys
    EXPECTED.each do |code, (klass, parent)|
      assert_same klass, Sesame::ERRORS[code]
      assert_equal code, klass.code
      assert_equal Sesame::Native.sesame_result_name(code), klass.result_name
      assert_equal parent, klass.superclass
      assert klass < Sesame::Error
      error = klass.new
      assert_equal code, error.code
      assert_equal Sesame::Native.sesame_strerror(code), error.message
    end
    assert_equal "SESAME_OK", Sesame::RESULT_NAMES[0]
    assert_equal "ok", Sesame::MESSAGES[0]
  end

  def test_groups
    [Sesame::InvalidToken, Sesame::SessionExpired].each { |g| assert g < Sesame::TokenRejected }
    assert Sesame::TokenRejected < Sesame::Error
    assert Sesame::Error < StandardError
  end

  def test_unknown_code_is_a_plain_error_with_its_code
    (0..255).each do |code|
      next if Sesame::RESULT_NAMES.key?(code)

      error = assert_raises(Sesame::Error) { Sesame.check!(code) }
      assert_equal Sesame::Error, error.class
      assert_equal code, error.code
      assert_match(/unknown error \(code #{code}\)/, error.message)
    end
    error = assert_raises(Sesame::Error) { Sesame.check!(4_000_000) }
    assert_equal 4_000_000, error.code
    assert_nil Sesame.check!(0)
  end

  # --- each code, raised for real -------------------------------------------

  def setup
    @ring = ring_with(1)
    @token = @ring.seal(user_id: 7, now: NOW)
  end

  def raises(klass, &block)
    error = assert_raises(klass, &block)
    assert_equal klass, error.class
    assert_equal klass.code, error.code
    error
  end

  def test_malformed
    raises(Sesame::Malformed) { @ring.open("not a token", now: NOW) }
    raises(Sesame::Malformed) { @ring.open(@token.tr("A", "+"), now: NOW) } if @token.include?("A")
    raises(Sesame::Malformed) { @ring.open("", now: NOW) }
  end

  def test_too_long
    raises(Sesame::TooLong) { @ring.open("A" * (Sesame::TOKEN_MAX + 1), now: NOW) }
  end

  def test_unsupported_version
    bytes = b64decode(@token)
    bytes.setbyte(0, 2)
    raises(Sesame::UnsupportedVersion) { @ring.open(b64encode(bytes), now: NOW) }
  end

  def test_unknown_key
    other = ring_with(2).seal(user_id: 7, now: NOW)
    raises(Sesame::UnknownKey) { @ring.open(other, now: NOW) }
    raises(Sesame::UnknownKey) { @ring.promote(99) }
    raises(Sesame::UnknownKey) { @ring.retire(99) }
  end

  def test_auth_failed
    tampered = @token.dup
    i = tampered.size / 2
    tampered[i] = tampered[i] == "A" ? "B" : "A"
    raises(Sesame::AuthFailed) { @ring.open(tampered, now: NOW) }
    raises(Sesame::AuthFailed) { @ring.open(@token, context: "another browser", now: NOW) }
    raises(Sesame::AuthFailed) { Sesame::Keyring.new.add_key(1, "\x01" * 32).open(@token, now: NOW) }
  end

  def test_idle_expired
    policy = Sesame::Policy.new(idle_timeout: 100)
    @ring.open(@token, now: NOW + 99, policy: policy)
    raises(Sesame::IdleExpired) { @ring.open(@token, now: NOW + 100, policy: policy) }
  end

  def test_lifetime_expired
    token = @ring.seal(user_id: 7, lifetime: 50, now: NOW)
    @ring.open(token, now: NOW + 49)
    raises(Sesame::LifetimeExpired) { @ring.open(token, now: NOW + 50) }
    policy = Sesame::Policy.new(absolute_lifetime: 10, idle_timeout: nil)
    raises(Sesame::LifetimeExpired) { @ring.open(@token, now: NOW + 10, policy: policy) }
  end

  def test_issued_in_future
    @ring.open(@token, now: NOW - 60)
    raises(Sesame::IssuedInFuture) { @ring.open(@token, now: NOW - 61) }
  end

  def test_revoked
    raises(Sesame::Revoked) { @ring.open(@token, now: NOW, policy: Sesame::Policy.new(revoked_before: NOW + 1)) }
    session = @ring.open(@token, now: NOW)
    raises(Sesame::Revoked) { session.check_revoked!(NOW + 1) }
  end

  def test_buffer_too_small
    scratch = Sesame::Scratch.current
    rc = Sesame::Native.sesame_seal(@ring.unsafe_native_pointer, 1, 0, Sesame::NO_LIMIT, nil, 0, nil, 0, NOW,
                                    scratch.token, 10, scratch.token_len)
    raises(Sesame::BufferTooSmall) { Sesame.check!(rc) }
    storage = FFI::MemoryPointer.new(:uint8, 64)
    out = FFI::MemoryPointer.new(:pointer)
    raises(Sesame::BufferTooSmall) { Sesame.check!(Sesame::Native.sesame_keyring_init(storage, 64, out)) }
  end

  def test_no_primary_key
    raises(Sesame::NoPrimaryKey) { Sesame::Keyring.new.seal(user_id: 1) }
    @ring.retire(1)
    raises(Sesame::NoPrimaryKey) { @ring.seal(user_id: 1) }
  end

  def test_ring_full
    ring = Sesame::Keyring.new
    Sesame::RING_CAPACITY.times { |i| ring.add_key(i, Sesame::Keyring.generate_key) }
    raises(Sesame::RingFull) { ring.add_key(100, Sesame::Keyring.generate_key) }
    raises(Sesame::RingFull) { ring.derive_key(100, "master", purpose: "x") }
  end

  def test_invalid_key
    raises(Sesame::InvalidKey) { @ring.add_key(2, "\x01" * 31) }
    raises(Sesame::InvalidKey) { @ring.add_key(2, "\x01" * 33) }
    raises(Sesame::InvalidKey) { @ring.add_key(2, "\x00" * 32) }
    raises(Sesame::InvalidKey) { @ring.derive_key(2, "", purpose: "p") }
  end

  def test_duplicate_key_id
    raises(Sesame::DuplicateKeyId) { @ring.add_key(1, "\x02" * 32) }
    raises(Sesame::DuplicateKeyId) { @ring.derive_key(1, "master", purpose: "p") }
  end

  def test_data_too_long
    @ring.seal(user_id: 1, data: "x" * Sesame::DATA_MAX)
    raises(Sesame::DataTooLong) { @ring.seal(user_id: 1, data: "x" * (Sesame::DATA_MAX + 1)) }
  end

  def test_context_too_long
    @ring.seal(user_id: 1, context: "c" * Sesame::CONTEXT_MAX)
    raises(Sesame::ContextTooLong) { @ring.seal(user_id: 1, context: "c" * (Sesame::CONTEXT_MAX + 1)) }
    raises(Sesame::ContextTooLong) { @ring.open(@token, context: "c" * (Sesame::CONTEXT_MAX + 1), now: NOW) }
  end

  def test_random_failed
    calls = 0
    failing = FFI::Function.new(:int, %i[pointer pointer size_t]) do |_user, _buf, _len|
      calls += 1
      1
    end
    ptr = @ring.unsafe_native_pointer
    Sesame.check!(Sesame::Native.sesame_keyring_set_random(ptr, failing, nil))
    raises(Sesame::RandomFailed) { @ring.seal(user_id: 1) }
    raises(Sesame::RandomFailed) { @ring.refresh(@token, now: NOW) }
    assert_operator calls, :>=, 2
    Sesame.check!(Sesame::Native.sesame_keyring_set_random(ptr, nil, nil)) # back to the built-in generator
    assert_equal 1, @ring.open(@ring.seal(user_id: 1)).user_id
  end

  def test_null_argument
    n = Sesame::Native
    raises(Sesame::NullArgument) { Sesame.check!(n.sesame_keyring_add_key(nil, 1, KEY, 32)) }
    raises(Sesame::NullArgument) { Sesame.check!(n.sesame_keyring_add_key(@ring.unsafe_native_pointer, 2, nil, 32)) }
    raises(Sesame::NullArgument) { Sesame.check!(n.sesame_keyring_new(nil)) }
    raises(Sesame::NullArgument) { Sesame.check!(n.sesame_policy_default(nil)) }
    raises(Sesame::NullArgument) do
      Sesame.check!(n.sesame_open(@ring.unsafe_native_pointer, @token, @token.bytesize, nil, 0,
                                  Sesame::Policy.default.to_native, NOW, nil))
    end
    raises(Sesame::NullArgument) { Sesame.check!(n.sesame_check_revoked_before(nil, 0)) }
    n.sesame_keyring_free(nil) # NULL is ignored
  end

  def test_invalid_argument
    storage = FFI::MemoryPointer.new(:uint8, Sesame::Native::POLICY_SIZE + 16_384 + 64)
    out = FFI::MemoryPointer.new(:pointer)
    raises(Sesame::InvalidArgument) do
      Sesame.check!(Sesame::Native.sesame_keyring_init(storage + 1, 16_384, out))
    end
    claims = FFI::MemoryPointer.new(Sesame::Native::CLAIMS_SIZE)
    claims.put(:size_t, Sesame::Native::CLAIMS_DATA_LEN, Sesame::DATA_MAX + 1)
    raises(Sesame::InvalidArgument) { Sesame.check!(Sesame::Native.sesame_check_revoked_before(claims, 0)) }
  end

  # SESAME_INTERNAL_ERROR is a caught panic: no input reaches one (that is the
  # point), so this checks the mapping of the code the library names.
  def test_internal_error
    error = raises(Sesame::InternalError) { Sesame.check!(102) }
    assert_equal "SESAME_INTERNAL_ERROR", Sesame::InternalError.result_name
    assert_equal Sesame::Native.sesame_strerror(102), error.message
  end

  def test_errors_from_the_binding_itself
    assert_raises(TypeError) { @ring.open(nil) }
    assert_raises(TypeError) { @ring.seal(user_id: "1") }
    assert_raises(ArgumentError) { @ring.seal(user_id: -1) }
    assert_raises(ArgumentError) { @ring.seal(user_id: 2**64) }
    assert_raises(ArgumentError) { @ring.add_key(2**32, KEY) }
    assert_raises(TypeError) { @ring.seal(user_id: 1, now: "yesterday") }
    assert_raises(ArgumentError) { @ring.seal(user_id: 1, now: -5) }
    ring = ring_with(1)
    ring.close
    error = assert_raises(Sesame::KeyringClosed) { ring.seal(user_id: 1) }
    assert_nil error.code
    assert_kind_of Sesame::KeyringError, error
  end
end
