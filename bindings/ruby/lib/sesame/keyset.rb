# frozen_string_literal: true

module Sesame
  KEYSET_MESSAGE_CAP = 256 # sesame_keyset_check: "256 bytes suffice"

  # Why a keyset text is invalid: sesame_keyset_check's message (the line
  # and the reason, never key material), or nil if the text is valid.
  def self.keyset_problem(text)
    raise TypeError, "keyset must be a String, not #{text.class}" unless text.is_a?(String)

    message = ::FFI::MemoryPointer.new(:char, KEYSET_MESSAGE_CAP)
    length = ::FFI::MemoryPointer.new(:size_t)
    rc = Native.sesame_keyset_check(text, text.bytesize, message, KEYSET_MESSAGE_CAP, length)
    return nil if rc.zero?
    raise error_for(rc) unless rc == InvalidKeyset.code

    message.get_bytes(0, [length.get(:size_t, 0), KEYSET_MESSAGE_CAP - 1].min).force_encoding(Encoding::UTF_8).scrub
  end

  # Raises Sesame::InvalidKeyset (with the line and reason) unless +text+ is
  # a keyset Keyring#load_keyset would accept. Returns nil.
  def self.check_keyset!(text)
    problem = keyset_problem(text)
    raise keyset_error(text, problem) if problem

    nil
  end

  # The Sesame::InvalidKeyset for an invalid keyset text (not raised).
  def self.keyset_error(text, problem = keyset_problem(text))
    InvalidKeyset.new("sesame: #{problem || MESSAGES[InvalidKeyset.code]}")
  end

  # The ID of the key a token claims to be sealed under, read from its
  # header without any key: UNAUTHENTICATED (anyone can write any ID into a
  # forged token), so use it only to pick a ring or for logs and metrics,
  # never as proof of anything. Raises Sesame::InvalidToken (Malformed,
  # UnsupportedVersion, ...) for text that is not a token.
  def self.token_key_id(token)
    raise TypeError, "token must be a String, not #{token.class}" unless token.is_a?(String)

    out = Scratch.current.out
    rc = Native.sesame_token_key_id(token, token.bytesize, out)
    raise error_for(rc) unless rc.zero?

    out.get_uint32(0)
  end
end
