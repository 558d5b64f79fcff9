# frozen_string_literal: true

module Sesame
  # Argument conversions shared by the public classes. All of them are
  # allocation-free for the common inputs (Integer, nil, Time).
  module Convert
    U64_MAX = (2**64) - 1
    U32_MAX = (2**32) - 1
    EMPTY = "".b.freeze

    module_function

    # The SESAME_SESSION_KIND_* code of :browser or :remember_me.
    def kind(value)
      Native::KINDS.fetch(value) { raise ArgumentError, "kind must be :browser or :remember_me, not #{value.inspect}" }
    end

    # Unix seconds as an Integer from nil (the current time), an Integer, a
    # Time (or anything with #to_time, such as DateTime or
    # ActiveSupport::TimeWithZone). Fractions are truncated toward the past.
    def unix_time(value, name = "time")
      case value
      when nil then Process.clock_gettime(Process::CLOCK_REALTIME, :second)
      when Integer then u64(value, name)
      when Time then u64(value.to_i, name)
      else
        raise TypeError, "#{name} must be a Time or Integer unix seconds, not #{value.class}" unless value.respond_to?(:to_time)

        u64(value.to_time.to_i, name)
      end
    end

    # Seconds as an Integer; nil stays nil ("no limit" where allowed).
    # Accepts Integer and anything with #to_i that is a duration (e.g.
    # ActiveSupport::Duration), but not Float/String, to avoid surprises.
    def seconds(value, name)
      case value
      when nil then nil
      when Integer then u64(value, name)
      else
        raise TypeError, "#{name} must be Integer seconds or nil, not #{value.class}" unless value.respond_to?(:to_i) && !value.is_a?(String) && !value.is_a?(Float)

        u64(value.to_i, name)
      end
    end

    def u64(value, name)
      raise TypeError, "#{name} must be an Integer, not #{value.class}" unless value.is_a?(Integer)
      raise ArgumentError, "#{name} must be between 0 and 2**64-1, got #{value}" if value.negative? || value > U64_MAX

      value
    end

    def u32(value, name)
      raise TypeError, "#{name} must be an Integer, not #{value.class}" unless value.is_a?(Integer)
      raise ArgumentError, "#{name} must be between 0 and 2**32-1, got #{value}" if value.negative? || value > U32_MAX

      value
    end

    # A byte string or nil (nil and "" both mean "none").
    def bytes(value, name)
      return nil if value.nil?
      raise TypeError, "#{name} must be a String, not #{value.class}" unless value.is_a?(String)

      value
    end
  end
end
