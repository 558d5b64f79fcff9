# frozen_string_literal: true

require_relative "test_helper"

class DeviceTagTest < Minitest::Test
  def test_the_core_vector
    assert_equal "7cd0ff31bf03249bdc80d49b7e7014ee", Sesame.device_tag("\0".b * 32).unpack1("H*")
  end

  def test_one_tag_per_secret_never_the_secret
    a = "a".b * 32
    b = "a".b * 31 + "b"
    assert_equal Sesame.device_tag(a), Sesame.device_tag(a)
    refute_equal Sesame.device_tag(a), Sesame.device_tag(b)
    refute_equal a.byteslice(0, 16), Sesame.device_tag(a)
    assert_equal Sesame::DEVICE_TAG_BYTES, Sesame.device_tag(a).bytesize
  end

  def test_bad_arguments
    assert_raises(ArgumentError) { Sesame.device_tag("short") }
    assert_raises(TypeError) { Sesame.device_tag(nil) }
  end
end
