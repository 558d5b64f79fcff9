# frozen_string_literal: true

module Sesame
  module Rails
    # Rails' CSRF protection on the core's rule (docs/COOKIES.md, "CSRF
    # bound to the device"): prepended to ActionController::Base by the
    # Railtie.
    #
    # Rails keeps its CSRF secret in the session cookie, which Rails sets on
    # GET responses too: a cache that replays one hands that secret to
    # another browser, whose open forms then fail with 422. Here every token
    # Rails renders (form_with, csrf_meta_tags, form_authenticity_token) is
    # the core's, masked from the device's secret, and a request is judged
    # by the core's whole rule (auth.csrf_allowed?): a device's token must
    # be its own; a request without a device yet (a first visit's sign-in
    # or sign-up form) is judged by its Fetch-Metadata/Origin headers.
    # protect_from_forgery, its exceptions and skip_forgery_protection work
    # as before; Rails' own Origin check (forgery_protection_origin_check)
    # still applies on top.
    module Csrf
      # What anything else in Rails that asks for the raw secret gets
      # without a device: a secret no device has.
      NO_DEVICE_SECRET = ("\0" * 32).b.freeze

      private

      def masked_authenticity_token(session, form_options: {})
        auth = Rails.handle(request.env)
        return super unless auth

        auth.csrf_token || "" # no device yet: the Origin rule judges its POST
      end

      def verified_request?
        auth = Rails.handle(request.env)
        return super unless auth
        return true if !protect_against_forgery? || request.get? || request.head?

        valid_request_origin? && request_authenticity_tokens.any? { |token| auth.csrf_allowed?(token) }
      end

      def real_csrf_token(_session = nil)
        Rails.csrf_secret(request.env) || NO_DEVICE_SECRET
      end
    end
  end
end
