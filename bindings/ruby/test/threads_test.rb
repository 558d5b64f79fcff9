# frozen_string_literal: true

require_relative "test_helper"

# The binding takes no lock: these tests share one Keyring between threads
# while its keys change, relying only on the native ring's guarantees
# (include/sesame.h, THREADS) and on Keyring#close never freeing under a call.
class ThreadsTest < Minitest::Test
  include SesameTestHelper

  READERS = 4
  ROUNDS = 300    # each reader does at least this many seal/open/refresh rounds...
  ROTATIONS = 150 # ...and keeps going until the writer has made this many changes

  # READERS threads seal, open and refresh through +ring+ while +mutate+
  # (called with the rotation number) changes its keys ROTATIONS times on
  # another thread. Every reader must get back its own user, and the only
  # error allowed is UnknownKey for a token whose key is no longer in the
  # ring (retired or replaced meanwhile).
  def hammer(ring, &mutate)
    writer_done = false
    writer = Thread.new do
      ROTATIONS.times do |n|
        mutate.call(n)
        Thread.pass
      end
    ensure
      writer_done = true
    end
    results = Array.new(READERS) do |t|
      Thread.new do
        wrong = []
        unknown = 0
        rounds = 0
        until writer_done && rounds >= ROUNDS
          rounds += 1
          user = (t * 1_000_000) + rounds
          data = "t#{t}/#{rounds}"
          token = ring.seal(user_id: user, data: data, now: NOW)
          Thread.pass # let the writer in between seal and open (CRuby switches threads only every 100 ms otherwise)
          begin
            s = ring.open(token, now: NOW)
            wrong << [:open, user, s.user_id] unless s.user_id == user && s.data == data
            fresh, s2 = ring.refresh(token, now: NOW + 1)
            wrong << [:refresh, user, s2.user_id] unless s2.user_id == user && s2.data == data
            s3 = ring.open(fresh, now: NOW + 1)
            wrong << [:reopen, user, s3.user_id] unless s3.user_id == user && s3.session_id == s.session_id
          rescue Sesame::UnknownKey
            # Allowed only if the key of the token that failed is gone now
            # (IDs are never reused here, so gone means retired meanwhile).
            failed = [token, fresh].compact.last
            wrong << [:unknown_key_still_present, user] if ring.key_ids.include?(Sesame.token_key_id(failed))
            unknown += 1
          end
          fresh = nil
        end
        [wrong, unknown, rounds]
      end
    end.map(&:value)
    writer.join
    wrongs = results.flat_map(&:first)
    assert_empty wrongs, "a thread got a wrong session or an unexplained UnknownKey"
    assert(results.all? { |_, _, rounds| rounds >= ROUNDS })
    results
  end

  def test_seal_open_refresh_while_keys_are_added_promoted_and_retired
    ring = Sesame::Keyring.new.add_key(1, KEY)
    hammer(ring) do |n|
      id = n + 1
      ring.add_key(id + 1, Sesame::Keyring.generate_key)
      ring.promote(id + 1)
      ring.retire(id)
    end
    assert_equal [ROTATIONS + 1], ring.key_ids
    assert_equal ROTATIONS + 1, ring.primary_id
  end

  def test_seal_open_refresh_while_keysets_are_loaded
    keysets = Array.new(ROTATIONS) do |n|
      # Key n+1 primary, key n decrypt-only: one step of a rotation, as a keyset.
      lines = ["sesame-keyset/1"]
      lines << "key id=#{n} status=decrypt-only created=1 raw=#{b64encode([n].pack("N") * 8)}" if n.positive?
      lines << "key id=#{n + 1} status=primary created=1 raw=#{b64encode([n + 1].pack("N") * 8)}"
      lines.join("\n")
    end
    ring = Sesame::Keyring.from_keyset(keysets.first)
    hammer(ring) { |n| ring.load_keyset(keysets[n]) }
    assert_equal [ROTATIONS - 1, ROTATIONS], ring.key_ids
  end

  # #close while other threads are inside seal/open: no crash, no freed
  # memory used; each thread sees successes, then only KeyringClosed.
  def test_close_while_in_use
    ring = Sesame::Keyring.new.add_key(1, KEY)
    token = ring.seal(user_id: 1, now: NOW)
    started = Queue.new
    threads = Array.new(READERS) do |t|
      Thread.new do
        log = []
        started << t
        loop do
          ring.open(token, now: NOW)
          ring.seal(user_id: t, now: NOW)
          log << :ok
        rescue Sesame::KeyringClosed
          log << :closed
          break if log.count(:closed) >= 3 # closed stays closed
        end
        log
      end
    end
    READERS.times { started.pop }
    sleep 0.01
    ring.close
    GC.start # the native ring may only be freed once no thread uses it
    logs = threads.map(&:value)
    logs.each do |log|
      first_closed = log.index(:closed)
      assert_equal log.size - 3, first_closed
      assert_equal [:closed] * 3, log[first_closed..]
    end
    assert ring.closed?
  end

  # A key change racing #close: whichever lands last, no key survives close.
  def test_key_change_racing_close_leaves_no_key
    20.times do
      ring = Sesame::Keyring.new.add_key(1, KEY)
      native = ring.unsafe_native_pointer
      go = Queue.new
      writer = Thread.new do
        go.pop
        id = 2
        loop do
          ring.add_key(id, Sesame::Keyring.generate_key).promote(id).retire(id - 1)
          id += 1
        end
      rescue Sesame::KeyringClosed
        :closed
      end
      go << true
      Thread.pass
      ring.close
      assert_equal :closed, writer.value
      count = FFI::MemoryPointer.new(:size_t)
      assert_equal 0, Sesame::Native.sesame_keyring_len(native, count)
      assert_equal 0, count.get(:size_t, 0), "a key added while closing survived close"
    end
  end

  # A dropped Keyring's ring is freed by the GC, not while a thread holds it.
  def test_rings_dropped_by_threads_are_collected
    Array.new(4) do
      Thread.new { 50.times { Sesame::Keyring.new.add_key(1, KEY).tap(&:close).closed? } }
    end.each(&:join)
    GC.start
    assert_equal 1, ring_with(1).size
  end
end
