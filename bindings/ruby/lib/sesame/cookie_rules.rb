# frozen_string_literal: true

module Sesame
  # The cache-proof cookie rules of one app (docs/COOKIES.md), owning a
  # native sesame_cookie_rules: cookie names, Max-Ages and the policy
  # sessions are opened under (copied at construction), and a counter of
  # detections (requests that carried another browser's session cookie,
  # the evidence of a shared cache replaying responses). Immutable apart
  # from that counter; one instance serves every thread.
  #
  #   rules = Sesame::CookieRules.new(policy: Sesame::Policy.new(idle_timeout: 2 * 3600))
  #   rules.detections   # => 0, a counter to alert on
  #
  # Sesame::Rack::Session makes one (or takes one as rules:); it is freed by
  # sesame_cookie_rules_free when it is garbage-collected.
  class CookieRules
    attr_reader :policy, :device_cookie_name, :session_cookie_prefix

    # policy::                the Sesame::Policy sessions are opened under (and
    #                         whose idle timeout bounds the session cookie's Max-Age)
    # device_cookie_name::    nil for the core's default, "__Host-sesame-device"
    # session_cookie_prefix:: nil for the core's default, "__Host-sesame-s-" (the session cookie's
    #                         name is this plus 11 characters derived from the device ID)
    #
    # A name that is not an RFC 6265 token, is too long, collides with a
    # framework's own cookie (session, sessionid, csrftoken, _session_id,
    # remember_token, rack.session), or makes the two names overlap raises
    # Sesame::InvalidCookieName.
    def initialize(policy: Policy.default, device_cookie_name: nil, session_cookie_prefix: nil)
      raise TypeError, "policy must be a Sesame::Policy" unless policy.is_a?(Policy)

      device = name_arg(device_cookie_name, "device_cookie_name")
      prefix = name_arg(session_cookie_prefix, "session_cookie_prefix")
      out = ::FFI::MemoryPointer.new(:pointer)
      Sesame.check!(Native.sesame_cookie_rules_new(policy.to_native, device, device ? device.bytesize : 0,
                                                   prefix, prefix ? prefix.bytesize : 0, out))
      @rules = ::FFI::AutoPointer.new(out.read_pointer, Native.method(:sesame_cookie_rules_free))
      @policy = policy
      @device_cookie_name, @session_cookie_prefix = names_in_use
      freeze
    end

    # CookieRules own their native object; copies would free it twice.
    def initialize_copy(_other)
      raise TypeError, "Sesame::CookieRules cannot be copied; share the same instance"
    end

    # The names the core settled on (its defaults where none were given).
    def names_in_use
      pointers = Array.new(4) { ::FFI::MemoryPointer.new(:size_t) }
      Sesame.check!(Native.sesame_cookie_rules_names(@rules, *pointers))
      device, device_len, prefix, prefix_len = pointers.map { |p| p.read(:size_t) }
      [::FFI::Pointer.new(device).read_bytes(device_len).force_encoding(Encoding::UTF_8).freeze,
       ::FFI::Pointer.new(prefix).read_bytes(prefix_len).force_encoding(Encoding::UTF_8).freeze]
    end
    private :names_in_use

    # How many requests so far carried other browsers' session cookies
    # (every one, not only those logged): alert on a sustained rate.
    def detections
      count = Scratch.current.out
      Sesame.check!(Native.sesame_cookie_rules_detections(@rules, count))
      count.get_uint64(0)
    end

    def inspect
      "#<Sesame::CookieRules device=#{@device_cookie_name} session_prefix=#{@session_cookie_prefix} " \
        "detections=#{detections}>"
    end

    # Reads one request (sesame_request_begin): its method ("GET", "POST",
    # ...) and raw Cookie header (nil for none). Returns a Request: the
    # session (opened, and refreshed when due), then #finish with what the
    # app decided gives the response's header lines. Never raises for a bad
    # cookie (that is a rejected or absent session). +now+: Integer unix
    # seconds (nil: the clock).
    def request(keyring, method, cookie_header, now = nil)
      Request.new(self, keyring, method, cookie_header, now)
    end

    # The native rules pointer (an FFI::AutoPointer), for the raw layer only;
    # keep the returned object referenced while using it.
    def unsafe_native_pointer
      @rules
    end

    private

    def name_arg(value, what)
      return nil if value.nil?
      raise TypeError, "#{what} must be a String, not #{value.class}" unless value.is_a?(String) || value.is_a?(Symbol)

      value = value.to_s
      value.empty? ? nil : value.b.freeze
    end
  
    # One request between sesame_request_begin and sesame_request_finish
    # (docs/COOKIES.md), made by CookieRules#request. Its native buffers (the
    # sesame_request, a stable copy of the Cookie header the core reads until
    # finish, finish's outputs) come from a per-thread (per-fiber) pool and
    # go back with #release, so a request allocates no native memory.
    class Request
      POOL = :__sesame_request_buffers__
      COOKIE_COPY_MAX = 65_536 # the core reads 16 KiB of a Cookie header and flags the rest
      ACTIONS = { keep: Native::ACTION_KEEP, login: Native::ACTION_LOGIN, logout: Native::ACTION_LOGOUT,
                  reject: Native::ACTION_REJECT, keep_unrefreshed: Native::ACTION_KEEP_UNREFRESHED }.freeze
      NO_SUCH_TOKEN = Sesame::InvalidArgument.code # sesame_request_token: the request has no such token
      Buffers = Struct.new(:request, :cookie, :headers, :length, :flags, :token)

      # The Sesame::Session (nil unless the cookie opened; after a login
      # #finish, the new session); +now+ in unix seconds; #warnings: the
      # SESAME_FINISH_WARN_* flags of #finish.
      attr_reader :session, :now, :warnings

      def initialize(rules, keyring, method, cookie_header, now)
        @native_rules = rules.unsafe_native_pointer
        @ring = keyring.unsafe_native_pointer
        @now = now || Process.clock_gettime(Process::CLOCK_REALTIME, :second)
        @b = b = Thread.current[POOL]&.pop || Buffers.new(
          ::FFI::MemoryPointer.new(Native::REQUEST_SIZE), ::FFI::MemoryPointer.new(:char, 1024),
          ::FFI::MemoryPointer.new(:char, Native::HEADERS_CAP), ::FFI::MemoryPointer.new(:size_t),
          ::FFI::MemoryPointer.new(:uint32), ::FFI::MemoryPointer.new(:char, Native::TOKEN_MAX + 1)
        )
        @finished = false
        @warnings = 0
        method = method.to_s
        length = copy_cookie(cookie_header)
        Sesame.check!(Native.sesame_request_begin(@ring, @native_rules, method, method.bytesize, b.cookie, length,
                                                  @now, b.request))
        @state = b.request.get_uint32(Native::REQUEST_SESSION)
        valid = @state == Native::SESSION_VALID || @state == Native::SESSION_REFRESHED
        @session = valid ? Session.from_native(b.request, Native::REQUEST_CLAIMS) : nil
      end

      # Native::SESSION_NONE, _VALID, _REFRESHED or _REJECTED.
      attr_reader :state

      # The error class of a rejected cookie (e.g. Sesame::IdleExpired), or nil.
      def rejection
        return nil unless @state == Native::SESSION_REJECTED

        code = @b.request.get_uint32(Native::REQUEST_REJECTED)
        Sesame::ERRORS.fetch(code) { Sesame::Error }
      end

      # Other browsers' session cookies this request carried.
      def foreign_sessions
        @b.request.get_uint32(Native::REQUEST_FOREIGN)
      end

      # Whether to log #detection_message now (at most once a minute per rules).
      def log_detection?
        @b.request.get_uint32(Native::REQUEST_FLAGS).anybits?(Native::REQUEST_LOG_DETECTION)
      end

      # Whether the Cookie header was longer than the rules read.
      def truncated?
        @b.request.get_uint32(Native::REQUEST_FLAGS).anybits?(Native::REQUEST_TRUNCATED)
      end

      # The detection warning to log (never a cookie value).
      def detection_message
        out = ::FFI::MemoryPointer.new(:char, Native::DETECTION_MESSAGE_CAP)
        Sesame.check!(Native.sesame_request_detection_message(@native_rules, @b.request, out,
                                                              Native::DETECTION_MESSAGE_CAP, @b.length))
        out.get_bytes(0, @b.length.get(:size_t, 0)).force_encoding(Encoding::UTF_8)
      end

      # The CSRF secret (32 bytes, binary) of the device this request
      # carried, or nil when it carried none (then judge it with
      # Sesame.csrf_origin_allowed?). Use it as the framework's CSRF secret
      # instead of one kept in a cookie set on GET responses, which a shared
      # cache replays to other browsers (docs/COOKIES.md).
      def csrf_secret
        b = @b or raise UsageError, "sesame: this request was released"
        out = ::FFI::MemoryPointer.new(:uint8, Native::CSRF_SECRET_BYTES)
        present = ::FFI::MemoryPointer.new(:int)
        Sesame.check!(Native.sesame_request_csrf_secret(b.request, out, Native::CSRF_SECRET_BYTES, present))
        present.read_int == 1 ? out.get_bytes(0, Native::CSRF_SECRET_BYTES) : nil
      end

      # A fresh CSRF form token (86 characters) for the browser's device,
      # or nil without a device (#csrf_allowed? then judges the origin).
      # After a :login or :logout #finish, the new device's.
      def csrf_token
        b = @b or raise UsageError, "sesame: this request was released"
        Sesame.check!(Native.sesame_request_csrf_token(@ring, b.request, b.token, Native::TOKEN_MAX + 1, b.length))
        length = b.length.get(:size_t, 0)
        length.zero? ? nil : b.token.get_bytes(0, length).force_encoding(Encoding::US_ASCII)
      end

      # The core's whole CSRF rule for this request: GET and HEAD pass; with
      # a device, +token+ (from the form or a header) must be one of its
      # #csrf_token values; without one, the request's Sec-Fetch-Site,
      # Origin and Host headers are judged (Sesame.csrf_origin_allowed?).
      def csrf_allowed?(token:, sec_fetch_site: nil, origin: nil, host: nil)
        b = @b or raise UsageError, "sesame: this request was released"
        token = token.to_s
        allowed = ::FFI::MemoryPointer.new(:int)
        Sesame.check!(Native.sesame_request_csrf_check(b.request, token.empty? ? nil : token, token.bytesize,
                                                       sec_fetch_site, sec_fetch_site&.bytesize || 0,
                                                       origin, origin&.bytesize || 0, host, host&.bytesize || 0,
                                                       allowed))
        allowed.read_int == 1
      end

      # The token of the session cookie this request carried (the one begin
      # opened, refreshed or rejected), or nil: none, or after #finish. For
      # the session registry, which fingerprints tokens; the core alone
      # knows which cookie is the session's (it is named after the device).
      def presented_token
        token(Native::TOKEN_PRESENTED)
      end

      # The token the response sets, or nil: right after begin, the one it
      # refreshed (state SESSION_REFRESHED); after a :login #finish, the new
      # session's. Sent by #finish(:keep); #finish(:keep_unrefreshed) keeps
      # the session without sending it.
      def issued_token
        token(Native::TOKEN_ISSUED)
      end

      # What the app decided (+action+: :keep, :login, :logout, :reject, or
      # :keep_unrefreshed: keep the session but do not send the token begin
      # refreshed, the session registry's :grace), once per request. For :login, +user_id+, +kind+
      # (:browser or :remember_me), +lifetime+ (seconds; nil: the policy's) and +data+ make the new session (#session). Returns the
      # response's "Name: value\n" header lines, or nil for none: add every
      # Set-Cookie, append Vary to the app's, let the others replace the app's.
      def finish(action = :keep, user_id: 0, kind: :browser, lifetime: nil, data: nil)
        raise UsageError, "sesame: this request is finished already" if @finished || @b.nil?

        code = ACTIONS.fetch(action)
        kind_code = Convert.kind(kind)
        b = @b
        @finished = true
        Sesame.check!(Native.sesame_request_finish(@ring, @native_rules, b.request, code, user_id, kind_code,
                                                   lifetime || Native::NO_LIMIT, data, data ? data.bytesize : 0,
                                                   @now, b.headers, Native::HEADERS_CAP, b.length, b.flags))
        @warnings = b.flags.get_uint32(0)
        @session = Session.from_native(b.request, Native::REQUEST_CLAIMS) if action == :login
        length = b.length.get(:size_t, 0)
        length.zero? ? nil : b.headers.get_bytes(0, length)
      end

      def finished?
        @finished
      end

      # Returns the native buffers to the pool; the request is unusable after.
      def release
        b = @b
        return unless b

        @b = nil
        (Thread.current[POOL] ||= []) << b
      end

      private

      def token(which)
        b = @b or raise UsageError, "sesame: this request was released"
        code = Native.sesame_request_token(b.request, which, b.token, Native::TOKEN_MAX + 1, b.length)
        return nil if code == NO_SUCH_TOKEN

        Sesame.check!(code)
        b.token.get_bytes(0, b.length.get(:size_t, 0)).force_encoding(Encoding::US_ASCII)
      end

      def copy_cookie(header)
        return 0 if header.nil?

        length = header.bytesize
        length = COOKIE_COPY_MAX if length > COOKIE_COPY_MAX
        @b.cookie = ::FFI::MemoryPointer.new(:char, length) if @b.cookie.size < length
        @b.cookie.put_bytes(0, header, 0, length)
        length
      end
    end
  end
end
