# frozen_string_literal: true

require "rails/generators"

module Sesame
  module Generators
    # rails generate sesame:install: config/initializers/sesame.rb with every
    # setting of config.sesame and its default.
    class InstallGenerator < ::Rails::Generators::Base
      desc "Creates config/initializers/sesame.rb (sesame sessions for Rails + Devise)"

      def create_initializer
        create_file "config/initializers/sesame.rb", <<~'RUBY'
          # frozen_string_literal: true

          # sesame carries the Devise login in a sealed, cache-proof cookie
          # (gem sesame-session; bindings/ruby/README.md, "Rails + Devise").
          Rails.application.configure do
            # The keys: a keyset made by `sesame keyset new`, from your secret store.
            config.sesame.keyset = ENV["SESAME_KEYSET"]
            # The session registry: sign-out is final, "your sessions", revoke.
            config.sesame.registry = "sqlite://#{Rails.root.join("db/sessions.db")}" # or "redis://host:6379/0?prefix=app"
            # config.sesame.registry_check = :every_request   # or :on_refresh
            # config.sesame.scope = :user                      # the Devise scope
            # config.sesame.idle_timeout = nil                 # nil: Devise.timeout_in (:timeoutable), else 24 h
            # config.sesame.absolute_lifetime = nil            # nil: 14 days
            # config.sesame.remember_for = nil                 # nil: Devise.remember_for
            # config.sesame.remember_me_idle_timeout = nil     # nil: remembered sessions never idle out
            # Logins in Rails' old session cookie move over until then; nil: ignored.
            # config.sesame.migrate_cookie_store_until = Time.utc(2027, 1, 31)
            # config.sesame.middleware = { on_theft: ->(session) { Rails.logger.warn("stolen: #{session.user_id}") } }
          end
        RUBY
      end
    end
  end
end
