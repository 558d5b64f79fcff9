# frozen_string_literal: true

module Sesame
  module Rails
    # Rails' own session cookie after the switch: it keeps flash and small
    # data, never the login nor a CSRF secret, and a copy that a shared cache
    # replays to another browser is harmless. Inserted after the session
    # store (after ActionDispatch::Flash) by the Railtie.
    #
    # * GET/HEAD responses write the session only if the request changed it,
    #   stamped with a one-way tag of the device (Rails.device_tag); non-GET
    #   responses (never cached) write it untagged, as the browser's own.
    # * A session stamped for another device (another browser's, replayed)
    #   is emptied before the app reads it. A stamp of "no device" keeps its
    #   data only for a request that has no device either, and never its
    #   flash: a flash shows only on the page of the browser it was set for.
    # * A login in an old session cookie (Warden's key, from before the
    #   switch) is moved into sesame on a non-GET request while
    #   config.sesame.migrate_cookie_store_until has not passed; on GET it is
    #   honoured read-only and the response writes no session cookie.
    #   After the window it is dropped.
    # * Devise's :timeoutable hook is skipped: sesame's idle timeout
    #   (config.sesame.idle_timeout, Devise.timeout_in by default) applies
    #   to browser sessions, and not to remember-me sessions.
    class SessionGuard
      TAG = "_sesame_device"
      SKIP = { skip: true }.freeze
      IGNORED = [TAG, "session_id"].freeze # not content: the stamp, and the store's own ID
      EMPTY = Marshal.dump({}).freeze

      def initialize(app, config = Rails.config)
        @app = app
        @config = config
      end

      def call(env)
        env["devise.skip_timeoutable"] = true
        request = ActionDispatch::Request.new(env)
        safe = request.get? || request.head?
        # Without a session cookie there is nothing to screen, and nothing
        # is loaded (decrypted) unless the app reads the session.
        before = stored_session?(env, request) ? screen(request.session, Rails.device_tag(env)) : EMPTY
        response = @app.call(env)
        migrate(env, request.session)
        finish(env, request, safe, before)
        response
      end

      private

      def legacy_keys
        scope = @config.scope
        ["warden.user.#{scope}.key", "warden.user.#{scope}.session"]
      end

      # Drops what another device's GET response left; returns a snapshot.
      def screen(session, tag)
        stamp = session[TAG]
        if stamp && stamp != tag
          session.clear
        elsif stamp == NO_DEVICE
          session.delete("flash")
        end
        legacy_keys.each { |k| session.delete(k) } unless @config.migrating?
        snapshot(session)
      end

      def stored_session?(env, request)
        key = env[::Rack::RACK_SESSION_OPTIONS]&.[](:key)
        key.nil? || request.cookies.key?(key)
      end

      def snapshot(session)
        Marshal.dump(session.to_hash.except(*IGNORED))
      rescue TypeError
        nil
      end

      # A non-GET request that was served on an old login: the login moves
      # into sesame unless the request ended it (sign-out) or made a new one.
      def migrate(env, session)
        scope_user = env.delete(ENV_MIGRATE) or return
        auth = Rails.handle(env)
        return unless auth

        Sesame::Warden.login(env, auth, scope_user.last, remember_me: false)
        legacy_keys.each { |k| session.delete(k) }
      rescue Sesame::Error => e
        Rails.logger&.error("sesame: could not move an old login into sesame: #{e.class.name} (#{e.message})")
      end

      def finish(env, request, safe, before)
        # A GET served on an old login writes no session, loaded or not (a
        # sign-in asks Rails to renew the session, which writes it anyway).
        return skip_write(env) if safe && env[ENV_LEGACY_READ_ONLY]

        session = request.session
        return unless session.respond_to?(:loaded?)
        # What Rails will write: a loaded session, or one its options force
        # (a sign-in's renew, expire_after); load that one to stamp it.
        return unless session.loaded? || (safe && forced?(env) && session.to_hash)

        request.commit_flash
        if safe
          if snapshot(session) == before
            skip_write(env)
          else
            session[TAG] = Rails.device_tag(env)
          end
        else
          session.delete(TAG)
        end
      end

      FORCING = %i[renew drop max_age expire_after defer].freeze

      def forced?(env)
        options = env[::Rack::RACK_SESSION_OPTIONS]
        !options.nil? && FORCING.any? { |k| options[k] }
      end

      def skip_write(env)
        options = env[::Rack::RACK_SESSION_OPTIONS]
        if options.nil? || options.frozen?
          env[::Rack::RACK_SESSION_OPTIONS] = (options || {}).merge(SKIP)
        else
          options[:skip] = true
        end
      end
    end
  end
end
