# frozen_string_literal: true

module Sesame
  # Every failure reported by libsesame. #code is the library's result code
  # (nil only for errors raised by the binding itself, such as a closed ring).
  #
  #   Sesame::Error
  #   ├── Sesame::TokenRejected        a cookie that must be treated as "no session"
  #   │   ├── Sesame::InvalidToken     Malformed, TooLong, UnsupportedVersion, UnknownKey, AuthFailed
  #   │   └── Sesame::SessionExpired   IdleExpired, LifetimeExpired, IssuedInFuture, Revoked
  #   ├── Sesame::KeyringError         NoPrimaryKey, RingFull, InvalidKey, DuplicateKeyId, InvalidKeyset, KeyringClosed
  #   ├── Sesame::UsageError           DataTooLong, ContextTooLong, BufferTooSmall,
  #   │                                NullArgument, InvalidArgument
  #   ├── Sesame::RandomFailed
  #   └── Sesame::InternalError
  #
  # The leaf classes and their codes are built at load time from the
  # library's own table (sesame_result_name / sesame_strerror), so a code the
  # library adds later still gets a class (under Sesame::Error) and a message.
  class Error < StandardError
    # The library's result code for this class (nil for Sesame::Error itself
    # and the grouping classes).
    def self.code
      nil
    end

    attr_reader :code

    def initialize(message = nil, code: self.class.code)
      @code = code
      super(message || Sesame.default_message(code))
    end
  end

  # Any token that does not give a session: treat the request as logged out.
  class TokenRejected < Error; end
  # The token is not one of ours, was tampered with, or its key is gone.
  class InvalidToken < TokenRejected; end
  # The token is genuine but no longer (or not yet) acceptable.
  class SessionExpired < TokenRejected; end
  # A key ring operation failed (a configuration problem).
  class KeyringError < Error; end
  # The caller passed something the library cannot take.
  class UsageError < Error; end

  # Where each library name goes; names not listed go directly under Error.
  ERROR_PARENTS = {
    "SESAME_MALFORMED" => InvalidToken,
    "SESAME_TOO_LONG" => InvalidToken,
    "SESAME_UNSUPPORTED_VERSION" => InvalidToken,
    "SESAME_UNKNOWN_KEY" => InvalidToken,
    "SESAME_AUTH_FAILED" => InvalidToken,
    "SESAME_IDLE_EXPIRED" => SessionExpired,
    "SESAME_LIFETIME_EXPIRED" => SessionExpired,
    "SESAME_ISSUED_IN_FUTURE" => SessionExpired,
    "SESAME_REVOKED" => SessionExpired,
    "SESAME_NO_PRIMARY_KEY" => KeyringError,
    "SESAME_RING_FULL" => KeyringError,
    "SESAME_INVALID_KEY" => KeyringError,
    "SESAME_DUPLICATE_KEY_ID" => KeyringError,
    "SESAME_INVALID_KEYSET" => KeyringError,
    "SESAME_INVALID_COOKIE_NAME" => UsageError,
    "SESAME_INVALID_REGISTRY_URL" => UsageError,
    "SESAME_BUFFER_TOO_SMALL" => UsageError,
    "SESAME_DATA_TOO_LONG" => UsageError,
    "SESAME_CONTEXT_TOO_LONG" => UsageError,
    "SESAME_NULL_ARGUMENT" => UsageError,
    "SESAME_INVALID_ARGUMENT" => UsageError
  }.freeze

  # Raised by a Keyring after #close (not a library code).
  class KeyringClosed < KeyringError
    def initialize(message = "sesame: this key ring was closed", code: nil)
      super
    end
  end

  # code => class, code => message, code => "SESAME_..." name: from the library.
  ERRORS = {}
  MESSAGES = {}
  RESULT_NAMES = {}

  # Result codes are small; 0..255 covers today's 0-17 and 100-102 with room.
  (0..255).each do |code|
    name = Native.sesame_result_name(code)
    next unless name

    RESULT_NAMES[code] = name.dup.freeze
    MESSAGES[code] = Native.sesame_strerror(code).dup.freeze
    next if code == Native::OK

    class_name = name.delete_prefix("SESAME_").split("_").map(&:capitalize).join # AUTH_FAILED -> AuthFailed
    # A future name that collides with one of the classes above gets its own.
    class_name = "#{class_name}Code#{code}" if const_defined?(class_name, false)
    klass = const_set(class_name, Class.new(ERROR_PARENTS.fetch(name, Error)))
    klass.define_singleton_method(:code) { code }
    klass.define_singleton_method(:result_name) { name }
    ERRORS[code] = klass
  end
  ERRORS.freeze
  MESSAGES.freeze
  RESULT_NAMES.freeze

  def self.default_message(code)
    return "sesame error" if code.nil?

    MESSAGES.fetch(code) { "unknown error (code #{code})" }
  end

  # The exception for a result code (not raised): a typed class for codes the
  # library names, plain Sesame::Error (with #code) for any other.
  def self.error_for(code)
    klass = ERRORS[code]
    klass ? klass.new : Error.new("unknown error (code #{code})", code: code)
  end

  # Raises the exception for a non-zero result code; returns nil for 0.
  def self.check!(code)
    raise error_for(code) unless code.zero?
  end
end
