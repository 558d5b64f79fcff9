# frozen_string_literal: true

module Sesame
  # The registry's slice of the C ABI (include/sesame.h, sesame_registry_*),
  # attached here rather than in ffi.rb. Every call that may wait on the store
  # (a network round trip, a file lock, the per-handle lock) is attached with
  # `blocking: true`, so the GVL is released while it waits and other Ruby
  # threads keep running.
  module Native
    # struct sesame_session_limits
    class SessionLimits < ::FFI::Struct
      layout :idle_timeout, :uint64,
             :absolute_lifetime, :uint64
    end

    # struct sesame_registry_config
    class RegistryConfig < ::FFI::Struct
      layout :browser, SessionLimits,
             :remember_me, SessionLimits,
             :max_sessions, :uint32,
             :grace, :uint64,
             :touch_interval, :uint64,
             :tombstone_ttl, :uint64
    end

    REGISTRY_DEVICE_BYTES = 129 # SESAME_REGISTRY_DEVICE_BYTES
    REGISTRY_IP_BYTES = 46      # SESAME_REGISTRY_IP_BYTES

    # struct sesame_registry_entry
    class RegistryEntry < ::FFI::Struct
      layout :user_id, :uint64,
             :session_id, [:uint8, SESSION_ID_BYTES],
             :kind, :uint8,
             :created_at, :uint64,
             :last_seen_at, :uint64,
             :expires_at, :uint64,
             :device, [:char, REGISTRY_DEVICE_BYTES],
             :ip, [:char, REGISTRY_IP_BYTES]
    end

    begin
      attach_function :sesame_registry_config_default, [:pointer], :sesame_result
      attach_function :sesame_registry_config_from_policy, %i[pointer pointer], :sesame_result
      attach_function :sesame_registry_open, %i[pointer size_t pointer pointer], :sesame_result, blocking: true
      # Closing a connection may wait (SQLite checkpoint, socket shutdown).
      attach_function :sesame_registry_free, [:pointer], :void, blocking: true
      attach_function :sesame_registry_register,
                      %i[pointer uint64 pointer uint8 pointer size_t pointer size_t pointer size_t uint64 pointer],
                      :sesame_result, blocking: true
      attach_function :sesame_registry_check, %i[pointer uint64 pointer pointer size_t uint64 pointer],
                      :sesame_result, blocking: true
      attach_function :sesame_registry_peek, %i[pointer uint64 pointer uint64 pointer], :sesame_result, blocking: true
      attach_function :sesame_registry_refresh,
                      %i[pointer uint64 pointer pointer size_t pointer size_t uint64 pointer],
                      :sesame_result, blocking: true
      attach_function :sesame_registry_list, %i[pointer uint64 uint64 pointer size_t pointer], :sesame_result,
                      blocking: true
      attach_function :sesame_registry_revoke, %i[pointer uint64 pointer uint64 pointer], :sesame_result,
                      blocking: true
      attach_function :sesame_registry_revoke_all, %i[pointer uint64 uint64 pointer], :sesame_result, blocking: true
      attach_function :sesame_registry_revoke_others, %i[pointer uint64 pointer uint64 pointer], :sesame_result,
                      blocking: true
      attach_function :sesame_registry_logout, %i[pointer uint64 pointer pointer size_t uint64 pointer],
                      :sesame_result, blocking: true
      attach_function :sesame_registry_prune, %i[pointer uint64 pointer], :sesame_result, blocking: true
      REGISTRY = true
    rescue ::FFI::NotFoundError
      # A libsesame from before the registry: the rest of the gem still works;
      # Sesame::Registry.new raises (Registry.supported? is false).
      REGISTRY = false
    end
  end

  # The server-side session registry of docs/REGISTRY.md: per user, the list
  # of live sessions (device, IP, login and last-seen times), revocation of
  # one, all, or all but the current session (effective at once), a per-user
  # cap, and theft detection (a superseded token used after its successor
  # revokes the session and answers :theft_detected). The rules live once in
  # the Rust core; this class only carries calls to it.
  #
  #   registry = Sesame::Registry.new("sqlite:///var/lib/app/sessions.db")
  #   # at login
  #   token = ring.seal(user_id: user.id)
  #   registry.register(ring.open(token), token, device: request.user_agent, ip: request.ip)
  #   # on a request (check-every-request mode)
  #   session = ring.open(cookie)
  #   deny unless Sesame::Registry.serve?(registry.check(session, cookie))
  #
  # Stores, by URL: "memory://?capacity=N" (one process), "sqlite:///path.db"
  # (one machine, several processes), "redis://host:6379/0?prefix=sesame"
  # (several machines). SQLite and Redis need a libsesame built with the
  # registry-sqlite / registry-redis features; without them #new raises
  # Sesame::InvalidRegistryUrl.
  #
  # VERDICTS (Symbols): :live and :grace serve the request; :revoked,
  # :unknown and :theft_detected deny (log :theft_detected: two parties held
  # the session). A store that cannot answer raises Sesame::RegistryUnavailable;
  # deny then (fail closed) unless you chose to serve on the token alone.
  #
  # THREADS. A Registry may be shared by every thread: the native handle
  # takes a lock, so calls on one Registry run one at a time (each holding
  # its store connection for one round trip). Every call releases the GVL
  # while it waits, so other threads run meanwhile. For requests that should
  # reach the store in parallel, give each Puma thread its own Registry (one
  # connection each), e.g. `Thread.current[:registry] ||= Sesame::Registry.new(url)`.
  #
  # FORK. A Registry opened before fork (Puma/Unicorn preload_app, Puma's
  # fork_worker) may be used in the children: a child's first call opens a
  # native handle (and connection) of its own, and never uses the inherited
  # one, which another thread of the parent may have been using at the fork.
  # A child also never frees a handle opened by its parent (that would close
  # the parent's SQLite connection and drop its locks).
  #
  # TIMES are a Time or unix seconds (now: nil is the current time). Every
  # process must share one clock (NTP): the stores use the caller's time.
  class Registry
    VERDICTS = %i[live grace revoked unknown theft_detected].freeze
    SERVE = %i[live grace].freeze
    KIND_NAMES = Native::KINDS.invert.freeze
    HEX_ID = /\A\h{32}\z/.freeze

    # One live session of a user, as #list gives it: a frozen value.
    #
    # session_id::   32 lower-case hex digits (#session_id_bytes: the 16 bytes)
    # kind::         :browser or :remember_me
    # created_at::   Time of login
    # last_seen_at:: Time of the last check or refresh that wrote (within the
    #                registry's touch interval, 60 s by default)
    # expires_at::   Time the session ends unless seen again
    # device, ip::   the labels given at login ("" when none), UTF-8
    # current?::     whether it is the session passed as list's current:
    class Entry
      attr_reader :user_id, :session_id, :kind, :created_at, :last_seen_at, :expires_at, :device, :ip

      def initialize(user_id:, session_id:, kind:, created_at:, last_seen_at:, expires_at:, device:, ip:, current:)
        @user_id = user_id
        @session_id = session_id.freeze
        @kind = kind
        # Not frozen: Time#utc and #localtime change a Time in place, and
        # each Entry has Times of its own.
        @created_at = created_at
        @last_seen_at = last_seen_at
        @expires_at = expires_at
        @device = device.freeze
        @ip = ip.freeze
        @current = current
        freeze
      end

      def current?
        @current
      end

      def session_id_bytes
        [@session_id].pack("H*")
      end

      def to_h
        { user_id: @user_id, session_id: @session_id, kind: @kind, created_at: @created_at,
          last_seen_at: @last_seen_at, expires_at: @expires_at, device: @device, ip: @ip, current: @current }
      end

      def ==(other)
        other.is_a?(Entry) && other.to_h == to_h
      end
      alias eql? ==

      def hash
        [Entry, *to_h.values].hash
      end

      def inspect
        "#<Sesame::Registry::Entry user_id=#{@user_id} session_id=#{@session_id} kind=#{@kind} " \
          "created_at=#{@created_at.to_i} last_seen_at=#{@last_seen_at.to_i} device=#{@device.inspect} " \
          "ip=#{@ip.inspect}#{" current" if @current}>"
      end
      alias to_s inspect
    end

    # Frees the native handle, but only in the process that opened it (see
    # FORK above).
    class Releaser
      def initialize(pid)
        @pid = pid
      end

      def call(pointer)
        Native.sesame_registry_free(pointer) if Process.pid == @pid
      end
    end

    # Whether the loaded libsesame has the registry at all.
    def self.supported?
      Native::REGISTRY
    end

    # Whether a verdict serves the request (:live, :grace).
    def self.serve?(verdict)
      SERVE.include?(verdict)
    end

    # The defaults of the loaded library, as a Hash of the keywords #new takes.
    def self.defaults
      raise NotImplementedError, "sesame: #{Native.library_path} has no session registry" unless supported?

      config = Native::RegistryConfig.new
      Sesame.check!(Native.sesame_registry_config_default(config))
      {
        browser_idle: config[:browser][:idle_timeout], browser_lifetime: config[:browser][:absolute_lifetime],
        remember_me_idle: config[:remember_me][:idle_timeout],
        remember_me_lifetime: config[:remember_me][:absolute_lifetime],
        max_sessions: config[:max_sessions], grace: config[:grace], touch_interval: config[:touch_interval],
        tombstone_ttl: config[:tombstone_ttl]
      }
    end

    attr_reader :url

    # Opens the store +url+ names. Settings left nil keep the library's
    # defaults (Registry.defaults): browser sessions idle 24 h / at most 14
    # days, remember-me 30 / 30 days, 10 sessions per user (0: no cap), 30 s
    # grace, last-seen written at most every 60 s, ended sessions remembered
    # 1 h. Durations are Integer seconds (or ActiveSupport::Duration).
    # +policy+, the Sesame::Policy the app opens tokens with, sets each
    # kind's limits from it (an entry then lives as long as its token can);
    # the browser_*/remember_me_* keywords override single limits.
    #
    # Raises Sesame::InvalidRegistryUrl for a URL not understood or a store
    # this libsesame was built without, Sesame::RegistryUnavailable when the
    # store cannot be reached.
    def initialize(url = "memory://", policy: nil, max_sessions: nil, grace: nil, browser_idle: nil,
                   browser_lifetime: nil, remember_me_idle: nil, remember_me_lifetime: nil, touch_interval: nil,
                   tombstone_ttl: nil)
      raise TypeError, "url must be a String, not #{url.class}" unless url.is_a?(String)
      raise NotImplementedError, "sesame: #{Native.library_path} has no session registry" unless self.class.supported?

      config = Native::RegistryConfig.new
      if policy.nil?
        Sesame.check!(Native.sesame_registry_config_default(config))
      else
        raise TypeError, "policy must be a Sesame::Policy, not #{policy.class}" unless policy.is_a?(Policy)

        Sesame.check!(Native.sesame_registry_config_from_policy(policy.to_native, config))
      end
      config[:max_sessions] = Convert.u32(max_sessions, "max_sessions") unless max_sessions.nil?
      {
        grace: grace, touch_interval: touch_interval, tombstone_ttl: tombstone_ttl
      }.each { |name, value| config[name] = Convert.seconds(value, name.to_s) unless value.nil? }
      config[:browser][:idle_timeout] = Convert.seconds(browser_idle, "browser_idle") unless browser_idle.nil?
      config[:browser][:absolute_lifetime] = Convert.seconds(browser_lifetime, "browser_lifetime") unless browser_lifetime.nil?
      config[:remember_me][:idle_timeout] = Convert.seconds(remember_me_idle, "remember_me_idle") unless remember_me_idle.nil?
      unless remember_me_lifetime.nil?
        config[:remember_me][:absolute_lifetime] = Convert.seconds(remember_me_lifetime, "remember_me_lifetime")
      end
      @max_sessions = config[:max_sessions]

      @url = url.dup.freeze
      @config = config
      @pid = Process.pid
      @handle = open_handle
    end

    # A Registry owns its native handle; copies would free it twice.
    def initialize_copy(_other)
      raise TypeError, "a Sesame::Registry cannot be copied; share it or open another"
    end

    # Records a login of +session+ (a Sesame::Session from Keyring#open of
    # +token+) with labels for a sessions list: +device+ (e.g. the user agent;
    # cut to 128 bytes) and +ip+ (cut to 45). +kind+ is :browser or
    # :remember_me; nil takes the session's own (Session#kind). Returns how many of the
    # user's oldest sessions the cap ended (evicted).
    def register(session, token, device: nil, ip: nil, kind: nil, now: nil)
      session_of(session)
      kind = session.kind if kind.nil?
      kind_code = Convert.kind(kind)
      device = label(device, "device")
      ip = label(ip, "ip")
      out = ::FFI::MemoryPointer.new(:uint32)
      call(:sesame_registry_register, session.user_id, session_id_ptr(session), kind_code, *text(token, "token"),
           *device, *ip, time(now), out)
      out.read_uint32
    end

    # Judges +token+ presented for +session+: a verdict Symbol. Serve only on
    # :live and :grace (Registry.serve?). Writes at first sight of a token
    # and then at most once per touch interval.
    def check(session, token, now: nil)
      verdict(:sesame_registry_check, session_of(session).user_id, session_id_ptr(session), *text(token, "token"),
              time(now))
    end

    # Whether +session+ is still live, without judging a token and without
    # writing: :live, :revoked or :unknown. The cheap per-request check of
    # check-on-refresh mode.
    def peek(session, now: nil)
      verdict(:sesame_registry_peek, session_of(session).user_id, session_id_ptr(session), time(now))
    end

    # Records that +new_token+ (from Keyring#refresh) replaces +old_token+.
    # :live: send the new token; :grace: serve, but do not send it (another
    # request refreshed first); anything else: deny.
    def refresh(session, old_token, new_token, now: nil)
      verdict(:sesame_registry_refresh, session_of(session).user_id, session_id_ptr(session),
              *text(old_token, "old_token"), *text(new_token, "new_token"), time(now))
    end

    # The user's live sessions, newest first, as frozen Entry values; the one
    # whose ID is +current+'s (a Session, or a session ID as hex or bytes) is
    # marked current?.
    def list(user_id, current: nil, now: nil)
      user_id = Convert.u64(user_id, "user_id")
      current_hex = current.nil? ? nil : hex_id(current)
      t = time(now)
      count_out = ::FFI::MemoryPointer.new(:size_t)
      capacity = [@max_sessions, 16].max
      loop do
        buffer = ::FFI::MemoryPointer.new(Native::RegistryEntry, capacity)
        call(:sesame_registry_list, user_id, t, buffer, capacity, count_out)
        count = count_out.read(:size_t)
        if count > capacity && capacity < 1024 # the core writes at most 1024
          capacity = [count, 1024].min
          next
        end
        return Array.new([count, capacity].min) { |i| entry(Native::RegistryEntry.new(buffer[i]), current_hex) }
      end
    end

    # Ends one session of +user_id+ at once: +session_id+ as 32 hex digits
    # (e.g. from a form), 16 bytes, an Entry or a Session. Scoped to the
    # user: an ID of another user's session ends nothing. Returns whether it
    # was live.
    def revoke(user_id, session_id, now: nil)
      out = ::FFI::MemoryPointer.new(:uint32)
      call(:sesame_registry_revoke, Convert.u64(user_id, "user_id"), id_ptr(session_id), time(now), out)
      out.read_uint32 == 1
    end

    # Ends every session of +user_id+ ("log out everywhere"); returns how many.
    def revoke_all(user_id, now: nil)
      out = ::FFI::MemoryPointer.new(:uint32)
      call(:sesame_registry_revoke_all, Convert.u64(user_id, "user_id"), time(now), out)
      out.read_uint32
    end

    # Ends every session of +session+'s user but +session+ ("log out my other
    # sessions"), at once, same second included; returns how many.
    def revoke_others(session, now: nil)
      out = ::FFI::MemoryPointer.new(:uint32)
      call(:sesame_registry_revoke_others, session_of(session).user_id, session_id_ptr(session), time(now), out)
      out.read_uint32
    end

    # Ends the session +token+ belongs to, finally (any copy of the token is
    # refused from now on). Returns :revoked (ended now, or already ended),
    # :unknown (no such session), or :theft_detected for a superseded token
    # (the session is ended all the same: log it).
    def logout(session, token, now: nil)
      verdict(:sesame_registry_logout, session_of(session).user_id, session_id_ptr(session), *text(token, "token"),
              time(now))
    end

    # Drops every expired entry of every user; returns how many. The stores
    # also prune as they go; call it from a periodic job if logins are rare.
    def prune(now: nil)
      out = ::FFI::MemoryPointer.new(:size_t)
      call(:sesame_registry_prune, time(now), out)
      out.read(:size_t)
    end

    # Makes later calls raise Sesame::RegistryClosed. Safe while other
    # threads are inside a call: the handle (and its connection) is freed by
    # the garbage collector once no call holds it. Idempotent.
    def close
      @handle = nil
      self
    end

    def closed?
      @handle.nil?
    end

    def inspect
      "#<Sesame::Registry #{redacted_url}#{" closed" if closed?}>"
    end
    alias to_s inspect

    private

    # A redis:// URL may carry a password: never show it.
    def redacted_url
      @url.sub(%r{\A([a-z]+://)[^/@]*@}i, '\1***@')
    end

    # Runs a native call with the handle held in a local for its whole
    # duration (which keeps the AutoPointer reachable: see #close).
    def call(function, *args)
      handle = @handle || raise(RegistryClosed)
      handle = reopen_after_fork if @pid != Process.pid
      rc = Native.public_send(function, handle, *args)
      raise Sesame.error_for(rc) unless rc.zero?
    end

    # A native handle on the store, freed (by the garbage collector) only in
    # this process.
    def open_handle
      out = ::FFI::MemoryPointer.new(:pointer)
      Sesame.check!(Native.sesame_registry_open(::FFI::MemoryPointer.from_string(@url), @url.bytesize, @config, out))
      ::FFI::AutoPointer.new(out.read_pointer, Releaser.new(Process.pid))
    end

    # In a forked child: a handle of its own, and the inherited one left
    # alone (never used, never freed here). A thread of the parent may have
    # been inside a call on it when the process forked (Puma's fork_worker
    # forks a worker that is serving requests): its lock would stay held in
    # the child forever. Two threads racing here open two handles; the one
    # not kept is freed once unused.
    def reopen_after_fork
      handle = open_handle
      @handle = handle unless @handle.nil? # closed meanwhile: stays closed
      @pid = Process.pid
      handle
    end

    def verdict(function, *args)
      out = ::FFI::MemoryPointer.new(:uint32)
      call(function, *args, out)
      code = out.read_uint32
      VERDICTS.fetch(code) { raise InternalError.new("sesame: unknown registry verdict #{code}", code: nil) }
    end

    def time(now)
      Convert.unix_time(now, "now")
    end

    def session_of(session)
      raise TypeError, "session must be a Sesame::Session, not #{session.class}" unless session.is_a?(Session)

      session
    end

    def session_id_ptr(session)
      ::FFI::MemoryPointer.new(:uint8, SESSION_ID_BYTES).put_bytes(0, session_of(session).session_id)
    end

    def id_ptr(id)
      ::FFI::MemoryPointer.new(:uint8, SESSION_ID_BYTES).put_bytes(0, [hex_id(id)].pack("H*"))
    end

    # A session ID as 32 lower-case hex digits, from a Session, an Entry, 16
    # bytes or 32 hex digits.
    def hex_id(id)
      case id
      when Session then id.session_id_hex
      when Entry then id.session_id
      when String
        return id.downcase if id.bytesize == 32 && HEX_ID.match?(id)
        return id.unpack1("H*") if id.bytesize == SESSION_ID_BYTES

        raise ArgumentError, "a session ID is 32 hex digits or #{SESSION_ID_BYTES} bytes"
      else
        raise TypeError, "a session ID must be a String, Sesame::Session or Sesame::Registry::Entry, not #{id.class}"
      end
    end

    # [pointer, length] of a native copy of a token's text. The text is copied
    # because the GVL is released during the call: the Ruby String may be
    # changed or moved meanwhile.
    def text(value, name)
      raise TypeError, "#{name} must be a String, not #{value.class}" unless value.is_a?(String)
      raise TooLong if value.bytesize > TOKEN_MAX

      [::FFI::MemoryPointer.from_string(value), value.bytesize]
    end

    # [pointer, length] of a label as valid UTF-8 (headers arrive as binary
    # Strings; bytes that are not UTF-8 become U+FFFD), or [nil, 0].
    def label(value, name)
      return [nil, 0] if value.nil?
      raise TypeError, "#{name} must be a String, not #{value.class}" unless value.is_a?(String)

      utf8 = if value.encoding == Encoding::UTF_8 || value.encoding == Encoding::BINARY
               value.dup.force_encoding(Encoding::UTF_8).scrub("\uFFFD")
             else
               value.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
             end
      [::FFI::MemoryPointer.from_string(utf8), utf8.bytesize]
    end

    def entry(native, current_hex)
      session_id = native.pointer.get_bytes(native.offset_of(:session_id), SESSION_ID_BYTES).unpack1("H*")
      Entry.new(
        user_id: native[:user_id], session_id: session_id, kind: KIND_NAMES.fetch(native[:kind], :browser),
        created_at: Time.at(native[:created_at]), last_seen_at: Time.at(native[:last_seen_at]),
        expires_at: Time.at(native[:expires_at]),
        device: native[:device].to_s.force_encoding(Encoding::UTF_8),
        ip: native[:ip].to_s.force_encoding(Encoding::UTF_8),
        current: session_id == current_hex
      )
    end
  end

  # Raised by a Registry after #close (not a library code).
  class RegistryClosed < UsageError
    def initialize(message = "sesame: this registry was closed", code: nil)
      super
    end
  end
end
