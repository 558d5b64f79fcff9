# frozen_string_literal: true

module Sesame
  # Output buffers for the native calls, one set per thread (per fiber,
  # strictly: Thread#[] is fiber-local), made on first use and then reused,
  # so seal/open allocate no FFI memory per call. Buffers are only written by
  # the native call and read right after it, with no Ruby code in between
  # that could switch to another fiber of the same thread.
  class Scratch
    KEY = :__sesame_scratch__

    attr_reader :token, :token_len, :claims, :out

    def initialize
      @token = ::FFI::MemoryPointer.new(:char, Native::TOKEN_MAX + 1)
      @token_len = ::FFI::MemoryPointer.new(:size_t)
      @claims = ::FFI::MemoryPointer.new(Native::CLAIMS_SIZE)
      @out = ::FFI::MemoryPointer.new(:uint64) # int, uint32 and size_t outputs
    end

    def self.current
      Thread.current[KEY] ||= new
    end
  end
end
