# frozen_string_literal: true

require "rack"
require_relative "../../sesame"

module Sesame
  module Rack
    # Rack middleware: a sesame token in a cookie as the login session, under
    # the core's cache-proof cookie rules (docs/COOKIES.md). The rules are in
    # libsesame; per request this class makes one sesame_request_begin
    # (method, raw Cookie header) before the app and one
    # sesame_request_finish (what the app decided) after it, and merges the
    # header lines finish returns into the response.
    #
    #   use Sesame::Rack::Session,
    #       keyring: KEYRING,                       # a Sesame::Keyring, shared by all threads
    #       policy: Sesame::Policy.new(idle_timeout: 2 * 3600),
    #       revoked_before: ->(user_id) { User.find(user_id).sessions_revoked_at },
    #       on_logout_everywhere: ->(user_id, at) { User.find(user_id).update!(sessions_revoked_at: at) },
    #       on_detection: ->(foreign) { METRICS.increment("sesame.foreign_session_cookies") },
    #       logger: Logger.new($stderr)
    #
    # Per request, env["sesame.session"] is the Sesame::Session or nil (no
    # cookie, or one that is tampered, expired, revoked, another browser's:
    # never an error page), and env["sesame.auth"] a Handle: #login(user_id,
    # data:, remember_me:), #logout, #logout_everywhere, #session, #user_id,
    # #logged_in?; with a registry also #logout_others, #sessions, #revoke.
    #
    # With registry: (a Sesame::Registry, docs/REGISTRY.md) the app needs
    # none of the callbacks above: logins are registered (device: the
    # User-Agent, ip: REMOTE_ADDR, kind from remember_me), every refresh is
    # recorded (registry.refresh), logout ends the session in the store, and
    # revoked, unknown and stolen sessions are refused:
    #
    #   use Sesame::Rack::Session, keyring: KEYRING,
    #       registry: Sesame::Registry.new("sqlite:///var/lib/app/sessions.db"),
    #       registry_check: :on_refresh,          # or :every_request
    #       on_theft: ->(session) { ALERTS.notify("session #{session.session_id_hex} stolen") }
    #
    # registry_check: :every_request checks each request's token (one store
    # round trip): a revocation holds on the next request. :on_refresh (the
    # default) asks the store only when the token is due for a refresh
    # (Policy#refresh_after, 15 min by default), so a revocation, "log out
    # other sessions" or an eviction reaches a browser within one refresh
    # interval; there is no per-request peek. In both modes a request whose
    # token was refreshed makes one round trip before the app,
    # registry.refresh(presented, issued), whose verdict is the check. The
    # tokens come from the core (CookieRules::Request#presented_token,
    # #issued_token): no Ruby code names or parses the session cookie.
    # Logout is final in both modes: it ends the session in the store, and a
    # copy of the logged-out token, which still opens locally, is refused at
    # its next refresh at the latest.
    #
    # The rules, in short: sessions are bound to a device cookie that only
    # non-GET responses set; the session cookie is named after the device,
    # so a cached GET response replayed to another browser lands under a
    # name that browser never reads (a "detection", logged and counted);
    # GET/HEAD responses never set the device cookie nor delete a cookie;
    # login and logout by POST rotate the device; a response that sets or
    # deletes a cookie carries no-store cache headers.
    #
    # Thread-safe: one request lives in its Handle and its
    # Sesame::CookieRules::Request (native buffers from a per-thread pool).
    class Session
      ENV_SESSION = "sesame.session"
      ENV_HANDLE = "sesame.auth" # Rack SPEC: keys without a dot are reserved for CGI variables
      RACK3 = defined?(::Rack::Headers) ? true : false
      WARNINGS = { # SESAME_FINISH_WARN_* => what is logged, once per process
        Native::FINISH_WARN_UNPROTECTED_GET_LOGIN =>
          "a login on GET from a browser without a device cookie set both cookies on a cacheable response, " \
          "which a shared cache could hand to someone else; start logins with a POST (docs/COOKIES.md, " \
          "\"The GET login caveat\"). Logged once per process.",
        Native::FINISH_WARN_GET_LOGOUT =>
          "a logout on GET cannot delete a cookie safely: it set nothing, and the browser stays logged in; " \
          "log out with a POST. Logged once per process."
      }.freeze
      REMOVED = %i[cookie_name bind_to_device secure same_site domain].freeze
      REGISTRY_CHECKS = %i[on_refresh every_request].freeze
      @warned = 0
      @lock = Mutex.new

      # Whether the FINISH_WARN_* +flag+ is to be logged (the first time only).
      def self.warn_once?(flag)
        @lock.synchronize { @warned.nobits?(flag) && (@warned |= flag) }
      end

      # Forgets the once-per-process warnings (for tests).
      def self.reset_warnings!
        @lock.synchronize { @warned = 0 }
      end

      attr_reader :keyring, :rules, :remember_for, :logger

      # keyring::               a Sesame::Keyring (required)
      # policy::                a Sesame::Policy (default: the library's)
      # device_cookie_name::    the device cookie ("__Host-sesame-device")
      # session_cookie_prefix:: the session cookies' prefix ("__Host-sesame-s-")
      # rules::                 a Sesame::CookieRules instead of the three above
      # revoked_before::        ->(user_id) { Time, Integer or nil }: the user's
      #                         "log out everywhere" cut-off from the app's store
      # on_logout_everywhere::  ->(user_id, Time) { store it }, called by Handle#logout_everywhere
      # on_logout::             ->(session) { ... }, called by Handle#logout with the session ending
      # session_revoked::       ->(session) { true if revoked }: a per-session deny list
      # on_detection::          ->(foreign_count) { ... }: a request carried other
      #                         browsers' session cookies (a shared cache replays responses)
      # remember_for::          the token lifetime of "remember me" logins, seconds
      #                         (default nil: the policy's remember_me_absolute_lifetime
      #                         alone; a remember-me login is sealed as kind :remember_me,
      #                         judged by the policy's remember-me limits)
      # logger::                warn: detections, GET login/logout; error; info:
      #                         rejected cookies. Never a token. nil: warn and
      #                         error lines go to Kernel#warn.
      # clock::                 -> { Time or unix seconds }, for tests
      # registry::              a Sesame::Registry, or a store URL ("sqlite:///path", "redis://host:port/db",
      #                         opened with this middleware's policy's limits); nil: stateless tokens
      # registry_check::        :on_refresh (default) or :every_request
      # registry_fail_open::    true: serve on the token alone while the store
      #                         cannot answer (default false: refuse, log at error)
      # on_theft::              ->(session) { ... }: the registry saw a superseded
      #                         token after its successor (two parties hold the
      #                         session; it is ended); also logged at warn
      #
      # An invalid cookie name raises Sesame::InvalidCookieName.
      def initialize(app, keyring:, policy: nil, device_cookie_name: nil, session_cookie_prefix: nil, rules: nil,
                     revoked_before: nil, on_logout_everywhere: nil, on_logout: nil, session_revoked: nil,
                     on_detection: nil, remember_for: nil, logger: nil, clock: nil, registry: nil,
                     registry_check: :on_refresh, registry_fail_open: false, on_theft: nil, **others)
        unless others.empty?
          raise ArgumentError, "unknown keyword(s): #{others.keys.join(", ")}" unless (others.keys - REMOVED).empty?

          raise ArgumentError, "sesame: #{others.keys.join(", ")}: gone, the cookie names, attributes and " \
                               "device binding are the core's rules now (docs/COOKIES.md)"
        end
        raise TypeError, "keyring must be a Sesame::Keyring" unless keyring.is_a?(Sesame::Keyring)

        unless registry.nil? || registry.is_a?(Sesame::Registry) || registry.is_a?(String)
          raise TypeError, "registry must be a Sesame::Registry, a store URL or nil"
        end
        unless REGISTRY_CHECKS.include?(registry_check)
          raise ArgumentError, "registry_check must be :on_refresh or :every_request, not #{registry_check.inspect}"
        end

        @hooks = { revoked_before: revoked_before, on_logout_everywhere: on_logout_everywhere, on_logout: on_logout,
                   session_revoked: session_revoked, on_detection: on_detection, clock: clock,
                   on_theft: on_theft }.compact
        raise TypeError, "callbacks must respond to #call" unless @hooks.each_value.all? { |h| h.respond_to?(:call) }

        if rules
          raise TypeError, "rules must be a Sesame::CookieRules" unless rules.is_a?(Sesame::CookieRules)
          raise ArgumentError, "rules: already has the policy and names" if policy || device_cookie_name || session_cookie_prefix
        else
          rules = Sesame::CookieRules.new(policy: policy || Sesame::Policy.default, device_cookie_name: device_cookie_name,
                                          session_cookie_prefix: session_cookie_prefix)
        end
        @app = app
        @keyring = keyring
        @rules = rules
        @remember_for = remember_for && Convert.seconds(remember_for, "remember_for")
        @logger = logger
        @clock = clock
        # A URL opens the store with the limits of this middleware's policy.
        @registry = registry.is_a?(String) ? Sesame::Registry.new(registry, policy: rules.policy) : registry
        @registry_check = registry_check
        @registry_fail_open = registry_fail_open ? true : false
      end

      attr_reader :registry, :registry_check

      def registry_fail_open?
        @registry_fail_open
      end

      def policy
        @rules.policy
      end

      def call(env)
        now = @clock ? Convert.unix_time(@clock.call, "clock") : Process.clock_gettime(Process::CLOCK_REALTIME, :second)
        request = @rules.request(@keyring, env["REQUEST_METHOD"], env["HTTP_COOKIE"], now)
        handle = Handle.new(self, env, request)
        status, headers, body = @app.call(env)
        lines = handle.finish
        [status, lines ? Session.merge_headers(headers, lines) : headers, body]
      ensure
        request&.release
      end

      # Merges sesame_request_finish's "Name: value\n" lines into response
      # headers (letter case ignored): Set-Cookie lines are added after the
      # app's, Vary is appended to the app's, every other header replaces the
      # app's. +rack3+: lower-case names and Set-Cookie as an Array; else
      # Rack 2's canonical names and Set-Cookie lines joined by "\n".
      def self.merge_headers(headers, lines, rack3 = RACK3)
        headers = headers.dup if headers.frozen?
        keys = {} # lower-case name => the app's keys of that name
        headers.each_key { |k| (keys[k.downcase] ||= []) << k }
        cookies = []
        lines.each_line(chomp: true) do |line|
          name, value = line.split(": ", 2)
          lower = name.downcase
          next cookies << value if lower == "set-cookie"

          old = keys.delete(lower)&.flat_map { |k| Array(headers.delete(k)) }
          value = vary(old, value) if old && lower == "vary"
          headers[rack3 ? lower : name] = value
        end
        unless cookies.empty?
          old = keys.delete("set-cookie")&.flat_map { |k| Array(headers.delete(k)).flat_map { |v| v.split("\n") } }
          cookies = old.concat(cookies) if old
          headers[rack3 ? "set-cookie" : "Set-Cookie"] = rack3 ? cookies : cookies.join("\n")
        end
        headers
      end

      # The app's Vary fields with +value+ appended unless already there (or "*").
      def self.vary(old, value)
        fields = old.flat_map { |v| v.split(",") }.map(&:strip).reject(&:empty?)
        known = fields.map(&:downcase)
        fields << value unless known.include?(value.downcase) || known.include?("*")
        fields.join(", ")
      end

      def hook(name, *args) # :nodoc:
        (h = @hooks[name]) && h.call(*args)
      end

      # A theft verdict: logged at warn (never a token), then on_theft. :nodoc:
      def theft(session, where)
        log(:warn, "session theft detected at #{where}: a superseded token of user #{session.user_id}'s session " \
                   "#{session.session_id_hex} was used after its successor; the session is ended (both parties " \
                   "are logged out)")
        hook(:on_theft, session)
      rescue StandardError => e
        log(:error, "on_theft raised #{e.class.name}: #{e.message}")
      end

      def log(level, message) # :nodoc:
        if @logger
          @logger.public_send(level, "sesame: #{message}")
        elsif level != :info
          Kernel.warn("sesame: #{message}")
        end
      end

      # One request, for the app: env["sesame.auth"].
      class Handle
        # rejection: the error class of a session cookie the core refused
        # (e.g. Sesame::IdleExpired), or nil.
        attr_reader :session, :rejection

        def initialize(middleware, env, request)
          @mw = middleware
          @registry = middleware.registry
          @env = env
          @request = request
          @action = :keep
          @lines = nil
          @token = nil # the presented token, once read
          @ended_in_store = false
          env[ENV_HANDLE] = self
          env[ENV_SESSION] = start
        end

        def now
          @request.now
        end

        def user_id
          @session&.user_id
        end

        def logged_in?
          !@session.nil?
        end

        def inspect
          "#<Sesame::Rack::Session::Handle user_id=#{user_id.inspect}>"
        end

        # This request's device CSRF secret (32 bytes) or nil without a
        # device: see Sesame::CookieRules::Request#csrf_secret.
        def csrf_secret
          @request.csrf_secret
        end

        # A fresh CSRF token for this browser's forms (or an X-CSRF-Token
        # header), nil without a device: Sesame::CookieRules::Request#csrf_token.
        def csrf_token
          @request.csrf_token
        end

        # The core's CSRF rule for this request with the +token+ its form or
        # header carried; the origin headers come from the Rack env.
        def csrf_allowed?(token)
          @request.csrf_allowed?(token: token, sec_fetch_site: @env["HTTP_SEC_FETCH_SITE"],
                                 origin: @env["HTTP_ORIGIN"], host: @env["HTTP_HOST"])
        end

        # Starts a new session for +user_id+ (new token and session ID: no
        # fixation), sealed for this browser's device, rotated on a non-GET
        # request. +data+: up to Sesame::DATA_MAX bytes for the app.
        # +remember_me+: sealed as kind :remember_me, judged by the policy's
        # remember-me limits (remember_for, if set, its own lifetime). Returns
        # the new Sesame::Session (also env["sesame.session"] from now on).
        # The response's cookies are decided here: a later #login or #logout
        # in the same request raises Sesame::UsageError.
        #
        # With a registry the session is registered (device: User-Agent, ip:
        # REMOTE_ADDR, kind: :remember_me or :browser) and a session this
        # browser had is logged out of the store. If the store cannot
        # register it, the response sets no cookie and the store's error
        # (e.g. Sesame::RegistryUnavailable) is raised, unless
        # registry_fail_open (then it is logged; the unregistered session is
        # refused as :unknown once the store answers again).
        def login(user_id, data: nil, remember_me: false)
          usable!
          Convert.u64(user_id, "user_id")
          raise Sesame::DataTooLong if Convert.bytes(data, "data")&.bytesize.to_i > Native::DATA_MAX

          previous = @session
          previous_token = token if previous && @registry
          @lines = finish_request(:login, user_id, remember_me ? @mw.remember_for : nil, data,
                                  remember_me ? :remember_me : :browser)
          @env[ENV_SESSION] = @session = @request.session
          @token = nil
          register(remember_me ? :remember_me : :browser) if @registry
          end_in_store(previous, previous_token) if previous_token
          @session
        end

        # Ends the session: on a non-GET request the response deletes the
        # session cookie and rotates the device; on GET nothing can be
        # deleted safely, and a warning is logged once per process.
        # on_logout gets the ending session: tokens are stateless, so the app
        # deny-lists it (session_revoked) if a copy must stop opening.
        #
        # With a registry the session is ended in the store first
        # (registry.logout): any copy of the token is refused from then on
        # (:every_request) or at its next refresh (:on_refresh). If the store
        # cannot answer, the error is raised and nothing changes, unless
        # registry_fail_open (then logged, and the cookie deleted).
        def logout
          usable!
          if @session && @registry && !@ended_in_store
            begin
              verdict = @registry.logout(@session, token || raise(Sesame::UsageError, "sesame: no token to log out"),
                                         now: now)
              @mw.theft(@session, "logout") if verdict == :theft_detected
            rescue Sesame::Error => e
              @mw.log(:error, "registry: could not log the session out: #{e.class.name} (#{e.message})")
              raise unless @mw.registry_fail_open?
            end
          end
          @mw.hook(:on_logout, @session) if @session
          @env[ENV_SESSION] = @session = nil
          @action = :logout
          nil
        end

        # Ends every session of the user issued up to now (this one too):
        # with a registry, registry.revoke_all (store errors are raised);
        # on_logout_everywhere(user_id, cut-off Time) stores the cut-off
        # that revoked_before returns; then #logout. Returns the cut-off, or
        # nil when not logged in. A login in the same second is not revoked
        # by a cut-off (it is by the registry).
        def logout_everywhere
          usable!
          return nil unless @session

          cutoff = Time.at(now)
          if @registry
            @registry.revoke_all(@session.user_id, now: now)
            @ended_in_store = true
          end
          @mw.hook(:on_logout_everywhere, @session.user_id, cutoff)
          logout
          cutoff
        end

        # Ends every other session of this user at once ("log out my other
        # sessions"), keeping this one. Needs a registry. Returns how many
        # were ended (0 when not logged in); store errors are raised.
        def logout_others
          registry!
          return 0 unless @session

          @registry.revoke_others(@session, now: now)
        end

        # The user's live sessions, newest first, as Sesame::Registry::Entry
        # values (this one is current?); [] when not logged in. Needs a
        # registry; store errors are raised.
        def sessions
          registry!
          return [] unless @session

          @registry.list(@session.user_id, current: @session, now: now)
        end

        # Ends one of this user's sessions by its ID (32 hex digits, as
        # Entry#session_id gives it, e.g. from a form); another user's ID
        # ends nothing. The current session's ID logs this browser out
        # (#logout). Returns whether a live session was ended. Needs a
        # registry; store errors are raised.
        def revoke(session_id)
          registry!
          return false unless @session

          id = session_id.is_a?(Sesame::Registry::Entry) ? session_id.session_id : session_id
          if id.is_a?(String) && id.casecmp?(@session.session_id_hex)
            logout
            return true
          end
          @registry.revoke(@session.user_id, session_id, now: now)
        end

        # The response's header lines, or nil. :nodoc:
        def finish
          return @lines if @request.finished?

          finish_request(@action)
        rescue Sesame::Error => e
          raise if @action == :logout # a logout that did not happen is not a success

          # Keep or reject fail only for reasons that are not the request's (the random source).
          @mw.log(:error, "could not apply the cookie rules: #{e.class.name} (#{e.message})")
          nil
        end

        private

        def start
          request = @request
          detected(request) if request.foreign_sessions.positive?
          if (session = request.session)
            @session = session
            if revoked?
              reject("Sesame::Revoked (by the application)")
            elsif @registry && request.state == Native::SESSION_REFRESHED
              record_refresh
            elsif @registry && @mw.registry_check == :every_request
              judge
            end
          elsif (error = request.rejection)
            @rejection = error
            @mw.log(error <= Sesame::InvalidToken ? :warn : :info,
                    "ignoring the session cookie: #{error.name} (#{error.new.message})")
          end
          @session
        end

        # The token the session cookie carried (from the core), read once:
        # valid until finish, so a login reads it first.
        def token
          @token ||= @request.presented_token
        end

        def presented!
          token or raise Sesame::InternalError.new("sesame: the core gave no presented token for an opened session",
                                                   code: nil)
        end

        # :every_request, a session not due for a refresh: asks the registry
        # about the presented token before the app runs.
        def judge
          verdict = begin
            @registry.check(@session, presented!, now: now)
          rescue Sesame::Error => e
            return store_error(e, "check")
          end
          return if Sesame::Registry.serve?(verdict)

          @mw.theft(@session, "check") if verdict == :theft_detected
          reject("the registry answered #{verdict}")
        end

        # A session begin refreshed (either mode): registry.refresh(presented,
        # issued) before the app, one store round trip that is also the
        # check. :live: finish sends the new token (KEEP); :grace (another
        # request of the browser refreshed first, and the browser has or is
        # getting that token): served, the new token is not sent
        # (KEEP_UNREFRESHED); revoked, unknown or stolen: refused (REJECT).
        # A store error refuses the session, or with registry_fail_open
        # serves it without sending the unrecorded token (it would look
        # stolen later).
        def record_refresh
          verdict = begin
            issued = @request.issued_token or
              raise Sesame::InternalError.new("sesame: the core gave no issued token for a refreshed session", code: nil)
            @registry.refresh(@session, presented!, issued, now: now)
          rescue Sesame::Error => e
            store_error(e, "refresh")
            @action = :keep_unrefreshed if @session
            return
          end
          case verdict
          when :live then nil
          when :grace
            @mw.log(:info, "registry: refresh answered grace, the new token is not sent")
            @action = :keep_unrefreshed
          else
            @mw.theft(@session, "check") if verdict == :theft_detected
            reject("the registry answered #{verdict}")
          end
        end

        def store_error(error, what)
          if @mw.registry_fail_open?
            @mw.log(:error, "registry: #{what} failed, serving on the token alone (registry_fail_open): " \
                            "#{error.class.name} (#{error.message})")
          else
            @mw.log(:error, "registry: #{what} failed, refusing the session (fail closed): " \
                            "#{error.class.name} (#{error.message})")
            # Refused for this request only: the cookie is left as it is (not
            # deleted, no new token), so a store outage does not log every
            # browser out for good; the same cookie is judged again once the
            # store answers.
            @session = nil
            @action = :keep_unrefreshed
          end
        end

        def register(kind)
          new_token = @request.issued_token
          raise Sesame::InternalError.new("sesame: the login issued no session token", code: nil) unless new_token

          evicted = @registry.register(@session, new_token, device: @env["HTTP_USER_AGENT"], ip: @env["REMOTE_ADDR"],
                                                            kind: kind, now: now)
          @mw.log(:info, "registry: the login ended #{evicted} older session(s) of user #{@session.user_id}") if evicted.positive?
        rescue Sesame::Error => e
          @mw.log(:error, "registry: could not register the login: #{e.class.name} (#{e.message})")
          return if @mw.registry_fail_open?

          @lines = nil # no cookie: the browser stays as it was
          @env[ENV_SESSION] = @session = nil
          raise
        end

        # Best effort: the session a login replaced leaves the store's list.
        def end_in_store(session, token)
          verdict = @registry.logout(session, token, now: now)
          @mw.theft(session, "login") if verdict == :theft_detected
        rescue Sesame::Error => e
          @mw.log(:error, "registry: could not end the session a login replaced: #{e.class.name} (#{e.message})")
        end

        def registry!
          raise Sesame::UsageError, "sesame: this needs the middleware's registry: option" unless @registry
        end

        # An app-side rejection: the rules then treat the cookie as rejected.
        def revoked?
          cutoff = @mw.hook(:revoked_before, @session.user_id)
          (cutoff && @session.revoked_before?(cutoff)) || @mw.hook(:session_revoked, @session)
        end

        def reject(why)
          @mw.log(:info, "ignoring the session cookie: #{why}")
          @session = nil
          @action = :reject
        end

        def detected(request)
          begin
            @mw.hook(:on_detection, request.foreign_sessions)
          rescue StandardError => e
            @mw.log(:error, "on_detection raised #{e.class.name}: #{e.message}")
          end
          @mw.log(:warn, request.detection_message) if request.log_detection?
        end

        def usable!
          raise Sesame::UsageError, "sesame: this response's cookies are decided (a login, or the response is done)" if @request.finished?
        end

        def finish_request(action, user_id = 0, lifetime = nil, data = nil, kind = :browser)
          lines = @request.finish(action, user_id: user_id, kind: kind, lifetime: lifetime, data: data)
          flags = @request.warnings
          unless flags.zero?
            Session::WARNINGS.each { |f, text| @mw.log(:warn, text) if flags.anybits?(f) && Session.warn_once?(f) }
          end
          lines
        end
      end
    end
  end
end
