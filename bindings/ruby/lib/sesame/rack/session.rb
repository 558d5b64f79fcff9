# frozen_string_literal: true

require "digest"
require "securerandom"
require "rack"
require_relative "../../sesame"

module Sesame
  module Rack
    # Rack middleware: a sesame token in a cookie as the login session.
    #
    #   use Sesame::Rack::Session,
    #       keyring: KEYRING,                       # a Sesame::Keyring, shared by all threads
    #       policy: Sesame::Policy.new(idle_timeout: 2 * 3600),
    #       bind_to_device: true,
    #       revoked_before: ->(user_id) { User.find(user_id).sessions_revoked_at },
    #       on_logout_everywhere: ->(user_id, at) { User.find(user_id).update!(sessions_revoked_at: at) },
    #       on_logout: ->(session) { DENYLIST.add(session.session_id_hex, until: session_end) },
    #       session_revoked: ->(session) { DENYLIST.include?(session.session_id_hex) },
    #       logger: Logger.new($stderr)
    #
    # Per request:
    #
    # * env["sesame.session"] is the Sesame::Session, or nil when there is none
    #   (no cookie, or a cookie that is tampered, expired, revoked, from another
    #   browser, ... which is logged, cleared, and never an error page);
    # * env["sesame.auth"] is a Sesame::Rack::Session::Handle: #login(user_id,
    #   data:, remember_me:), #logout, #logout_everywhere, #session,
    #   #user_id, #logged_in?.
    #
    # A session due for a refresh (Policy#should_refresh?) is refreshed and the
    # new token set. Every response that sets or clears a cookie of this
    # middleware gets "Cache-Control: private, no-store" (replacing the app's:
    # a shared cache must never hand one user's Set-Cookie to another), and
    # every response to a request that carried a session gets "Vary: Cookie".
    # Responses that set no cookie keep the app's Cache-Control untouched.
    #
    # Cookies are "HttpOnly; Secure; SameSite=Lax; Path=/", with Max-Age only
    # for "remember me" sessions (otherwise they end with the browser session;
    # the policy's idle and absolute limits apply either way).
    #
    # bind_to_device: true binds each session to the browser: a random
    # long-lived device cookie (sesame_device, 32 random bytes) is set at login
    # if absent, and the token is sealed with the SHA-256 of its value as the
    # binding context. A session cookie copied into another browser (whose
    # device cookie differs, or is missing) fails to open. The device cookie is
    # only ever set together with the session cookie, so anonymous responses
    # stay cacheable.
    #
    # LOGOUT. sesame tokens are stateless: #logout deletes the cookie from
    # this browser, but a copy of it (stolen, or replayed) opens until it
    # expires. To make a logout final, record the session in on_logout (the
    # session ID is random and kept across refreshes) and answer true for it
    # in session_revoked; to end every session of a user (a lost laptop, a
    # password change), use #logout_everywhere with revoked_before.
    #
    # Thread-safe: the middleware keeps no per-request state; everything about
    # one request lives in its Handle.
    class Session
      ENV_SESSION = "sesame.session"
      ENV_HANDLE = "sesame.auth" # Rack SPEC: keys without a dot are reserved for CGI variables
      NO_STORE = "private, no-store"
      DEVICE_ID = /\A[A-Za-z0-9_-]{43}\z/.freeze # 32 random bytes, base64url, no padding
      DEVICE_MAX_AGE = 400 * 86_400 # the longest cookie lifetime browsers keep
      EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
      RACK3 = defined?(::Rack::Headers) ? true : false
      HEADERS = RACK3 ? ::Rack::Headers : ::Rack::Utils::HeaderHash
      SET_COOKIE = RACK3 ? "set-cookie" : "Set-Cookie"
      CACHE_CONTROL = RACK3 ? "cache-control" : "Cache-Control"
      VARY = RACK3 ? "vary" : "Vary"

      attr_reader :keyring, :policy, :cookie_name, :device_cookie_name, :remember_for, :logger

      # keyring::              a Sesame::Keyring (required)
      # policy::               a Sesame::Policy (default: the library's)
      # cookie_name::          the session cookie ("sesame"; "__Host-sesame" is stricter)
      # bind_to_device::       bind sessions to a per-browser device cookie (false)
      # device_cookie_name::   its name ("sesame_device")
      # revoked_before::       ->(user_id) { Time, Integer or nil }: the user's
      #                        "log out everywhere" cut-off from the app's store
      # on_logout_everywhere:: ->(user_id, Time) { store it }, called by Handle#logout_everywhere
      # on_logout::            ->(session) { ... }, called by Handle#logout with the session ending
      # session_revoked::      ->(session) { true if revoked }: a per-session deny list
      # remember_for::         token lifetime and Max-Age of "remember me"
      #                        sessions, seconds (default: the policy's absolute lifetime, or 30 days)
      # secure::               add Secure to cookies (true; turn off only for plain-HTTP development)
      # same_site::            "Lax" (or "Strict")
      # domain::               Domain attribute (nil: host-only)
      # logger::               gets info/warn lines about rejected cookies (never the token)
      # clock::                -> { Time or unix seconds }, for tests (default: the system clock)
      def initialize(app, keyring:, policy: Sesame::Policy.default, cookie_name: "sesame",
                     bind_to_device: false, device_cookie_name: "sesame_device",
                     revoked_before: nil, on_logout_everywhere: nil, on_logout: nil, session_revoked: nil,
                     remember_for: nil,
                     secure: true, same_site: "Lax", domain: nil, logger: nil, clock: nil)
        raise TypeError, "keyring must be a Sesame::Keyring" unless keyring.is_a?(Sesame::Keyring)
        raise TypeError, "policy must be a Sesame::Policy" unless policy.is_a?(Sesame::Policy)
        [revoked_before, on_logout_everywhere, on_logout, session_revoked, clock].each do |callable|
          raise TypeError, "callbacks must respond to #call" unless callable.nil? || callable.respond_to?(:call)
        end

        @app = app
        @keyring = keyring
        @policy = policy
        @cookie_name = cookie_name.to_s.dup.freeze
        @bind_to_device = bind_to_device ? true : false
        @device_cookie_name = device_cookie_name.to_s.dup.freeze
        @revoked_before = revoked_before
        @on_logout_everywhere = on_logout_everywhere
        @on_logout = on_logout
        @session_revoked = session_revoked
        @remember_for = Convert.seconds(remember_for || policy.absolute_lifetime || (30 * 86_400), "remember_for")
        attributes = +"; Path=/"
        attributes << "; Domain=#{domain}" if domain
        attributes << "; Secure" if secure
        attributes << "; HttpOnly; SameSite=#{same_site}"
        @attributes = attributes.freeze
        @logger = logger
        @clock = clock
      end

      def bind_to_device?
        @bind_to_device
      end

      def call(env)
        handle = Handle.new(self, env, now)
        env[ENV_HANDLE] = handle
        handle.load_session
        status, headers, body = @app.call(env)
        [status, handle.finish(headers), body]
      end

      # --- used by Handle ---------------------------------------------------

      # The unix time for this request.
      def now
        @clock ? Convert.unix_time(@clock.call, "clock") : Process.clock_gettime(Process::CLOCK_REALTIME, :second)
      end

      # The cut-off the app stored for this user, or nil.
      def revocation_cutoff(user_id)
        @revoked_before&.call(user_id)
      end

      def logout_everywhere_hook(user_id, at)
        @on_logout_everywhere&.call(user_id, at)
      end

      def logout_hook(session)
        @on_logout&.call(session)
      end

      def session_revoked?(session)
        @session_revoked ? @session_revoked.call(session) : false
      end

      def log(level, message)
        @logger&.public_send(level, "sesame: #{message}")
      end

      # Set-Cookie lines.
      def session_cookie(token, max_age)
        max_age ? "#{@cookie_name}=#{token}#{@attributes}; Max-Age=#{max_age}" : "#{@cookie_name}=#{token}#{@attributes}"
      end

      def clear_session_cookie
        "#{@cookie_name}=#{@attributes}; #{EXPIRED}"
      end

      def device_cookie(device_id)
        "#{@device_cookie_name}=#{device_id}#{@attributes}; Max-Age=#{DEVICE_MAX_AGE}"
      end

      # Everything about one request: the session it carried, and what the
      # response must do with the cookies. Made by the middleware; the app
      # reaches it as env["sesame.auth"].
      class Handle
        attr_reader :session, :now

        def initialize(middleware, env, now)
          @mw = middleware
          @env = env
          @now = now
          @cookies = ::Rack::Utils.parse_cookies(env)
          @had_cookie = false
          @action = nil # nil, :set or :clear
          @token = nil
          @device_id = nil
          @context = nil
          @set_device = false
          @session = nil
        end

        def user_id
          @session&.user_id
        end

        def inspect
          "#<Sesame::Rack::Session::Handle user_id=#{user_id.inspect} action=#{@action.inspect}>"
        end

        def logged_in?
          !@session.nil?
        end

        # Starts a new session for +user_id+ (a fresh token and session ID,
        # whatever the request carried: no session fixation). +data+: up to
        # Sesame::DATA_MAX bytes for the app. +remember_me+: the token gets
        # its own lifetime (the middleware's remember_for) and the cookie a
        # Max-Age; otherwise it lasts for the browser session. Returns the
        # new Sesame::Session.
        def login(user_id, data: nil, remember_me: false)
          ensure_device_id if @mw.bind_to_device?
          token = @mw.keyring.seal(user_id: user_id, data: data, context: context,
                                   lifetime: remember_me ? @mw.remember_for : nil, now: @now)
          session = @mw.keyring.open(token, context: context, now: @now, policy: @mw.policy)
          replace(token, session)
          @set_device = true if @mw.bind_to_device? # renew the device cookie's Max-Age too
          session
        end

        # Ends the session: the response clears the cookie, and on_logout (if
        # configured) gets the session so the app can deny-list it.
        def logout
          @mw.logout_hook(@session) if @session
          @session = nil
          @token = nil
          @action = :clear
          @env[ENV_SESSION] = nil
          nil
        end

        # Logs the user out of every session issued up to now, this one
        # included: calls on_logout_everywhere(user_id, cut-off Time) so the
        # app stores the cut-off that revoked_before will return, then clears
        # this cookie. Returns the cut-off (nil when not logged in). Sessions
        # issued in the same second as the cut-off are not revoked (the check
        # is "issued strictly before"), so a login right after one still works.
        def logout_everywhere
          return nil unless @session

          cutoff = Time.at(@now)
          @mw.logout_everywhere_hook(@session.user_id, cutoff)
          logout
          cutoff
        end

        # --- middleware side ------------------------------------------------

        def load_session
          token = @cookies[@mw.cookie_name]
          return if token.nil? || token.empty?

          @had_cookie = true
          if @mw.bind_to_device?
            @device_id = @cookies[@mw.device_cookie_name]
            @device_id = nil unless @device_id.is_a?(String) && DEVICE_ID.match?(@device_id)
            return reject("session cookie without a valid device cookie") unless @device_id
          end
          session = @mw.keyring.open(token, context: context, now: @now, policy: @mw.policy)
          cutoff = @mw.revocation_cutoff(session.user_id)
          session.check_revoked!(cutoff) if cutoff
          raise Sesame::Revoked, "session revoked by the application" if @mw.session_revoked?(session)
          @session = session
          refresh(token) if @mw.policy.should_refresh?(session, @now)
        rescue Sesame::TokenRejected => e
          reject("#{e.class.name} (#{e.message})", e.is_a?(Sesame::InvalidToken) ? :warn : :info)
        ensure
          @env[ENV_SESSION] = @session
        end

        # Applies the cookie changes to the app's response headers.
        def finish(headers)
          return headers unless @action || @set_device || @had_cookie

          headers = HEADERS[headers]
          set_cookie = []
          case @action
          when :set then set_cookie << @mw.session_cookie(@token, max_age)
          when :clear then set_cookie << @mw.clear_session_cookie
          end
          set_cookie << @mw.device_cookie(@device_id) if @set_device && @action == :set
          unless set_cookie.empty?
            append_set_cookie(headers, set_cookie)
            headers[CACHE_CONTROL] = NO_STORE
          end
          add_vary_cookie(headers)
          headers
        end

        private

        # The binding context: SHA-256 of the device cookie (nil when unbound).
        def context
          return nil unless @device_id

          @context ||= Digest::SHA256.digest(@device_id)
        end

        def ensure_device_id
          return if @device_id

          existing = @cookies[@mw.device_cookie_name]
          @device_id = existing.is_a?(String) && DEVICE_ID.match?(existing) ? existing : SecureRandom.urlsafe_base64(32)
        end

        # A session that opened stays valid for this request even if its
        # refresh fails for a reason that is not the token's (no primary key
        # after a botched rotation, the random source): logged, not a 500.
        def refresh(token)
          token, session = @mw.keyring.refresh(token, context: context, now: @now, policy: @mw.policy)
          replace(token, session)
          @set_device = true if @mw.bind_to_device?
        rescue Sesame::TokenRejected
          raise
        rescue Sesame::Error => e
          @mw.log(:error, "could not refresh a valid session: #{e.class.name} (#{e.message})")
        end

        def replace(token, session)
          @token = token
          @session = session
          @action = :set
          @env[ENV_SESSION] = session
        end

        def reject(why, level = :info)
          @mw.log(level, "ignoring the session cookie: #{why}")
          @session = nil
          @action = :clear
        end

        # Remember-me tokens (with their own lifetime) get a Max-Age up to the
        # end of that lifetime (or of the policy's, if sooner); others none.
        def max_age
          lifetime = @session.lifetime
          return nil unless lifetime

          absolute = @mw.policy.absolute_lifetime
          lifetime = absolute if absolute && absolute < lifetime
          remaining = @session.issued_at_i + lifetime - @now
          remaining.positive? ? remaining : 0
        end

        def append_set_cookie(headers, lines)
          existing = headers[SET_COOKIE]
          headers[SET_COOKIE] =
            if RACK3
              existing.nil? ? lines : Array(existing) + lines
            else
              lines.unshift(existing) if existing && !existing.empty?
              lines.join("\n")
            end
        end

        def add_vary_cookie(headers)
          vary = headers[VARY]
          if vary.nil? || vary.strip.empty?
            headers[VARY] = "Cookie"
          else
            fields = vary.split(",").map { |f| f.strip.downcase }
            headers[VARY] = "#{vary}, Cookie" unless fields.include?("cookie") || fields.include?("*")
          end
        end
      end
    end
  end
end
