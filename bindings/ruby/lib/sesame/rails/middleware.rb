# frozen_string_literal: true

module Sesame
  module Rails
    # The Rack middleware the Railtie inserts before ActionDispatch::Cookies:
    # a Sesame::Rack::Session built from config.sesame. The keyring is read
    # at boot (a bad keyset fails the boot); the policy, which takes Devise's
    # timeout_in and remember_for, is built at the first request, once
    # config/initializers and the routes (Devise's mappings) are loaded.
    class Middleware
      def initialize(app, config = Rails.config)
        @app = app
        @config = config
        @keyring = config.build_keyring
        @session = nil
        @lock = Mutex.new
      end

      def call(env)
        (@session || build).call(env)
      end

      private

      def build
        @lock.synchronize do
          @session ||= Sesame::Rack::Session.new(@app, **@config.middleware_options(@keyring)).tap do |s|
            Rails.middleware = s
          end
        end
      end
    end
  end
end
