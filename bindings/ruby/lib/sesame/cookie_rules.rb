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
    # The names the core uses when none are given.
    DEFAULT_DEVICE_COOKIE = "__Host-sesame-device"
    DEFAULT_SESSION_PREFIX = "__Host-sesame-s-"

    attr_reader :policy, :device_cookie_name, :session_cookie_prefix

    # policy::                the Sesame::Policy sessions are opened under (and
    #                         whose idle timeout bounds the session cookie's Max-Age)
    # device_cookie_name::    nil for "__Host-sesame-device"
    # session_cookie_prefix:: nil for "__Host-sesame-s-" (the session cookie's
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
      @device_cookie_name = device || DEFAULT_DEVICE_COOKIE
      @session_cookie_prefix = prefix || DEFAULT_SESSION_PREFIX
      freeze
    end

    # CookieRules own their native object; copies would free it twice.
    def initialize_copy(_other)
      raise TypeError, "Sesame::CookieRules cannot be copied; share the same instance"
    end

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
  end
end
