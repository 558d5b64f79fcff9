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
  # THREADS. One Keyring may be shared by every thread of a Puma process
  # (or of a Ruby without a GVL), and its keys may be changed while the app
  # serves requests, with no lock in this binding: the native heap ring is
  # itself safe for any mix of threads (include/sesame.h, THREADS). seal,
  # open, refresh and the queries read an immutable snapshot and never block;
  # add_key, derive_key, promote, retire and load_keyset publish a new
  # snapshot atomically, so a call sees the keys from before a change or
  # after it, never half of one.
  #
  # CLOSE. The only call the C ABI does not allow concurrently is
  # sesame_keyring_free, so #close never calls it. #close (1) drops the
  # Keyring's reference to the native ring, so calls that start afterwards
  # raise Sesame::KeyringClosed, and (2) loads an empty keyset into the ring,
  # a key change like any other (safe with calls in flight): the keys are
  # zeroized as soon as calls already running on them return. The ring
  # itself (a few hundred bytes, no key material left) is freed by its
  # FFI::AutoPointer once it is unreachable, that is once no thread is inside
  # a method of this Keyring holding it in a local variable, which every
  # method does for the whole native call. Freeing therefore follows
  # reachability, which the garbage collector decides with every thread
  # stopped or accounted for, with or without a GVL; nothing here depends on
  # the GVL's scheduling. A call that read the ring just before #close and
  # fails because the keys were wiped under it raises KeyringClosed too.
  class Keyring
    TOKEN_CAP = Native::TOKEN_MAX + 1
    NO_LIMIT = Native::NO_LIMIT
    FIXNUM_MAX = (2**62) - 1
    KEY_IDS = :__sesame_key_ids__ # Thread#[] slot of #key_ids' output buffer
    # A valid keyset with no keys: loading it wipes a ring (see CLOSE above).
    EMPTY_KEYSET = "sesame-keyset/1\n"

    # A fresh random key of Sesame::KEY_BYTES bytes (for tests and for
    # generating secrets to store; production keys come from a secret store).
    def self.generate_key
      SecureRandom.random_bytes(Native::KEY_BYTES)
    end

    # A ring holding the keys of a keyset (docs/FORMAT.md, "Keysets"): its
    # usable keys, its primary promoted. Raises Sesame::InvalidKeyset, whose
    # message names the line and the reason (never key material).
    def self.from_keyset(text)
      new.load_keyset(text)
    end

    # A ring from the keyset in the environment variable +name+ (one line,
    # records separated by ";", or several lines). Raises
    # Sesame::InvalidKeyset (a KeyringError) when it is unset, empty or
    # invalid; the message names the variable, never its value.
    def self.from_env(name = "SESAME_KEYSET", env: ENV)
      text = env[name]
      if text.nil? || text.b.strip.empty?
        raise InvalidKeyset, "sesame: the environment variable #{name} is #{text.nil? ? "not set" : "empty"}; " \
                             "set it to a keyset (make one with `sesame keyset new`)"
      end

      begin
        from_keyset(text)
      rescue InvalidKeyset => e
        raise InvalidKeyset, "sesame: keyset in #{name}: #{e.message.delete_prefix("sesame: ")}"
      end
    end

    def initialize
      out = ::FFI::MemoryPointer.new(:pointer)
      Sesame.check!(Native.sesame_keyring_new(out))
      @ring = ::FFI::AutoPointer.new(out.read_pointer, Native.method(:sesame_keyring_free))
    end

    # A Keyring owns its native ring; copies would free it twice.
    def initialize_copy(_other)
      raise TypeError, "a Sesame::Keyring cannot be copied; share the same instance"
    end

    # --- key changes (atomic, safe while other threads seal and open) ------

    # Adds a raw key (a String of Sesame::KEY_BYTES bytes) under +id+. The
    # first key of a ring without a primary becomes the primary.
    def add_key(id, key)
      Convert.u32(id, "key id")
      raise TypeError, "key must be a String of #{Native::KEY_BYTES} bytes" unless key.is_a?(String)

      change { |ring| Native.sesame_keyring_add_key(ring, id, key, key.bytesize) }
    end

    # Adds a key derived with HKDF-SHA256 from +master+ (any non-empty
    # String) and a +purpose+ label (e.g. "session cookie 2026-11").
    def derive_key(id, master, purpose:)
      Convert.u32(id, "key id")
      raise TypeError, "master secret must be a String" unless master.is_a?(String)
      raise TypeError, "purpose must be a String" unless purpose.is_a?(String)

      change { |ring| Native.sesame_keyring_derive_key(ring, id, master, master.bytesize, purpose, purpose.bytesize) }
    end

    # Makes +id+ the key that seals (new tokens, and refreshed ones).
    def promote(id)
      Convert.u32(id, "key id")
      change { |ring| Native.sesame_keyring_promote(ring, id) }
    end

    # Removes +id+ (zeroizing it): tokens sealed under it stop opening.
    def retire(id)
      Convert.u32(id, "key id")
      change { |ring| Native.sesame_keyring_retire(ring, id) }
    end

    # Replaces every key with those of a keyset (docs/FORMAT.md, "Keysets"),
    # in one atomic step: other threads see the old keys or the new ones.
    # An invalid keyset raises Sesame::InvalidKeyset, whose message comes from
    # sesame_keyset_check (line and reason, no key material), and leaves the
    # ring unchanged. Returns self.
    def load_keyset(text)
      raise TypeError, "keyset must be a String, not #{text.class}" unless text.is_a?(String)

      ring = live_ring
      rc = Native.sesame_keyring_load_keyset(ring, text, text.bytesize)
      raise Sesame.keyset_error(text) if rc == InvalidKeyset.code

      after_change(ring, rc)
    end

    # Zeroizes the keys now and makes later calls raise
    # Sesame::KeyringClosed; safe while other threads use the ring (see CLOSE
    # above). Idempotent.
    def close
      ring = @ring
      return nil if ring.nil?

      @ring = nil
      wipe(ring)
      nil
    end

    def closed?
      @ring.nil?
    end

    # --- queries (shared) ---------------------------------------------------

    # The primary key's ID, or nil if the ring has none.
    def primary_id
      scratch = Scratch.current
      ring = live_ring
      rc = Native.sesame_keyring_primary_id(ring, scratch.out)
      return nil if rc == NoPrimaryKey.code && @ring
      raise failure(rc) unless rc.zero?

      scratch.out.get_uint32(0)
    end

    # The number of keys in the ring.
    def size
      scratch = Scratch.current
      rc = Native.sesame_keyring_len(live_ring, scratch.out)
      raise failure(rc) unless rc.zero?

      scratch.out.get(:size_t, 0)
    end
    alias length size

    # The IDs of the ring's keys, ascending (an Array of Integer).
    def key_ids
      buffer = Thread.current[KEY_IDS] ||= ::FFI::MemoryPointer.new(:uint32, Native::RING_CAPACITY)
      count = Scratch.current.out
      rc = Native.sesame_keyring_key_ids(live_ring, buffer, Native::RING_CAPACITY, count)
      raise failure(rc) unless rc.zero?

      buffer.get_array_of_uint32(0, count.get(:size_t, 0))
    end

    def empty?
      size.zero?
    end

    def inspect
      return "#<Sesame::Keyring closed>" if closed?

      "#<Sesame::Keyring keys=#{size} primary=#{primary_id.inspect}>"
    end

    # --- tokens ------------------------------------------------------

    # Seals a new session for +user_id+ (0..2**64-1) and returns the token, a
    # US-ASCII String of at most Sesame::TOKEN_MAX characters, safe as a cookie
    # value. +context+ binds it (up to CONTEXT_MAX bytes, e.g. a SHA-256 of a
    # device cookie; open must pass the same), +data+ is up to DATA_MAX bytes
    # of opaque app data, +lifetime+ the token's own lifetime in seconds from
    # now (nil: only the policy's), +kind+ :browser or :remember_me (which
    # of the policy's limits apply), +now+ a Time or unix seconds (nil: the
    # current time).
    def seal(user_id:, context: nil, data: nil, lifetime: nil, kind: :browser, now: nil)
      # Fast path for a Fixnum; Convert.u64 checks (and raises for) the rest.
      Convert.u64(user_id, "user_id") unless user_id.is_a?(Integer) && user_id >= 0 && user_id <= FIXNUM_MAX
      lifetime = lifetime.nil? ? NO_LIMIT : Convert.seconds(lifetime, "lifetime")
      kind_code = Convert.kind(kind)
      t = now.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :second) : Convert.unix_time(now, "now")
      data_len = data.nil? ? 0 : Convert.bytes(data, "data").bytesize
      context_len = context.nil? ? 0 : Convert.bytes(context, "context").bytesize
      scratch = Scratch.current
      out = scratch.token
      out_len = scratch.token_len
      rc = Native.sesame_seal(@ring || raise(KeyringClosed), user_id, kind_code, lifetime, data, data_len, context, context_len, t,
                              out, TOKEN_CAP, out_len)
      raise failure(rc) unless rc.zero?

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
      rc = Native.sesame_open(@ring || raise(KeyringClosed), token, token.bytesize, context, context_len,
                              native_policy, t, claims)
      raise failure(rc) unless rc.zero?

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
      rc = Native.sesame_refresh(@ring || raise(KeyringClosed), token, token.bytesize, context, context_len,
                                 native_policy, t, out, TOKEN_CAP, out_len, claims)
      raise failure(rc) unless rc.zero?

      [out.get_string(0, TOKEN_CAP).force_encoding(Encoding::US_ASCII), Session.from_native(claims)]
    end

    # The native ring pointer (an FFI::AutoPointer), for the raw layer
    # (Sesame::Native) only. Keep the returned object referenced while using
    # it: the ring is freed when it becomes unreachable.
    def unsafe_native_pointer
      live_ring
    end

    private

    def live_ring
      @ring || raise(KeyringClosed)
    end

    # The exception for a failed call: KeyringClosed if the ring was closed
    # meanwhile (its keys wiped under the call), else the library's error.
    def failure(rc)
      @ring.nil? ? KeyringClosed.new : Sesame.error_for(rc)
    end

    # Runs a key change. The ring is held in a local for the whole native
    # call, which keeps its AutoPointer reachable (see CLOSE above).
    def change
      ring = live_ring
      after_change(ring, yield(ring))
    end

    def after_change(ring, rc)
      # A change that raced #close may have landed after close's wipe: wipe
      # again so no key outlives close (key changes are serialized natively).
      if @ring.nil?
        wipe(ring)
        raise KeyringClosed
      end
      raise Sesame.error_for(rc) unless rc.zero?

      self
    end

    def wipe(ring)
      Native.sesame_keyring_load_keyset(ring, EMPTY_KEYSET, EMPTY_KEYSET.bytesize)
    end
  end
end
