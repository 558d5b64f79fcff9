# frozen_string_literal: true

module Sesame
  # Whether a state-changing request may proceed judged by where it came
  # from (the core's origin rule, docs/COOKIES.md): for requests that carry
  # no device yet, whose CSRF token cannot be checked against a device
  # secret (CookieRules::Request#csrf_secret). Each header is its String
  # value, or nil when absent.
  #
  #   Sesame.csrf_origin_allowed?(method: "POST", sec_fetch_site: env["HTTP_SEC_FETCH_SITE"],
  #                               origin: env["HTTP_ORIGIN"], host: env["HTTP_HOST"])
  def self.csrf_origin_allowed?(method:, sec_fetch_site: nil, origin: nil, host: nil)
    method = method.to_s
    allowed = ::FFI::MemoryPointer.new(:int)
    check!(Native.sesame_csrf_origin_allowed(method, method.bytesize, sec_fetch_site, sec_fetch_site&.bytesize || 0,
                                             origin, origin&.bytesize || 0, host, host&.bytesize || 0, allowed))
    allowed.read_int == 1
  end
end
