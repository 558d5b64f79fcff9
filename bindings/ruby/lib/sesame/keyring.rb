# frozen_string_literal: true

require "securerandom"

module Sesame
  # A ring of up to Sesame::RING_CAPACITY keys (u32 IDs), one of them the
  # primary that seals; owns a native ring from sesame_keyring_new, zeroized
  # and freed by sesame_keyring_free when the Keyring is garbage-collected or
  # #close'd.
  #
  #   ring = Sesame::Keyring.new
  #   ring.derive_key(1, ENV.fetch("SESSION_SECRET"), purpose: "session cookie")
  #   token   = ring.seal(user_id: 42)
  #   session = ring.open(token)            # => #<Sesame::Session user_id=42 ...>
  #
  # THREADS. One Keyring may be shared by every thread of a Puma process,
  # and its keys may be rotated while the app serves requests. The C ABI lets
  # seal/open/refresh run concurrently through one ring but needs exclusive
  # access for key changes (add, derive, promote, retire, free). Every native
  # call on the ring, including fetching the ring pointer, runs inside a lock:
  # seal/open/refresh/primary_id/size under #read, key changes and #close
  # under #write. The lock is
  #
  # * on CRuby, a Sesame::ExclusiveLock (one Mutex for both): the GVL already
  #   keeps the native calls from overlapping (they do not release it), so a
  #   shared read lock would buy no parallelism and cost three times as much;
  # * elsewhere (JRuby, TruffleRuby: no GVL), a Sesame::RWLock, so seals and
  #   opens do run in parallel and only key changes are exclusive.
  #
  # Either way a key change waits for calls in flight and holds new ones back,
  # and #close can free the ring at once. Pass lock: to choose.
  class Keyring
    TOKEN_CAP = Native::TOKEN_MAX + 1
    NO_LIMIT = Native::NO_LIMIT
    FIXNUM_MAX = (2**62) - 1

    # A fresh random key of Sesame::KEY_BYTES bytes (for tests and for
    # generating secrets to store; production keys come from a secret store).
    def self.generate_key
      SecureRandom.random_bytes(Native::KEY_BYTES)
    end

    # The lock a new Keyring uses unless told otherwise (see THREADS above).
    def self.default_lock
      RUBY_ENGINE == "ruby" ? ExclusiveLock.new : RWLock.new
    end

    # +lock+: any object with #read and #write taking a block
    # (Sesame::ExclusiveLock, Sesame::RWLock); the default suits the engine.
    def initialize(lock: Keyring.default_lock)
      raise TypeError, "lock must respond to #read and #write" unless lock.respond_to?(:read) && lock.respond_to?(:write)

      out = ::FFI::MemoryPointer.new(:pointer)
      Sesame.check!(Native.sesame_keyring_new(out))
      @ring = ::FFI::AutoPointer.new(out.read_pointer, Native.method(:sesame_keyring_free))
      @lock = lock
    end

    # A Keyring owns its native ring; copies would free it twice.
    def initialize_copy(_other)
      raise TypeError, "a Sesame::Keyring cannot be copied; share the same instance"
    end

    # --- key changes (exclusive) ------------------------------------------

    # Adds a raw key (a String of Sesame::KEY_BYTES bytes) under +id+. The
    # first key of a ring without a primary becomes the primary.
    def add_key(id, key)
      Convert.u32(id, "key id")
      raise TypeError, "key must be a String of #{Native::KEY_BYTES} bytes" unless key.is_a?(String)

      write { |ring| Native.sesame_keyring_add_key(ring, id, key, key.bytesize) }
    end

    # Adds a key derived with HKDF-SHA256 from +master+ (any non-empty
    # String) and a +purpose+ label (e.g. "session cookie 2026-11").
    def derive_key(id, master, purpose:)
      Convert.u32(id, "key id")
      raise TypeError, "master secret must be a String" unless master.is_a?(String)
      raise TypeError, "purpose must be a String" unless purpose.is_a?(String)

      write { |ring| Native.sesame_keyring_derive_key(ring, id, master, master.bytesize, purpose, purpose.bytesize) }
    end

    # Makes +id+ the key that seals (new tokens, and refreshed ones).
    def promote(id)
      Convert.u32(id, "key id")
      write { |ring| Native.sesame_keyring_promote(ring, id) }
    end

    # Removes +id+ (zeroizing it): tokens sealed under it stop opening.
    def retire(id)
      Convert.u32(id, "key id")
      write { |ring| Native.sesame_keyring_retire(ring, id) }
    end

    # Zeroizes and frees the native ring now (rather than at GC). Later
    # calls raise Sesame::KeyringClosed. Idempotent.
    def close
      @lock.write do
        @ring&.free
        @ring = nil
      end
      nil
    end

    def closed?
      @ring.nil?
    end

    # --- queries (shared) ---------------------------------------------------

    # The primary key's ID, or nil if the ring has none.
    def primary_id
      scratch = Scratch.current
      rc = @lock.read { Native.sesame_keyring_primary_id(live_ring, scratch.out) }
      return nil if rc == NoPrimaryKey.code
      raise Sesame.error_for(rc) unless rc.zero?

      scratch.out.get_uint32(0)
    end

    # The number of keys in the ring.
    def size
      scratch = Scratch.current
      rc = @lock.read { Native.sesame_keyring_len(live_ring, scratch.out) }
      raise Sesame.error_for(rc) unless rc.zero?

      scratch.out.get(:size_t, 0)
    end
    alias length size

    def empty?
      size.zero?
    end

    def inspect
      return "#<Sesame::Keyring closed>" if closed?

      "#<Sesame::Keyring keys=#{size} primary=#{primary_id.inspect}>"
    end

    # --- tokens (shared) ------------------------------------------------------

    # Seals a new session for +user_id+ (0..2**64-1) and returns the token, a
    # US-ASCII String of at most Sesame::TOKEN_MAX characters, safe as a cookie
    # value. +context+ binds it (up to CONTEXT_MAX bytes, e.g. a SHA-256 of a
    # device cookie; open must pass the same), +data+ is up to DATA_MAX bytes
    # of opaque app data, +lifetime+ the token's own lifetime in seconds from
    # now ("remember me"; nil: only the policy's), +now+ a Time or unix
    # seconds (nil: the current time).
    def seal(user_id:, context: nil, data: nil, lifetime: nil, now: nil)
      # Fast path for a Fixnum; Convert.u64 checks (and raises for) the rest.
      Convert.u64(user_id, "user_id") unless user_id.is_a?(Integer) && user_id >= 0 && user_id <= FIXNUM_MAX
      lifetime = lifetime.nil? ? NO_LIMIT : Convert.seconds(lifetime, "lifetime")
      t = now.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :second) : Convert.unix_time(now, "now")
      data_len = data.nil? ? 0 : Convert.bytes(data, "data").bytesize
      context_len = context.nil? ? 0 : Convert.bytes(context, "context").bytesize
      scratch = Scratch.current
      out = scratch.token
      out_len = scratch.token_len
      rc = @lock.read do
        Native.sesame_seal(@ring || raise(KeyringClosed), user_id, lifetime, data, data_len, context, context_len, t,
                           out, TOKEN_CAP, out_len)
      end
      raise Sesame.error_for(rc) unless rc.zero?

      # The token and its NUL (base64url never contains one): one read.
      out.get_string(0, TOKEN_CAP).force_encoding(Encoding::US_ASCII)
    end

    # Opens +token+ sealed for +context+ and checks it against +policy+ at
    # +now+. Returns a frozen Sesame::Session; raises a Sesame::TokenRejected
    # (InvalidToken or SessionExpired subclass) for a token to be ignored.
    def open(token, context: nil, now: nil, policy: Policy::DEFAULT)
      raise TypeError, "token must be a String, not #{token.class}" unless token.is_a?(String)

      t = now.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :second) : Convert.unix_time(now, "now")
      context_len = context.nil? ? 0 : Convert.bytes(context, "context").bytesize
      raise TypeError, "policy must be a Sesame::Policy" unless policy.is_a?(Policy)

      native_policy = policy.to_native
      claims = Scratch.current.claims
      rc = @lock.read do
        Native.sesame_open(@ring || raise(KeyringClosed), token, token.bytesize, context, context_len,
                           native_policy, t, claims)
      end
      raise Sesame.error_for(rc) unless rc.zero?

      Session.from_native(claims)
    end

    # Opens +token+ as #open does and seals it again with refreshed_at = now
    # under the primary key (same session ID, login time, lifetime, data).
    # Returns [new_token, session].
    def refresh(token, context: nil, now: nil, policy: Policy::DEFAULT)
      raise TypeError, "token must be a String, not #{token.class}" unless token.is_a?(String)

      t = now.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :second) : Convert.unix_time(now, "now")
      context_len = context.nil? ? 0 : Convert.bytes(context, "context").bytesize
      raise TypeError, "policy must be a Sesame::Policy" unless policy.is_a?(Policy)

      native_policy = policy.to_native
      scratch = Scratch.current
      out = scratch.token
      out_len = scratch.token_len
      claims = scratch.claims
      rc = @lock.read do
        Native.sesame_refresh(@ring || raise(KeyringClosed), token, token.bytesize, context, context_len,
                              native_policy, t, out, TOKEN_CAP, out_len, claims)
      end
      raise Sesame.error_for(rc) unless rc.zero?

      [out.get_string(0, TOKEN_CAP).force_encoding(Encoding::US_ASCII), Session.from_native(claims)]
    end

    # The native ring pointer, for the raw layer (Sesame::Native) only. The
    # caller must follow the C threading contract itself.
    def unsafe_native_pointer
      live_ring
    end

    private

    def live_ring
      @ring || raise(KeyringClosed)
    end

    def write
      rc = @lock.write { yield live_ring }
      raise Sesame.error_for(rc) unless rc.zero?

      self
    end
  end
end
