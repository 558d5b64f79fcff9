# frozen_string_literal: true

module Sesame
  module Rails
    NO_DEVICE = "none"

    # The request's device secret (32 bytes, derived one-way by the core
    # from the device cookie, which only non-GET responses set, so a cache
    # never hands it to another browser), or nil for a request without a
    # device (a first visit). The one source of Rails' CSRF secret and of
    # the session guard's device tag.
    def self.csrf_secret(env)
      return env[ENV_CSRF_SECRET] if env.key?(ENV_CSRF_SECRET)

      auth = handle(env)
      env[ENV_CSRF_SECRET] = auth&.csrf_secret
    end
    ENV_CSRF_SECRET = "sesame.rails.csrf_secret"

    # What a GET response stamps into Rails' session: the core's public tag
    # of the device (NO_DEVICE without one).
    def self.device_tag(env)
      secret = csrf_secret(env)
      return NO_DEVICE unless secret

      Sesame.device_tag(secret).unpack1("H*")
    end
  end
end
