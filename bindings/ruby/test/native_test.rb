# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"
require "fileutils"

class NativeTest < Minitest::Test
  include SesameTestHelper

  def test_library_is_loaded_once_from_a_known_place
    assert_equal "0.1.0", Sesame.library_version.split("-").first
    assert File.exist?(Sesame.library_path) || Sesame.library_path == "sesame", Sesame.library_path
  end

  def test_sizes_come_from_the_library
    assert_equal Sesame::Native.sesame_token_max, Sesame::TOKEN_MAX
    assert_equal Sesame::Native.sesame_key_bytes, Sesame::KEY_BYTES
    assert_equal Sesame::Native.sesame_session_id_bytes, Sesame::SESSION_ID_BYTES
    assert_equal Sesame::Native.sesame_data_max, Sesame::DATA_MAX
    assert_equal Sesame::Native.sesame_context_max, Sesame::CONTEXT_MAX
    assert_equal Sesame::Native.sesame_ring_capacity, Sesame::RING_CAPACITY
    # Today's values, as documented in include/sesame.h.
    assert_equal [311, 32, 16, 128, 128, 8],
                 [Sesame::TOKEN_MAX, Sesame::KEY_BYTES, Sesame::SESSION_ID_BYTES, Sesame::DATA_MAX,
                  Sesame::CONTEXT_MAX, Sesame::RING_CAPACITY]
  end

  def test_struct_layouts_match_the_library
    assert_equal Sesame::Native.sesame_claims_size, Sesame::Native::Claims.size
    assert_equal Sesame::Native.sesame_policy_size, Sesame::Native::Policy.size
    assert_equal 0, Sesame::Native::Claims.offset_of(:user_id)
    assert_equal 8, Sesame::Native::Claims.offset_of(:session_id)
  end

  def test_unix_now_agrees_with_ruby
    assert_in_delta Time.now.to_i, Sesame::Native.sesame_unix_now, 2
  end

  def test_candidates_order
    list = Sesame::Native.library_candidates({})
    assert_equal 3, list.size
    assert list[0][0].end_with?("lib/sesame/native/libsesame.so")
    assert list[1][0].end_with?("target/release/libsesame.so")
    assert_equal "sesame", list[2][0]
    assert_equal [["/x/libsesame.so", "SESAME_LIB"]], Sesame::Native.library_candidates("SESAME_LIB" => "/x/libsesame.so")
  end

  def test_load_error_lists_every_path_tried
    bogus = [["/nonexistent/a/libsesame.so", "first"], ["/nonexistent/b/libsesame.so", "second"],
             ["sesame-definitely-not-installed", "system library path"]]
    Sesame::Native.stub(:library_candidates, bogus) do
      error = assert_raises(LoadError) { Sesame::Native.load_library! }
      bogus.each { |path, origin| assert_includes error.message, "#{path} (#{origin})" }
      assert_includes error.message, "make -C bindings/c lib"
      assert_includes error.message, "sesame-session gem"
    end
    # The library loaded at require time is still the one in use.
    assert_equal 32, Sesame::Native.sesame_key_bytes
  end

  def test_sesame_lib_env_is_used_and_a_missing_one_is_a_clear_load_error
    lib = File.expand_path("../lib", __dir__)
    script = 'require "sesame"; print Sesame.library_path'
    out, status = Open3.capture2e({ "SESAME_LIB" => Sesame.library_path }, RbConfig.ruby, "-I#{lib}", "-e", script)
    assert status.success?, out
    assert_equal Sesame.library_path, out

    out, status = Open3.capture2e({ "SESAME_LIB" => "/nonexistent/libsesame.so" }, RbConfig.ruby, "-I#{lib}", "-e",
                                  'begin; require "sesame"; rescue LoadError => e; print e.message; exit 3; end')
    assert_equal 3, status.exitstatus, out
    assert_includes out, "/nonexistent/libsesame.so (SESAME_LIB): no such file"
  end

  # Outside a checkout (an installed gem without its native copy), the
  # repository's target/ is not a candidate, and the error says what to do.
  def test_outside_a_checkout_only_the_gem_copy_and_the_system_are_tried
    Dir.mktmpdir do |dir|
      FileUtils.cp_r(File.expand_path("../lib", __dir__), dir)
      FileUtils.rm_rf(File.join(dir, "lib", "sesame", "native"))
      script = 'require "sesame"; rescue LoadError => e; print e.message; exit 3'
      out, status = Open3.capture2e({ "SESAME_LIB" => nil }, RbConfig.ruby, "-I#{dir}/lib", "-e", "begin; #{script}; end")
      assert_equal 3, status.exitstatus, out
      assert_includes out, "#{dir}/lib/sesame/native/libsesame.so (the gem's bundled copy): no such file"
      assert_includes out, "(system library path)"
      refute_includes out, "target/release/libsesame.so (repository build"
      assert_includes out, "SESAME_LIB"
    end
  end
end
