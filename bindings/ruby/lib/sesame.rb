# frozen_string_literal: true

# Ruby binding of sesame: sealed, cookie-safe web session tokens
# (XAES-256-GCM), through the C ABI of libsesame and the ffi gem.
#
#   require "sesame"                      # gem sesame-session
#   ring = Sesame::Keyring.from_env        # the keyset in SESAME_KEYSET
#   token = ring.seal(user_id: 42)
#   ring.open(token).user_id # => 42
#
# The Rack middleware is Sesame::Rack::Session (require "sesame/rack/session").
require_relative "sesame/version"
require_relative "sesame/ffi"
require_relative "sesame/errors"
require_relative "sesame/convert"
require_relative "sesame/scratch"
require_relative "sesame/session"
require_relative "sesame/policy"
require_relative "sesame/keyring"
require_relative "sesame/keyset"
require_relative "sesame/cookie_rules"
require_relative "sesame/registry"
require_relative "sesame/csrf"
require_relative "sesame/device_tag"

module Sesame
  TOKEN_MAX = Native::TOKEN_MAX
  KEY_BYTES = Native::KEY_BYTES
  SESSION_ID_BYTES = Native::SESSION_ID_BYTES
  DATA_MAX = Native::DATA_MAX
  CONTEXT_MAX = Native::CONTEXT_MAX
  RING_CAPACITY = Native::RING_CAPACITY
  NO_LIMIT = Native::NO_LIMIT

  # The native library's version, e.g. "0.1.0".
  def self.library_version
    Native.sesame_version
  end

  # Where the native library was loaded from.
  def self.library_path
    Native.library_path
  end

  module Rack
    autoload :Session, File.expand_path("sesame/rack/session", __dir__)
  end
end

# Rails + Devise (config.sesame): loaded by itself when Rails is (Bundler
# requires gems after Rails), else with require "sesame/rails".
require_relative "sesame/rails" if defined?(::Rails::Railtie) && !defined?(Sesame::Rails)
