# frozen_string_literal: true

require "warden"
require_relative "rails"

module Sesame
  # Devise/Warden on sesame: warden.user (current_user) comes from the
  # sesame session, sign-in starts one, sign-out ends it in the registry.
  # Installed by the Railtie when Devise is loaded (Sesame::Warden.install!).
  #
  # Devise's traps, and what is done about them:
  # * sign-out: Devise asks warden.user before warden.logout; here that
  #   reads the sesame session (a serializer, not a strategy), so logout
  #   reaches SessionSerializer#delete and the registry ends the session:
  #   a copy of the cookie is refused from then on.
  # * the CSRF cleaner (after_authentication): the user of each request is
  #   fetched, not authenticated, so it runs only at a real sign-in, and the
  #   CSRF secret is the device's anyway (Sesame::Rails::Csrf).
  # * :trackable counts set_user events other than :fetch: sign-ins only.
  # * a password change: Devise signs the user in again (bypass_sign_in);
  #   a sign-in of the user already signed in here ends the user's other
  #   sessions (registry.revoke_others), and every token carries Devise's
  #   authenticatable_salt, so sessions from before a password
  #   change made elsewhere (a reset by e-mail) no longer open.
  # * remember me: a RememberMe session (its own limits: no idle timeout by
  #   default, remember_for), instead of Devise's remember cookie.
  module Warden
    # What every token carries of +user+'s credentials: Devise's
    # authenticatable_salt (the bcrypt salt, which a password change
    # replaces), as Devise keeps it in its own session cookie. Tokens are
    # encrypted: the client never sees it.
    def self.salt_tag(user)
      salt = user.respond_to?(:authenticatable_salt) ? user.authenticatable_salt.to_s.b : "".b
      salt.bytesize <= Sesame::DATA_MAX ? salt : salt.byteslice(0, Sesame::DATA_MAX)
    end

    # Starts a sesame session for +user+ (the one place a Devise sign-in
    # becomes a sesame login).
    def self.login(_env, auth, user, remember_me:)
      auth.login(user.id, data: salt_tag(user), remember_me: remember_me)
    end

    def self.install!
      ::Warden::Strategies.add(:sesame, Strategy)
      ::Warden::Proxy.prepend(ProxySerializer)
      ::Devise.warden do |manager|
        scope = Sesame::Rails.config.scope
        manager.default_strategies(:sesame, *(manager.default_strategies(scope: scope) - [:sesame]), scope: scope)
      end
    end

    # Warden::Proxy#session_serializer, sesame's when the middleware runs.
    module ProxySerializer
      def session_serializer
        @session_serializer ||= if Sesame::Rails.handle(@env)
                                  Sesame::Warden::SessionSerializer.new(@env)
                                else
                                  super
                                end
      end
    end

    # Tells Devise's failure app why there is no user: a browser session
    # that went idle ("Your session expired"), as Devise's :timeoutable did.
    # Once: Devise answers a timeout on GET by redirecting to the same page,
    # where the expired cookie (which a GET response cannot delete) comes
    # back; from then on it is plain "not signed in". Never signs anyone in.
    class Strategy < ::Warden::Strategies::Base
      TOLD = "sesame.timed_out"

      def valid?
        auth = Sesame::Rails.handle(env)
        !auth.nil? && auth.session.nil? && !auth.rejection.nil? && auth.rejection <= Sesame::IdleExpired &&
          !session[TOLD]
      end

      def authenticate!
        session[TOLD] = true
        fail(:timeout) # not fail!: the other strategies (the sign-in form) still run
      end

      def store?
        false
      end

      def clean_up_csrf?
        false
      end
    end

    # Where Warden keeps "who is signed in" for the sesame scope: the sesame
    # session. Other scopes stay in Rails' session (Warden's default).
    class SessionSerializer < ::Warden::SessionSerializer
      def fetch(scope)
        return super unless mine?(scope)

        auth = handle
        if (session = auth.session)
          current_user(scope, session)
        else
          legacy_user(scope)
        end
      end

      def store(user, scope)
        return super unless mine?(scope)
        return unless user

        auth = handle
        remember = remember_me!(user)
        from_devise_cookie = devise_remember_cookie?
        if from_devise_cookie && safe_request?
          # An old Devise remember cookie on GET: served read-only, moved
          # into sesame on the next non-GET request.
          env[Sesame::Rails::ENV_LEGACY_READ_ONLY] = true
          env["devise.skip_trackable"] = true
          return
        end
        again = auth.session&.user_id == user.id
        env.delete(Sesame::Rails::ENV_MIGRATE)
        Sesame::Warden.login(env, auth, user, remember_me: remember || from_devise_cookie)
        drop_legacy(scope)
        ::ActionDispatch::Request.new(env).cookie_jar.delete("remember_#{scope}_token") if from_devise_cookie
        auth.logout_others if again && auth.respond_to?(:logout_others) && Sesame::Rails.registry
      end

      def stored?(scope)
        return super unless mine?(scope)

        !handle.session.nil? || (Sesame::Rails.config.migrating? && super)
      end

      def delete(scope, user = nil)
        return super unless mine?(scope)

        env.delete(Sesame::Rails::ENV_MIGRATE)
        drop_legacy(scope)
        handle.logout
      end

      private

      def mine?(scope)
        scope == Sesame::Rails.config.scope && !handle.nil?
      end

      def handle
        Sesame::Rails.handle(env)
      end

      def model(scope)
        ::Devise.mappings[scope].to
      end

      # The user of an open sesame session, if its credentials tag still
      # matches (else the session is ended: the password changed).
      def current_user(scope, session)
        user = model(scope).find_by(id: session.user_id)
        if user && ActiveSupport::SecurityUtils.secure_compare(session.data.to_s.b, Sesame::Warden.salt_tag(user))
          return user
        end

        end_session(session)
        nil
      end

      def end_session(session)
        registry = Sesame::Rails.registry
        registry&.revoke(session.user_id, session.session_id_hex)
      rescue Sesame::Error => e
        Sesame::Rails.logger&.error("sesame: could not end a stale session: #{e.class.name} (#{e.message})")
      end

      # A login in Rails' session cookie from before the switch.
      def legacy_user(scope)
        return nil unless Sesame::Rails.config.migrating?

        key = session[key_for(scope)] or return nil
        method_name = "#{scope}_deserialize"
        user = respond_to?(method_name) ? send(method_name, key) : deserialize(key)
        return nil unless user

        if safe_request?
          env[Sesame::Rails::ENV_LEGACY_READ_ONLY] = true
        else
          env[Sesame::Rails::ENV_MIGRATE] = [scope, user]
        end
        user
      end

      def drop_legacy(scope)
        s = session
        return if s.respond_to?(:frozen?) && s.frozen?

        s.delete(Strategy::TOLD)
        s.delete(key_for(scope))
        s.delete("warden.user.#{scope}.session")
      end

      # Devise's remember-me choice, taken over: its own cookie is not set.
      def remember_me!(user)
        return false unless user.respond_to?(:remember_me)

        chosen = user.remember_me ? true : false
        user.remember_me = nil if user.respond_to?(:remember_me=)
        chosen
      end

      def devise_remember_cookie?
        strategy = env["warden"]&.winning_strategy
        defined?(::Devise::Strategies::Rememberable) && strategy.is_a?(::Devise::Strategies::Rememberable)
      end

      def safe_request?
        %w[GET HEAD].include?(env["REQUEST_METHOD"])
      end
    end
  end
end
