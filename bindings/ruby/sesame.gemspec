# frozen_string_literal: true

require_relative "lib/sesame/version"

Gem::Specification.new do |spec|
  spec.name = "sesame"
  spec.version = Sesame::VERSION
  spec.summary = "Sealed, cookie-safe web session tokens (XAES-256-GCM) for Ruby and Rack"
  spec.description = <<~TEXT
    Ruby binding of libsesame through the ffi gem: a key ring with rotation,
    sealing and opening of session tokens with idle and absolute lifetimes,
    revocation cut-offs and browser binding, and a Rack middleware that keeps
    the login session in a cookie.
  TEXT
  spec.authors = ["sesame contributors"]
  spec.license = "MIT OR Apache-2.0"
  spec.required_ruby_version = ">= 3.0"
  spec.files = Dir["lib/**/*.rb", "lib/sesame/native/*", "README.md"]
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", ">= 1.15"
  spec.add_development_dependency "minitest", ">= 5"
  spec.add_development_dependency "rack", ">= 2.2"
  spec.metadata["rubygems_mfa_required"] = "true"
end
