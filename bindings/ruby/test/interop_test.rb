# frozen_string_literal: true

require_relative "test_helper"

# tests/vectors/format-v1.txt, and round trips with the Rust interop CLI
# (examples/interop.rs): tokens made by Rust open in Ruby and vice versa.
class VectorsTest < Minitest::Test
  include SesameTestHelper

  OPEN_ANYTHING = Sesame::Policy.new(idle_timeout: nil, absolute_lifetime: nil, future_leeway: nil)

  def test_vectors_file_has_vectors
    assert_operator vectors.size, :>=, 4
  end

  def test_every_vector_opens_with_its_key_and_context_to_the_exact_claims
    vectors.each do |v|
      ring = Sesame::Keyring.new.add_key(Integer(v["key_id"]), unhex(v["key"]))
      context = unhex(v["context"])
      token = v["token"]
      assert_equal Integer(v["token_chars"]), token.size, v["name"]
      now = Integer(v["refreshed_at"])
      s = ring.open(token, context: context, now: now, policy: OPEN_ANYTHING)
      assert_equal Integer(v["user_id"]), s.user_id, v["name"]
      assert_equal v["session_id"], s.session_id_hex, v["name"]
      assert_equal Integer(v["issued_at"]), s.issued_at_i, v["name"]
      assert_equal Integer(v["issued_at"]), s.issued_at.to_i, v["name"]
      assert_equal Integer(v["refreshed_at"]), s.refreshed_at_i, v["name"]
      assert_equal v["data"], hex(s.data), v["name"]
      # The C ABI writes "no lifetime" as SESAME_NO_LIMIT (UINT64_MAX), so a
      # token whose own lifetime is exactly 2**64-1 s reads as nil (no limit),
      # which is what such a lifetime means in practice.
      expected_lifetime = v["lifetime"] == "none" ? nil : Integer(v["lifetime"])
      expected_lifetime = nil if expected_lifetime == Sesame::NO_LIMIT
      if expected_lifetime.nil?
        assert_nil s.lifetime, v["name"]
      else
        assert_equal expected_lifetime, s.lifetime, v["name"]
      end

      # ...and fails under any other context, and under another key.
      other = context.empty? ? "x" : ""
      assert_raises(Sesame::AuthFailed, v["name"]) { ring.open(token, context: other, now: now, policy: OPEN_ANYTHING) }
      wrong = Sesame::Keyring.new.add_key(Integer(v["key_id"]), "\x5a" * 32)
      assert_raises(Sesame::AuthFailed, v["name"]) { wrong.open(token, context: context, now: now, policy: OPEN_ANYTHING) }
    end
  end

  def test_vector_refreshes_in_ruby_and_opens_again
    v = vectors.first
    ring = Sesame::Keyring.new.add_key(Integer(v["key_id"]), unhex(v["key"]))
    now = Integer(v["refreshed_at"]) + 86_400
    token, session = ring.refresh(v["token"], context: unhex(v["context"]), now: now, policy: OPEN_ANYTHING)
    assert_equal v["session_id"], session.session_id_hex
    assert_equal now, session.refreshed_at_i
    out, ok = interop("open", v["key_id"], v["key"], token, v["context"], now)
    assert ok, out
    assert_includes out, "session_id=#{v["session_id"]}"
    assert_includes out, "refreshed_at=#{now}"
  end
end

class InteropTest < Minitest::Test
  include SesameTestHelper

  CASES = [
    # key_id, user_id, context, data, lifetime
    [1, 123_456, "", "", nil],
    [300, 42, "device:5b1f0c", "role=admin", nil],
    [0, 0, "", "", 3600],
    [4_294_967_295, 2**64 - 1, "\xFF".b * 128, "\x00".b * 128, nil]
  ].freeze

  def key_hex
    hex(KEY)
  end

  # A different context of a valid length.
  def other(context)
    context.empty? ? "!" : context.b[0..-2] + (context.b[-1] == "!" ? "?" : "!")
  end

  def parse(line)
    line.split(" ").to_h { |kv| kv.split("=", 2) }
  end

  def test_ruby_seals_rust_opens
    CASES.each do |key_id, user_id, context, data, lifetime|
      ring = Sesame::Keyring.new.add_key(key_id, KEY)
      token = ring.seal(user_id: user_id, context: context, data: data, lifetime: lifetime, now: NOW)
      session = ring.open(token, context: context, now: NOW)
      out, ok = interop("open", key_id, key_hex, token, hex(context), NOW)
      assert ok, out
      claims = parse(out)
      assert_equal user_id.to_s, claims["user_id"]
      assert_equal session.session_id_hex, claims["session_id"]
      assert_equal NOW.to_s, claims["issued_at"]
      assert_equal NOW.to_s, claims["refreshed_at"]
      assert_equal lifetime ? lifetime.to_s : "none", claims["lifetime"]
      assert_equal hex(data), claims["data"]

      out, ok = interop("open", key_id, key_hex, token, hex(other(context)), NOW)
      refute ok
      assert_match(/\Aerror=#{Sesame::AuthFailed.code} /, out)
    end
  end

  def test_rust_seals_ruby_opens
    CASES.each do |key_id, user_id, context, data, _lifetime|
      args = ["seal", key_id, key_hex, user_id, hex(context), NOW]
      args << hex(data) unless data.empty?
      token, ok = interop(*args)
      assert ok, token
      ring = Sesame::Keyring.new.add_key(key_id, KEY)
      session = ring.open(token, context: context, now: NOW)
      assert_equal user_id, session.user_id
      assert_equal NOW, session.issued_at_i
      assert_equal NOW, session.refreshed_at_i
      assert_nil session.lifetime
      assert_equal data.b, session.data
      assert_raises(Sesame::AuthFailed) { ring.open(token, context: other(context), now: NOW) }

      # A Ruby refresh of a Rust token opens in Rust, same session.
      fresh, refreshed = ring.refresh(token, context: context, now: NOW + 1000)
      assert_equal session.session_id, refreshed.session_id
      out, ok = interop("open", key_id, key_hex, fresh, hex(context), NOW + 1000)
      assert ok, out
      assert_equal session.session_id_hex, parse(out)["session_id"]
      assert_equal (NOW + 1000).to_s, parse(out)["refreshed_at"]
    end
  end

  def test_rust_reports_the_same_error_codes
    ring = Sesame::Keyring.new.add_key(1, KEY)
    token = ring.seal(user_id: 1, now: NOW)
    other_key = hex("\x07" * 32)
    out, = interop("open", 1, other_key, token, "", NOW)
    assert_match(/\Aerror=#{Sesame::AuthFailed.code} /, out)
    out, = interop("open", 2, key_hex, token, "", NOW)
    assert_match(/\Aerror=#{Sesame::UnknownKey.code} /, out)
    out, = interop("open", 1, key_hex, "garbage", "", NOW)
    assert_match(/\Aerror=#{Sesame::Malformed.code} /, out)
  end
end
