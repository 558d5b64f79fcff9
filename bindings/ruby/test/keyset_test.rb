# frozen_string_literal: true

require_relative "test_helper"
require "json"

# Keysets against tests/vectors/keyset-v1.json (docs/FORMAT.md, "Keysets").
class KeysetTest < Minitest::Test
  include SesameTestHelper

  KEYSET_VECTORS = JSON.parse(File.read(File.join(REPO_ROOT, "tests", "vectors", "keyset-v1.json")))

  def context
    KEYSET_VECTORS.fetch("context") # text (its UTF-8 bytes), not hex
  end

  def test_vector_file_has_cases
    assert_operator KEYSET_VECTORS["valid"].size, :>=, 5
    assert_operator KEYSET_VECTORS["invalid"].size, :>=, 20
  end

  def test_every_valid_keyset_loads_with_its_ids_primary_and_tokens
    now = Integer(KEYSET_VECTORS.fetch("now"))
    user = Integer(KEYSET_VECTORS.fetch("user_id"))
    data = unhex(KEYSET_VECTORS.fetch("data"))
    KEYSET_VECTORS.fetch("valid").each do |v|
      name = v.fetch("name")
      assert_nil Sesame.keyset_problem(v.fetch("text")), name
      assert_nil Sesame.check_keyset!(v.fetch("text")), name
      [Sesame::Keyring.from_keyset(v.fetch("text")),
       Sesame::Keyring.new.add_key(77, KEY).load_keyset(v.fetch("text"))].each do |ring| # replaces key 77
        assert_equal v.fetch("usable_ids").sort, ring.key_ids, name
        v.fetch("primary") ? assert_equal(v.fetch("primary"), ring.primary_id, name) : assert_nil(ring.primary_id, name)
        v.fetch("tokens").each do |t|
          assert_equal t.fetch("key_id"), Sesame.token_key_id(t.fetch("token")), name
          s = ring.open(t.fetch("token"), context: context, now: now)
          assert_equal user, s.user_id, name
          assert_equal data, s.data, name
        end
        # A ring with a primary seals tokens that open; one without cannot seal.
        if v.fetch("primary")
          fresh = ring.seal(user_id: 5, now: now)
          assert_equal v.fetch("primary"), Sesame.token_key_id(fresh)
          assert_equal 5, ring.open(fresh, now: now).user_id
        else
          assert_raises(Sesame::NoPrimaryKey, name) { ring.seal(user_id: 5, now: now) }
        end
      end
    end
  end

  def invalid_text(v)
    return v.fetch("text") if v.key?("text")

    case v.fetch("generate")
    when "header, a newline, then 65,536 newlines" then "sesame-keyset/1\n" + ("\n" * 65_536)
    else flunk "unknown generated case #{v["generate"].inspect} in keyset-v1.json"
    end
  end

  def test_every_invalid_keyset_raises_invalid_keyset_with_line_and_reason
    KEYSET_VECTORS.fetch("invalid").each do |v|
      name = v.fetch("name")
      text = invalid_text(v)
      ring = Sesame::Keyring.new.add_key(5, KEY)
      token = ring.seal(user_id: 9, now: NOW)
      error = assert_raises(Sesame::InvalidKeyset, name) { ring.load_keyset(text) }
      assert_kind_of Sesame::KeyringError, error
      assert_equal 18, error.code
      assert_match(/\Asesame: invalid keyset: /, error.message, name)
      assert_includes error.message, "line #{v["line"]}", name if v.fetch("line").positive?
      assert_includes error.message, "record #{v["record"]}", name if v.fetch("record").positive?
      assert_includes error.message, "field #{v["field"]}", name if v.fetch("field").positive?
      # The message never carries key material (the base64 values of the text).
      text.scan(/(?:raw|master)=([A-Za-z0-9_\-+\/=]{8,})/).flatten.each do |secret|
        refute_includes error.message, secret, name
      end
      # The ring is unchanged.
      assert_equal [5], ring.key_ids, name
      assert_equal 9, ring.open(token, now: NOW).user_id, name

      assert_raises(Sesame::InvalidKeyset, name) { Sesame::Keyring.from_keyset(text) }
      assert_equal error.message, Sesame.keyset_error(text).message
      assert_raises(Sesame::InvalidKeyset, name) { Sesame.check_keyset!(text) }
    end
  end

  def test_from_env
    valid = KEYSET_VECTORS.fetch("valid").find { |v| v["name"].include?("one line") }.fetch("text")
    ring = Sesame::Keyring.from_env(env: { "SESAME_KEYSET" => valid })
    assert_equal [2, 3], ring.key_ids
    assert_equal 3, ring.primary_id
    assert_equal [2, 3], Sesame::Keyring.from_env("MY_KEYS", env: { "MY_KEYS" => valid }).key_ids

    unset = assert_raises(Sesame::InvalidKeyset) { Sesame::Keyring.from_env(env: {}) }
    assert_match(/SESAME_KEYSET is not set/, unset.message)
    empty = assert_raises(Sesame::InvalidKeyset) { Sesame::Keyring.from_env("K", env: { "K" => " " }) }
    assert_match(/K is empty/, empty.message)
    bad = assert_raises(Sesame::InvalidKeyset) { Sesame::Keyring.from_env("K", env: { "K" => "sesame-keyset/2" }) }
    assert_match(/\Asesame: keyset in K: invalid keyset: line 1/, bad.message)

    # The real ENV by default.
    ENV["SESAME_TEST_KEYSET"] = valid
    assert_equal [2, 3], Sesame::Keyring.from_env("SESAME_TEST_KEYSET").key_ids
  ensure
    ENV.delete("SESAME_TEST_KEYSET")
  end

  def test_type_errors
    assert_raises(TypeError) { Sesame::Keyring.new.load_keyset(nil) }
    assert_raises(TypeError) { Sesame::Keyring.from_keyset(:x) }
    assert_raises(TypeError) { Sesame.keyset_problem(1) }
  end
end
