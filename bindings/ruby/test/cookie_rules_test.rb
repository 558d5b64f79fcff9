# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"
require "rbconfig"

# Sesame::CookieRules and the raw sesame_request calls (the Rack middleware's
# own tests are in rack_session_test.rb).
class CookieRulesTest < Minitest::Test
  include SesameTestHelper

  N = Sesame::Native

  def test_defaults_and_counter
    rules = Sesame::CookieRules.new
    assert_equal "__Host-sesame-device", rules.device_cookie_name
    assert_equal "__Host-sesame-s-", rules.session_cookie_prefix
    assert_equal Sesame::Policy.default, rules.policy
    assert_equal 0, rules.detections
    assert rules.frozen?
    assert_raises(TypeError) { rules.dup }
    assert_raises(TypeError) { Sesame::CookieRules.new(policy: {}) }
    assert_match(/detections=0/, rules.inspect)
  end

  def test_invalid_cookie_names
    ["session", "SessionID", "csrftoken", "rack.session", "has space", "a;b", "x" * 65].each do |name|
      assert_raises(Sesame::InvalidCookieName, name) { Sesame::CookieRules.new(device_cookie_name: name) }
    end
    assert_raises(Sesame::InvalidCookieName) { Sesame::CookieRules.new(session_cookie_prefix: "_session_id") }
    # A device name that begins with the session prefix would read as a session cookie.
    assert_raises(Sesame::InvalidCookieName) do
      Sesame::CookieRules.new(device_cookie_name: "__Host-app-s-device", session_cookie_prefix: "__Host-app-s-")
    end
    assert_equal 19, Sesame::InvalidCookieName.code
    rules = Sesame::CookieRules.new(device_cookie_name: "__Host-app-device", session_cookie_prefix: "__Host-app-s-")
    assert_equal ["__Host-app-device", "__Host-app-s-"], [rules.device_cookie_name, rules.session_cookie_prefix]
  end

  # The load-time check (ffi.rb) compares the Ruby layout with
  # sesame_request_size(); this one also checks the offsets against the
  # header with the C compiler, when there is one.
  def test_request_size_is_the_librarys
    assert_equal N.sesame_request_size, N::Request.size
    assert_equal N.sesame_request_size, N::REQUEST_SIZE
  end

  def test_request_layout_matches_the_header
    cc = ENV.fetch("CC", "cc")
    skip "no C compiler (#{cc})" unless system("command -v #{cc} >/dev/null 2>&1")

    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "layout.c"), <<~C)
        #include <stddef.h>
        #include <stdio.h>
        #include "sesame.h"
        int main(void) {
          printf("%zu %zu %zu %zu %zu %zu %zu %d\\n", sizeof(sesame_request),
                 offsetof(sesame_request, session), offsetof(sesame_request, rejected),
                 offsetof(sesame_request, flags), offsetof(sesame_request, foreign_sessions),
                 offsetof(sesame_request, claims), offsetof(sesame_request, internal),
                 SESAME_REQUEST_INTERNAL_WORDS);
          return 0;
        }
      C
      exe = File.join(dir, "layout")
      out, status = Open3.capture2e(cc, "-std=c11", "-DSESAME_STD", "-I", File.join(REPO_ROOT, "include"),
                                    "-o", exe, File.join(dir, "layout.c"))
      assert status.success?, out
      expected = [N::Request.size, N::REQUEST_SESSION, N::REQUEST_REJECTED, N::REQUEST_FLAGS, N::REQUEST_FOREIGN,
                  N::REQUEST_CLAIMS, N::Request.offset_of(:internal), N::REQUEST_INTERNAL_WORDS]
      assert_equal expected, `#{exe}`.split.map(&:to_i)
    end
  end

  # Without a compiler: begin must write inside our struct and not a byte beyond.
  def test_begin_writes_exactly_the_struct
    ring = ring_with(1)
    rules = Sesame::CookieRules.new
    buffer = FFI::MemoryPointer.new(N::REQUEST_SIZE * 2)
    buffer.put_bytes(0, "\xA5".b * (N::REQUEST_SIZE * 2))
    rc = N.sesame_request_begin(ring.unsafe_native_pointer, rules.unsafe_native_pointer, "GET", 3, nil, 0, NOW, buffer)
    assert_equal 0, rc
    assert_equal "\xA5".b * N::REQUEST_SIZE, buffer.get_bytes(N::REQUEST_SIZE, N::REQUEST_SIZE)
    # The last internal word is written (zeroed) too: the struct is not bigger than ours either.
    refute_equal "\xA5".b * 8, buffer.get_bytes(N::REQUEST_SIZE - 8, 8)
    assert_equal N::SESSION_NONE, buffer.get_uint32(N::REQUEST_SESSION)
  end

  # The two calls by hand: a POST login, then the session on GET.
  def test_begin_and_finish
    ring = ring_with(1)
    rules = Sesame::CookieRules.new
    request = N::Request.new
    out = FFI::MemoryPointer.new(:char, N::HEADERS_CAP)
    len = FFI::MemoryPointer.new(:size_t)
    flags = FFI::MemoryPointer.new(:uint32)
    call = lambda do |method, cookie, action, user|
      cookie_ptr = cookie.empty? ? nil : FFI::MemoryPointer.from_string(cookie)
      assert_equal 0, N.sesame_request_begin(ring.unsafe_native_pointer, rules.unsafe_native_pointer, method,
                                             method.bytesize, cookie_ptr, cookie.bytesize, NOW, request)
      assert_equal 0, N.sesame_request_finish(ring.unsafe_native_pointer, rules.unsafe_native_pointer, request, action,
                                              user, 0, N::NO_LIMIT, nil, 0, NOW, out, N::HEADERS_CAP, len, flags)
      out.get_bytes(0, len.get(:size_t, 0))
    end
    lines = call.call("POST", "", N::ACTION_LOGIN, 42)
    assert_equal 42, request[:claims][:user_id]
    cookies = lines.scan(/^Set-Cookie: ([^;]+);/).flatten
    assert_equal 2, cookies.size
    assert_includes lines, "Cache-Control: private, no-store\n"
    assert_equal "", call.call("GET", cookies.join("; "), N::ACTION_KEEP, 0)
    assert_equal N::SESSION_VALID, request[:session]
    assert_equal 42, Sesame::Session.from_native(request.pointer, N::REQUEST_CLAIMS).user_id
  end

  # The Ruby wrapper of the two calls, as the middleware uses it.
  def test_request_objects
    ring = ring_with(1)
    rules = Sesame::CookieRules.new
    login = rules.request(ring, "POST", nil, NOW)
    assert_nil login.session
    assert_equal N::SESSION_NONE, login.state
    lines = login.finish(:login, user_id: 7, data: "d")
    assert_equal [7, "d"], [login.session.user_id, login.session.data]
    assert_raises(Sesame::UsageError) { login.finish }
    assert login.finished?
    login.release
    cookie = lines.scan(/^Set-Cookie: ([^;]+);/).flatten.join("; ")

    get = rules.request(ring, "GET", cookie, NOW + 1)
    assert_equal [N::SESSION_VALID, 7, 0], [get.state, get.session.user_id, get.foreign_sessions]
    assert_nil get.rejection
    assert_nil get.finish
    get.release
    assert_raises(Sesame::UsageError) { get.finish }

    expired = rules.request(ring, "GET", cookie, NOW + 86_401)
    assert_equal Sesame::IdleExpired, expired.rejection
    assert_nil expired.finish
    expired.release

    long = rules.request(ring, "GET", "#{cookie}; #{(1..2000).map { |i| "c#{i}=#{"v" * 10}" }.join("; ")}", NOW)
    assert long.truncated?
    long.release
    foreign = rules.request(ring, "POST", "#{cookie}; __Host-sesame-s-AAAAAAAAAAA=x", NOW)
    assert_equal 1, foreign.foreign_sessions
    assert foreign.log_detection?
    refute_includes foreign.detection_message, "=x"
    assert_includes foreign.finish, "__Host-sesame-s-AAAAAAAAAAA=; Max-Age=0"
    foreign.release
    assert_equal 1, rules.detections
    assert_raises(KeyError) { rules.request(ring, "GET", nil, NOW).finish(:nonsense) }
  end

  # The tokens the session registry fingerprints come from the core
  # (sesame_request_token), as tests/c_abi.rs checks them in Rust.
  def test_presented_and_issued_tokens
    ring = ring_with(1)
    rules = Sesame::CookieRules.new(policy: Sesame::Policy.new(refresh_after: 60))
    session_cookie = ->(lines) { lines.to_s[/^Set-Cookie: __Host-sesame-s-[^=]+=([^;]+);/, 1] }

    login = rules.request(ring, "POST", nil, NOW)
    assert_nil login.presented_token
    assert_nil login.issued_token
    lines = login.finish(:login, user_id: 7)
    token = login.issued_token
    refute_nil token
    assert_equal token, session_cookie.call(lines)
    assert_equal Encoding::US_ASCII, token.encoding
    assert_nil login.presented_token, "only between begin and finish"
    login.release
    assert_raises(Sesame::UsageError) { login.issued_token }
    cookie = lines.scan(/^Set-Cookie: ([^;]+);/).flatten.join("; ")

    valid = rules.request(ring, "GET", cookie, NOW + 1)
    assert_equal [N::SESSION_VALID, token, nil], [valid.state, valid.presented_token, valid.issued_token]
    assert_nil valid.finish
    valid.release

    # Due: begin refreshed, the issued token is there before finish and is what KEEP sends.
    due = rules.request(ring, "GET", cookie, NOW + 61)
    assert_equal N::SESSION_REFRESHED, due.state
    assert_equal token, due.presented_token
    issued = due.issued_token
    refute_nil issued
    refute_equal token, issued
    assert_equal issued, session_cookie.call(due.finish(:keep))
    due.release

    # KEEP_UNREFRESHED: the session is kept, the refreshed token not sent.
    grace = rules.request(ring, "GET", cookie, NOW + 62)
    assert_equal N::SESSION_REFRESHED, grace.state
    refute_nil grace.issued_token
    lines = grace.finish(:keep_unrefreshed)
    assert_nil session_cookie.call(lines)
    refute_match(/Set-Cookie/, lines.to_s)
    assert_equal 7, grace.session.user_id
    grace.release

    # A rejected cookie still presented its token; nothing is issued.
    expired = rules.request(ring, "GET", cookie, NOW + 86_401)
    assert_equal N::SESSION_REJECTED, expired.state
    assert_equal token, expired.presented_token
    assert_nil expired.issued_token
    expired.release
  end
end
