# frozen_string_literal: true

module Sesame
  module Rails
    # config.sesame: what the Railtie builds the middleware from. Durations
    # are seconds or ActiveSupport::Duration; nil takes the default named.
    #
    # keyset::                   the keyset's text (e.g. ENV["SESAME_KEYSET"]); or
    # keyring::                  a Sesame::Keyring
    # registry::                 a store URL ("sqlite:///path.db", "redis://...") or a
    #                            Sesame::Registry; nil: stateless tokens (sign-out then
    #                            only ends this browser's cookie: not recommended)
    # registry_check::           :every_request (default: a sign-out or revoke holds
    #                            on the next request) or :on_refresh
    # scope::                    the Devise scope sesame carries (:user)
    # idle_timeout::             browser sessions' idle limit (Devise.timeout_in when
    #                            the scope's model is :timeoutable, else the core's)
    # absolute_lifetime::        browser sessions' absolute limit (the core's, 14 days)
    # remember_for::             remember-me sessions' absolute limit (Devise.remember_for)
    # remember_me_idle_timeout:: remember-me sessions' idle limit (nil: none, as Devise)
    # refresh_after::            token refresh interval (the core's, 15 minutes)
    # migrate_cookie_store_until:: a Time: until then a Devise login in Rails' old
    #                            session cookie is honoured and moved into sesame
    #                            (nil: old logins are ignored)
    # middleware::               more keywords for Sesame::Rack::Session (on_theft:, ...)
    # logger::                   default Rails.logger
    # enabled::                  false: the Railtie installs nothing
    class Config
      ATTRIBUTES = %i[keyset keyring registry registry_check scope idle_timeout absolute_lifetime remember_for
                      remember_me_idle_timeout refresh_after migrate_cookie_store_until middleware logger
                      enabled].freeze
      attr_accessor(*ATTRIBUTES)

      def initialize
        @registry_check = :every_request
        @scope = :user
        @middleware = {}
        @enabled = true
      end

      # Whether an old-style login (Rails' session cookie) is still honoured at +now+.
      def migrating?(now = Time.now)
        !migrate_cookie_store_until.nil? && now.to_i < migrate_cookie_store_until.to_i
      end

      def build_keyring
        return keyring if keyring
        raise ArgumentError, "sesame: set config.sesame.keyset (e.g. ENV[\"SESAME_KEYSET\"]) or config.sesame.keyring" if keyset.to_s.empty?

        Sesame::Keyring.from_keyset(keyset)
      end

      # Browser and remember-me limits, Devise's where Devise has them.
      def limits
        defaults = Sesame::Policy::DEFAULTS
        idle = seconds(idle_timeout) || devise_timeout || defaults[:idle_timeout]
        # A token is refreshed (its idle clock reset) only when due: due
        # well within the idle timeout, or an active user would time out.
        refresh = seconds(refresh_after) || [defaults[:refresh_after], idle && [idle / 2, 1].max].compact.min
        {
          idle_timeout: idle, absolute_lifetime: seconds(absolute_lifetime) || defaults[:absolute_lifetime],
          remember_for: seconds(remember_for) || devise_remember_for || (14 * 86_400),
          remember_me_idle_timeout: seconds(remember_me_idle_timeout), refresh_after: refresh
        }
      end

      def build_policy
        l = limits
        Sesame::Policy.new(idle_timeout: l[:idle_timeout], absolute_lifetime: l[:absolute_lifetime],
                           refresh_after: l[:refresh_after], remember_me_idle_timeout: l[:remember_me_idle_timeout],
                           remember_me_absolute_lifetime: l[:remember_for])
      end

      # The store opened with the policy's limits (an entry lives as long as
      # its token can).
      def build_registry(policy = build_policy)
        return registry if registry.is_a?(Sesame::Registry)
        return nil if registry.to_s.empty?

        Sesame::Registry.new(registry.to_s, policy: policy,
                                            touch_interval: [[60, limits[:refresh_after].to_i].min, 1].max)
      end

      # The keywords of Sesame::Rack::Session.
      def middleware_options(keyring = build_keyring)
        policy = build_policy
        { keyring: keyring, policy: policy, registry: build_registry(policy), registry_check: registry_check,
          remember_for: limits[:remember_for], logger: logger || Rails.logger }.merge(middleware || {})
      end

      private

      def seconds(value)
        value&.to_i
      end

      def devise_model
        return nil unless defined?(::Devise)

        mapping = ::Devise.mappings[scope]
        mapping ? mapping.to : scope.to_s.camelize.constantize
      rescue NameError
        nil
      end

      def devise_timeout
        model = devise_model
        model.timeout_in.to_i if model.respond_to?(:devise_modules) && model.devise_modules.include?(:timeoutable)
      end

      def devise_remember_for
        ::Devise.remember_for.to_i if defined?(::Devise)
      end
    end
  end
end
