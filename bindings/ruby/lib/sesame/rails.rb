# frozen_string_literal: true

module Sesame
  module Rails; end # defined first: sesame.rb then does not load this file again
end
require_relative "../sesame" unless defined?(Sesame::NO_LIMIT) # (Sesame::Rack::Session is autoloaded)
require_relative "rails/config"
require_relative "rails/device"
require_relative "rails/middleware"
require_relative "rails/session_guard"
require_relative "rails/csrf"
require_relative "rails/controller"

module Sesame
  # Rails + Devise on sesame (require "sesame/rails", or nothing: required
  # by `require "sesame"` when Rails is loaded first, as Bundler does).
  #
  # The login lives in sesame's token cookie (Sesame::Rack::Session, placed
  # before ActionDispatch::Cookies); Rails' own session keeps CSRF-free
  # flash and small data, bound to the device when a GET response writes it
  # (Sesame::Rails::SessionGuard); CSRF tokens are checked against the
  # device's secret (Sesame::Rails::Csrf); Devise's user comes from the
  # sesame session (Sesame::Warden). Configure in config/application.rb:
  #
  #   config.sesame.keyset = ENV["SESAME_KEYSET"]
  #   config.sesame.registry = "sqlite:///var/lib/app/sessions.db"
  #
  # Everything else has defaults taken from Devise (timeout_in, remember_for).
  module Rails
    ENV_LEGACY_READ_ONLY = "sesame.rails.legacy_read_only"
    ENV_MIGRATE = "sesame.rails.migrate"

    class << self
      # The Sesame::Rails::Config of the application (config.sesame).
      attr_accessor :config

      # The Sesame::Rack::Session the application runs (nil before boot).
      attr_accessor :middleware

      # The application's Sesame::Registry, or nil.
      def registry
        middleware&.registry
      end

      # How many requests carried other browsers' session cookies (a shared
      # cache replays responses): alert on a sustained rate.
      def detections
        middleware ? middleware.rules.detections : 0
      end

      def handle(env)
        env[Sesame::Rack::Session::ENV_HANDLE]
      end

      def logger
        config&.logger || (::Rails.logger if defined?(::Rails) && ::Rails.respond_to?(:logger))
      end
    end
  end
end

require_relative "rails/railtie" if defined?(::Rails::Railtie)
