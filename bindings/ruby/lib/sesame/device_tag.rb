# frozen_string_literal: true

module Sesame
  module Native
    begin
      attach_function :sesame_device_tag, %i[pointer pointer], :sesame_result
      DEVICE_TAG = true
    rescue ::FFI::NotFoundError
      DEVICE_TAG = false # a libsesame from before it: Sesame.device_tag raises
    end
  end

  DEVICE_TAG_BYTES = 16

  # The public tag of the device whose CSRF secret (32 bytes,
  # request.csrf_secret) is +secret+: 16 bytes, one-way from it, safe to
  # store in data a GET response sets (a framework's session cookie) to
  # tell later whether that data was written for this device.
  def self.device_tag(secret)
    raise NotImplementedError, "sesame: #{Native.library_path} has no sesame_device_tag" unless Native::DEVICE_TAG
    raise TypeError, "secret must be a String" unless secret.is_a?(String)
    raise ArgumentError, "secret must be 32 bytes" unless secret.bytesize == 32

    input = ::FFI::MemoryPointer.new(:uint8, 32).put_bytes(0, secret)
    out = ::FFI::MemoryPointer.new(:uint8, DEVICE_TAG_BYTES)
    Sesame.check!(Native.sesame_device_tag(input, out))
    out.read_bytes(DEVICE_TAG_BYTES)
  end
end
