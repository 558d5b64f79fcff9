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
    # #logged_in?.
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
      #                         (default: the policy's absolute lifetime, or 30 days)
      # logger::                warn: detections, GET login/logout; error; info:
      #                         rejected cookies. Never a token. nil: warn and
      #                         error lines go to Kernel#warn.
      # clock::                 -> { Time or unix seconds }, for tests
      #
      # An invalid cookie name raises Sesame::InvalidCookieName.
      def initialize(app, keyring:, policy: nil, device_cookie_name: nil, session_cookie_prefix: nil, rules: nil,
                     revoked_before: nil, on_logout_everywhere: nil, on_logout: nil, session_revoked: nil,
                     on_detection: nil, remember_for: nil, logger: nil, clock: nil, **others)
        unless others.empty?
          raise ArgumentError, "unknown keyword(s): #{others.keys.join(", ")}" unless (others.keys - REMOVED).empty?

          raise ArgumentError, "sesame: #{others.keys.join(", ")}: gone, the cookie names, attributes and " \
                               "device binding are the core's rules now (docs/COOKIES.md)"
        end
        raise TypeError, "keyring must be a Sesame::Keyring" unless keyring.is_a?(Sesame::Keyring)

        @hooks = { revoked_before: revoked_before, on_logout_everywhere: on_logout_everywhere, on_logout: on_logout,
                   session_revoked: session_revoked, on_detection: on_detection, clock: clock }.compact
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
        @remember_for = Convert.seconds(remember_for || rules.policy.absolute_lifetime || (30 * 86_400), "remember_for")
        @logger = logger
        @clock = clock
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

      def log(level, message) # :nodoc:
        if @logger
          @logger.public_send(level, "sesame: #{message}")
        elsif level != :info
          Kernel.warn("sesame: #{message}")
        end
      end

      # One request, for the app: env["sesame.auth"].
      class Handle
        attr_reader :session

        def initialize(middleware, env, request)
          @mw = middleware
          @env = env
          @request = request
          @action = :keep
          @lines = nil
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

        # Starts a new session for +user_id+ (new token and session ID: no
        # fixation), sealed for this browser's device, rotated on a non-GET
        # request. +data+: up to Sesame::DATA_MAX bytes for the app.
        # +remember_me+: the token's own lifetime is remember_for. Returns
        # the new Sesame::Session (also env["sesame.session"] from now on).
        # The response's cookies are decided here: a later #login or #logout
        # in the same request raises Sesame::UsageError.
        def login(user_id, data: nil, remember_me: false)
          usable!
          Convert.u64(user_id, "user_id")
          raise Sesame::DataTooLong if Convert.bytes(data, "data")&.bytesize.to_i > Native::DATA_MAX

          @lines = finish_request(:login, user_id, remember_me ? @mw.remember_for : nil, data)
          @env[ENV_SESSION] = @session = @request.session
        end

        # Ends the session: on a non-GET request the response deletes the
        # session cookie and rotates the device; on GET nothing can be
        # deleted safely, and a warning is logged once per process.
        # on_logout gets the ending session: tokens are stateless, so the app
        # deny-lists it (session_revoked) if a copy must stop opening.
        def logout
          usable!
          @mw.hook(:on_logout, @session) if @session
          @env[ENV_SESSION] = @session = nil
          @action = :logout
          nil
        end

        # Ends every session of the user issued up to now (this one too):
        # on_logout_everywhere(user_id, cut-off Time) stores the cut-off
        # that revoked_before returns, then #logout. Returns the cut-off, or
        # nil when not logged in. A login in the same second is not revoked.
        def logout_everywhere
          usable!
          return nil unless @session

          cutoff = Time.at(now)
          @mw.hook(:on_logout_everywhere, @session.user_id, cutoff)
          logout
          cutoff
        end

        # The response's header lines, or nil. :nodoc:
        def finish
          @request.finished? ? @lines : finish_request(@action)
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
            reject("Sesame::Revoked (by the application)") if revoked?
          elsif (error = request.rejection)
            @mw.log(error <= Sesame::InvalidToken ? :warn : :info,
                    "ignoring the session cookie: #{error.name} (#{error.new.message})")
          end
          @session
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

        def finish_request(action, user_id = 0, lifetime = nil, data = nil)
          lines = @request.finish(action, user_id: user_id, lifetime: lifetime, data: data)
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
