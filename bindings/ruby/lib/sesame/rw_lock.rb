# frozen_string_literal: true

module Sesame
  # A small writer-preferring reader-writer lock: any number of readers at
  # once, or one writer alone. Keyring uses it because the C ABI allows
  # seal/open/refresh to run concurrently through one ring but requires
  # exclusive access for key changes (add, derive, promote, retire, free).
  #
  # Not reentrant: do not take #write inside #read (or the reverse) on the
  # same lock. One condition variable, broadcast on every change of state,
  # keeps it simple and robust against a waiter being interrupted.
  class RWLock
    def initialize
      @mutex = Mutex.new
      @changed = ConditionVariable.new
      @readers = 0
      @writing = false
      @writers_waiting = 0
    end

    def read
      @mutex.synchronize do
        # Writers go first, so a steady stream of readers cannot starve a key rotation.
        @changed.wait(@mutex) while @writing || @writers_waiting.positive?
        @readers += 1
      end
      begin
        yield
      ensure
        @mutex.synchronize do
          @readers -= 1
          @changed.broadcast if @readers.zero? && @writers_waiting.positive?
        end
      end
    end

    def write
      @mutex.synchronize do
        @writers_waiting += 1
        begin
          @changed.wait(@mutex) while @writing || @readers.positive?
        ensure
          @writers_waiting -= 1
          @changed.broadcast # readers held back by this waiter may go if it gave up
        end
        @writing = true
      end
      begin
        yield
      ensure
        @mutex.synchronize do
          @writing = false
          @changed.broadcast
        end
      end
    end
  end
end

module Sesame
  # One Mutex for readers and writers alike: every native call that touches
  # the ring runs alone. Under CRuby's GVL the native calls never overlap
  # anyway (they are attached without `blocking: true`, so they hold the GVL
  # from start to finish), so sharing between readers would buy no
  # parallelism; this lock costs one uncontended Mutex (~0.2 us) instead of
  # the two a reader-writer lock takes (~0.6 us), and is still correct on a
  # Ruby without a GVL.
  class ExclusiveLock < Mutex
    alias read synchronize
    alias write synchronize
  end
end
