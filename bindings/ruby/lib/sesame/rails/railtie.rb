# frozen_string_literal: true

require "rails/railtie"

module Sesame
  module Rails
    # Installs sesame in a Rails application: config.sesame (Config), the
    # middleware before ActionDispatch::Cookies, the session guard after the
    # session store, device-bound CSRF in ActionController::Base, and the
    # Warden serializer and strategy when Devise is loaded.
    class Railtie < ::Rails::Railtie
      config.sesame = Config.new

      initializer "sesame.middleware" do |app|
        conf = app.config.sesame
        Sesame::Rails.config = conf
        next unless conf.enabled

        app.middleware.insert_before ActionDispatch::Cookies, Sesame::Rails::Middleware, conf
        app.middleware.insert_after ActionDispatch::Flash, Sesame::Rails::SessionGuard, conf
      end

      initializer "sesame.action_controller" do |app|
        next unless app.config.sesame.enabled

        ActiveSupport.on_load(:action_controller_base) do
          prepend Sesame::Rails::Csrf
          include Sesame::Rails::ControllerHelpers
        end
      end

      initializer "sesame.warden" do |app|
        next unless app.config.sesame.enabled && defined?(::Devise)

        require_relative "../warden"
        Sesame::Warden.install!
      end
    end
  end
end
