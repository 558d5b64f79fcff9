# frozen_string_literal: true

module Sesame
  # What Keyring#open checks: an immutable value, safe to share between
  # threads (its native struct is written once, in the constructor).
  #
  #   Sesame::Policy.new                                 # the library's defaults
  #   Sesame::Policy.new(idle_timeout: 30 * 60, absolute_lifetime: 7 * 86_400)
  #   Sesame::Policy.new(idle_timeout: nil)              # nil: no limit
  #   Sesame::Policy.new(remember_me_absolute_lifetime: 90 * 86_400) # "remember me" for 90 days
  #
  # Browser sessions and "remember me" logins (Keyring#seal kind:) each have
  # their own idle timeout and absolute lifetime; by default remember-me
  # sessions have no idle timeout and last 30 days.
  #
  # Durations are Integer seconds (an ActiveSupport::Duration works too);
  # revoked_before is a Time or unix seconds (nil: none).
  class Policy
    FIELDS = %i[idle_timeout absolute_lifetime future_leeway revoked_before refresh_after
                remember_me_idle_timeout remember_me_absolute_lifetime].freeze

    # The library's default policy (sesame_policy_default), as Ruby values.
    DEFAULTS = begin
      native = Native::Policy.new
      Sesame.check!(Native.sesame_policy_default(native.pointer))
      FIELDS.to_h do |f|
        value = native[f]
        value = nil if value == Native::NO_LIMIT || (f == :revoked_before && value.zero?)
        [f, value]
      end.freeze
    end

    attr_reader(*FIELDS)

    def initialize(idle_timeout: DEFAULTS[:idle_timeout],
                   absolute_lifetime: DEFAULTS[:absolute_lifetime],
                   future_leeway: DEFAULTS[:future_leeway],
                   revoked_before: DEFAULTS[:revoked_before],
                   refresh_after: DEFAULTS[:refresh_after],
                   remember_me_idle_timeout: DEFAULTS[:remember_me_idle_timeout],
                   remember_me_absolute_lifetime: DEFAULTS[:remember_me_absolute_lifetime])
      @idle_timeout = Convert.seconds(idle_timeout, "idle_timeout")
      @absolute_lifetime = Convert.seconds(absolute_lifetime, "absolute_lifetime")
      @future_leeway = Convert.seconds(future_leeway, "future_leeway")
      @refresh_after = Convert.seconds(refresh_after, "refresh_after")
      @remember_me_idle_timeout = Convert.seconds(remember_me_idle_timeout, "remember_me_idle_timeout")
      @remember_me_absolute_lifetime = Convert.seconds(remember_me_absolute_lifetime, "remember_me_absolute_lifetime")
      cutoff = revoked_before.nil? ? 0 : Convert.unix_time(revoked_before, "revoked_before")
      @revoked_before = cutoff.zero? ? nil : Time.at(cutoff)

      @native = ::FFI::MemoryPointer.new(Native::POLICY_SIZE)
      struct = Native::Policy.new(@native)
      struct[:idle_timeout] = @idle_timeout || Native::NO_LIMIT
      struct[:absolute_lifetime] = @absolute_lifetime || Native::NO_LIMIT
      struct[:future_leeway] = @future_leeway || Native::NO_LIMIT
      struct[:revoked_before] = cutoff
      struct[:refresh_after] = @refresh_after || Native::NO_LIMIT
      struct[:remember_me_idle_timeout] = @remember_me_idle_timeout || Native::NO_LIMIT
      struct[:remember_me_absolute_lifetime] = @remember_me_absolute_lifetime || Native::NO_LIMIT
      freeze
    end

    # The policy the library recommends (idle 24 h, lifetime 14 days, leeway
    # 60 s, refresh after 15 min, no cut-off).
    def self.default
      DEFAULT
    end

    # A copy with some fields changed.
    def with(**changes)
      unknown = changes.keys - FIELDS
      raise ArgumentError, "unknown policy field(s): #{unknown.join(", ")}" unless unknown.empty?

      self.class.new(**to_h, **changes)
    end

    def to_h
      FIELDS.to_h { |f| [f, public_send(f)] }
    end

    def ==(other)
      other.is_a?(Policy) && other.to_h == to_h
    end
    alias eql? ==

    def hash
      to_h.hash
    end

    def inspect
      "#<Sesame::Policy #{to_h.map { |k, v| "#{k}=#{v.inspect}" }.join(" ")}>"
    end

    # Whether a session opened at +now+ is due for Keyring#refresh
    # (sesame_should_refresh: once it is refresh_after seconds old).
    def should_refresh?(session, now = nil)
      t = Convert.unix_time(now, "now")
      scratch = Scratch.current
      session.write_native(scratch.claims)
      rc = Native.sesame_should_refresh(@native, scratch.claims, t, scratch.out)
      raise Sesame.error_for(rc) unless rc.zero?

      scratch.out.get_int(0) != 0
    end

    # The native struct (for Keyring and the raw layer; read-only).
    def to_native
      @native
    end

    DEFAULT = new
  end
end
