# frozen_string_literal: true

require_relative "test_helper"

class ThreadsTest < Minitest::Test
  include SesameTestHelper

  THREADS = 4
  ROUNDS = 300

  # Many threads seal and open through one ring while another rotates keys:
  # every thread always gets back its own user (the per-thread output buffers
  # are never shared), and nothing crashes.
  def hammer(ring)
    stop = false
    rotations = 0
    rotator = Thread.new do
      id = 1
      until stop
        ring.add_key(id + 1, Sesame::Keyring.generate_key)
        ring.promote(id + 1)
        ring.retire(id)
        id += 1
        rotations += 1
        Thread.pass
      end
    end
    results = Array.new(THREADS) do |t|
      Thread.new do
        wrong = 0
        unknown = 0
        ROUNDS.times do |i|
          user = (t * 1_000_000) + i
          token = ring.seal(user_id: user, data: "t#{t}", now: NOW)
          begin
            s = ring.open(token, now: NOW)
            wrong += 1 unless s.user_id == user && s.data == "t#{t}"
            fresh, s2 = ring.refresh(token, now: NOW + 1)
            wrong += 1 unless s2.user_id == user && ring.open(fresh, now: NOW + 1).user_id == user
          rescue Sesame::UnknownKey
            unknown += 1 # its key was retired between the calls: expected during rotation
          end
        end
        [wrong, unknown]
      end
    end.map(&:value)
    stop = true
    rotator.join
    assert_equal 0, results.sum(&:first), "a thread got another thread's session"
    assert_operator rotations, :>, 0
    assert_equal 1, ring.size
  end

  def test_shared_ring_with_key_rotation_exclusive_lock
    hammer(Sesame::Keyring.new(lock: Sesame::ExclusiveLock.new).add_key(1, KEY))
  end

  def test_shared_ring_with_key_rotation_rw_lock
    hammer(Sesame::Keyring.new(lock: Sesame::RWLock.new).add_key(1, KEY))
  end

  def test_rw_lock_readers_share_writers_exclude
    lock = Sesame::RWLock.new
    inside = 0
    max_inside = 0
    m = Mutex.new
    readers = Array.new(3) do
      Thread.new do
        lock.read do
          m.synchronize { inside += 1; max_inside = [max_inside, inside].max }
          sleep 0.05
          m.synchronize { inside -= 1 }
        end
      end
    end
    sleep 0.01
    writer_saw = nil
    writer = Thread.new { lock.write { writer_saw = m.synchronize { inside } } }
    (readers + [writer]).each(&:join)
    assert_equal 3, max_inside, "readers should overlap"
    assert_equal 0, writer_saw, "the writer must run alone"
  end

  def test_rw_lock_prefers_writers_and_survives_exceptions
    lock = Sesame::RWLock.new
    order = []
    q = Queue.new
    r1 = Thread.new { lock.read { q << :in; sleep 0.05; order << :r1 } }
    q.pop
    w = Thread.new { lock.write { order << :w } }
    sleep 0.01
    r2 = Thread.new { lock.read { order << :r2 } }
    [r1, w, r2].each(&:join)
    assert_equal %i[r1 w r2], order
    assert_raises(RuntimeError) { lock.write { raise "boom" } }
    assert_raises(RuntimeError) { lock.read { raise "boom" } }
    assert_equal :ok, lock.write { :ok }
    assert_equal :ok, lock.read { :ok }
  end

  def test_close_while_in_use_is_safe
    ring = Sesame::Keyring.new.add_key(1, KEY)
    token = ring.seal(user_id: 1, now: NOW)
    outcomes = Array.new(4) do
      Thread.new do
        seen = Hash.new(0)
        500.times do
          ring.open(token, now: NOW)
          seen[:ok] += 1
        rescue Sesame::KeyringClosed
          seen[:closed] += 1
        end
        seen
      end
    end
    sleep 0.005
    ring.close
    totals = outcomes.map(&:value).inject { |a, b| a.merge(b) { |_, x, y| x + y } }
    assert_equal 2000, totals.values.sum
  end
end
