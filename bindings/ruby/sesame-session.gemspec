# frozen_string_literal: true

# The gem is named sesame-session (the name "sesame" is taken on RubyGems);
# it is required as `require "sesame"`.
#
# It carries the native library: build it with `bash build-gem.sh` (or
# `rake gem`), which runs `make -C ../c lib` (cargo, offline), copies
# libsesame into a staging copy's lib/sesame/native/ and runs `gem build`
# there, giving a platform gem (e.g. sesame-session-0.1.0-x86_64-linux.gem)
# that needs no SESAME_LIB. A plain `gem build` here without that copy
# stops with this explanation instead of making a gem that cannot load.
require_relative "lib/sesame/version"

native = Dir.chdir(__dir__) { Dir["lib/sesame/native/*"] }
if native.empty? && defined?(Gem::Commands::BuildCommand)
  abort "sesame-session: lib/sesame/native/ has no libsesame, so this gem could not load. " \
        "Build the gem with `bash build-gem.sh` (or `rake gem`) from bindings/ruby: it builds " \
        "libsesame with cargo and packages it."
end

Gem::Specification.new do |spec|
  spec.name = "sesame-session"
  spec.version = Sesame::VERSION
  spec.summary = "Sealed, cookie-safe web session tokens (XAES-256-GCM) for Ruby and Rack"
  spec.description = <<~TEXT
    Ruby binding of libsesame through the ffi gem: a key ring with rotation
    and keysets, sealing and opening of session tokens with idle and absolute
    lifetimes, revocation cut-offs and browser binding, and a Rack middleware
    that keeps the login session in a cookie. Carries libsesame for its
    platform. Require it as "sesame".
  TEXT
  spec.authors = ["sesame contributors"]
  spec.license = "MIT OR Apache-2.0"
  spec.required_ruby_version = ">= 3.0"
  # The native library is built for one platform: say which.
  spec.platform = Gem::Platform.local unless native.empty?
  spec.files = Dir.chdir(__dir__) { Dir["lib/**/*.rb", "README.md"] } + native
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", ">= 1.15"
  spec.add_development_dependency "minitest", ">= 5"
  spec.add_development_dependency "rack", ">= 2.2"
  spec.metadata["rubygems_mfa_required"] = "true"
end
