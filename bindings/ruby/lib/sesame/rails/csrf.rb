# frozen_string_literal: true

module Sesame
  module Rails
    # Rails' CSRF protection bound to the device (docs/COOKIES.md, "CSRF"):
    # prepended to ActionController::Base by the Railtie.
    #
    # Rails keeps its CSRF secret in the session cookie, which Rails sets on
    # GET responses too: a cache that replays one hands that secret to
    # another browser, whose open forms then fail with 422. Here the secret
    # is the device's (Sesame::Rails.csrf_secret), so nothing of CSRF lives
    # in a cookie a GET response sets; Rails' own masking, per-form tokens
    # and checks are unchanged. A request without a device (a first visit's
    # sign-in or sign-up form) is judged by the core's Fetch-Metadata/Origin
    # rule instead, as tokens cannot be bound to a device it does not have.
    module Csrf
      # A secret no device has: tokens rendered without a device never verify
      # against one (they are not checked at all while there is none).
      NO_DEVICE_SECRET = ("\0" * 32).b.freeze

      private

      def real_csrf_token(_session = nil)
        Rails.csrf_secret(request.env) || NO_DEVICE_SECRET
      end

      def verified_request?
        return super if Rails.csrf_secret(request.env)

        !protect_against_forgery? || request.get? || request.head? || Rails.csrf_origin_allowed?(request.env)
      end
    end
  end
end
