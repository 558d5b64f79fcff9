# frozen_string_literal: true

# TEMPORARY, until the core's CSRF API (sesame_request_csrf_secret,
# sesame_csrf_origin_allowed) is merged: stand-ins with the same names.
require "openssl"
require "securerandom"

module Sesame
  unless respond_to?(:csrf_origin_allowed?)
    def self.csrf_origin_allowed?(method:, sec_fetch_site:, origin:, host:)
      return true if %w[GET HEAD OPTIONS TRACE].include?(method.to_s.upcase)
      return %w[same-origin none].include?(sec_fetch_site) if sec_fetch_site
      return true if origin.nil?

      origin.sub(%r{\Ahttps?://}i, "").casecmp?(host.to_s)
    end
  end

  module Rack
    class Session
      class Handle
        SHIM_KEY = SecureRandom.random_bytes(32)
        unless method_defined?(:csrf_secret)
          def csrf_secret
            name = Regexp.escape(@mw.rules.device_cookie_name)
            value = @env["HTTP_COOKIE"].to_s[/(?:\A|;\s*)#{name}=([A-Za-z0-9_-]{22})(?:;|\z)/, 1] or return nil
            OpenSSL::HMAC.digest("SHA256", SHIM_KEY, value)
          end
        end
      end
    end
  end
end
