# frozen_string_literal: true

module Sesame
  # An opened session: an immutable (frozen) value, like a Ruby 3.2 Data.
  #
  # user_id::      Integer
  # session_id::   16-byte binary String, drawn at login, kept across refreshes
  #                (#session_id_hex for logs and revocation lists)
  # issued_at::    Time of login (kept across refreshes); #issued_at_i in unix seconds
  # refreshed_at:: Time of the last seal or refresh; #refreshed_at_i
  # lifetime::     the token's own lifetime in seconds from issued_at, or nil
  # data::         binary String (empty when none), the app's opaque data
  #
  # Sessions come from Keyring#open and #refresh (or Session.build). Inside,
  # a session keeps the user ID and one frozen copy of the native
  # sesame_claims bytes, and decodes the other fields when asked: opening a
  # token then costs one copy and one small object, and handing the session
  # back to the library (Policy#should_refresh?, #revoked_before?) one write.
  class Session
    MEMBERS = %i[user_id session_id issued_at refreshed_at lifetime kind data].freeze
    TWO_64 = 2**64
    # unpack1 formats at the library's field offsets ("@n" = absolute offset;
    # native byte order, as the struct is in memory).
    ISSUED_AT = "@#{Native::CLAIMS_ISSUED_AT}Q"
    REFRESHED_AT = "@#{Native::CLAIMS_REFRESHED_AT}Q"
    LIFETIME = "@#{Native::CLAIMS_LIFETIME}q" # signed: SESAME_NO_LIMIT reads as -1, a Fixnum
    DATA_LEN = "@#{Native::CLAIMS_DATA_LEN}#{::FFI.type_size(:size_t) == 8 ? "Q" : "L"}"

    private_class_method :new

    # A Session from a native sesame_claims buffer just filled by the library
    # (at +offset+ bytes into +ptr+: the claims inside a sesame_request).
    def self.from_native(ptr, offset = 0)
      new(ptr.get_uint64(offset + Native::CLAIMS_USER_ID), ptr.get_bytes(offset, Native::CLAIMS_SIZE).freeze)
    end

    # A Session from its fields (times as Time or unix seconds), e.g. from
    # the app's own store, to ask Policy#should_refresh? or #revoked_before?.
    def self.build(user_id:, session_id:, issued_at:, refreshed_at: issued_at, lifetime: nil, kind: :browser, data: nil)
      user_id = Convert.u64(user_id, "user_id")
      session_id = Convert.bytes(session_id, "session_id").to_s
      unless session_id.bytesize == Native::SESSION_ID_BYTES
        raise ArgumentError, "session_id must be #{Native::SESSION_ID_BYTES} bytes, not #{session_id.bytesize}"
      end

      data = Convert.bytes(data, "data").to_s
      raise DataTooLong if data.bytesize > Native::DATA_MAX

      lifetime = lifetime.nil? ? Native::NO_LIMIT : Convert.seconds(lifetime, "lifetime")
      claims = Native::Claims.new
      claims[:user_id] = user_id
      claims.pointer.put_bytes(Native::CLAIMS_SESSION_ID, session_id)
      claims[:issued_at] = Convert.unix_time(issued_at, "issued_at")
      claims[:refreshed_at] = Convert.unix_time(refreshed_at, "refreshed_at")
      claims[:lifetime] = lifetime
      claims[:kind] = Convert.kind(kind)
      claims[:data_len] = data.bytesize
      claims.pointer.put_bytes(Native::CLAIMS_DATA, data) unless data.empty?
      from_native(claims.pointer)
    end

    def self.members
      MEMBERS
    end

    attr_reader :user_id

    def initialize(user_id, raw)
      @user_id = user_id
      @raw = raw
      freeze
    end

    def members
      MEMBERS
    end

    def session_id
      @raw.byteslice(Native::CLAIMS_SESSION_ID, Native::SESSION_ID_BYTES).freeze
    end

    # The session ID as 32 lowercase hex digits.
    def session_id_hex
      session_id.unpack1("H*")
    end

    def issued_at_i
      @raw.unpack1(ISSUED_AT)
    end

    def refreshed_at_i
      @raw.unpack1(REFRESHED_AT)
    end

    def issued_at
      Time.at(issued_at_i)
    end

    def refreshed_at
      Time.at(refreshed_at_i)
    end

    def lifetime
      value = @raw.unpack1(LIFETIME)
      return value unless value.negative?

      value == -1 ? nil : value + TWO_64
    end

    # Whether the token carries its own lifetime.
    def lifetime?
      !lifetime.nil?
    end

    # :browser or :remember_me: which of the policy's limits apply.
    def kind
      @raw.getbyte(Native::CLAIMS_KIND) == Native::KINDS[:remember_me] ? :remember_me : :browser
    end

    # Whether this is a "remember me" login.
    def remember_me?
      kind == :remember_me
    end

    # When the token's own lifetime ends (nil if it has none). The policy's
    # absolute lifetime may end the session sooner.
    def expires_at
      (l = lifetime) && Time.at(issued_at_i + l)
    end

    def data
      length = @raw.unpack1(DATA_LEN)
      length.zero? ? Convert::EMPTY : @raw.byteslice(Native::CLAIMS_DATA, length).freeze
    end

    def to_h
      { user_id: @user_id, session_id: session_id, issued_at: issued_at, refreshed_at: refreshed_at,
        lifetime: lifetime, kind: kind, data: data }
    end

    def deconstruct_keys(keys)
      keys ? to_h.slice(*keys) : to_h
    end

    def deconstruct
      to_h.values
    end

    def ==(other)
      other.is_a?(Session) && other.fields == fields
    end
    alias eql? ==

    def hash
      [Session, *fields].hash
    end

    def inspect
      "#<Sesame::Session user_id=#{@user_id} session_id=#{session_id_hex} issued_at=#{issued_at_i} " \
        "refreshed_at=#{refreshed_at_i} lifetime=#{lifetime.inspect} data=#{data.bytesize} bytes>"
    end
    alias to_s inspect

    # Whether the session was issued strictly before +cutoff+ (a Time or unix
    # seconds), e.g. the user's "log out my other sessions" time from the
    # app's store (sesame_check_revoked_before). nil: never revoked.
    def revoked_before?(cutoff)
      return false if cutoff.nil?

      rc = check_revoked_rc(cutoff)
      return true if rc == Revoked.code
      raise Sesame.error_for(rc) unless rc.zero?

      false
    end

    # As #revoked_before?, but raises Sesame::Revoked (a SessionExpired)
    # instead of returning true. Returns self.
    def check_revoked!(cutoff)
      return self if cutoff.nil?

      rc = check_revoked_rc(cutoff)
      raise Sesame.error_for(rc) unless rc.zero?

      self
    end

    # Writes this session into a native sesame_claims buffer (one copy).
    def write_native(ptr)
      ptr.put_bytes(0, @raw)
    end

    protected

    def fields
      [@user_id, session_id, issued_at_i, refreshed_at_i, lifetime, kind, data]
    end

    private

    def check_revoked_rc(cutoff)
      t = Convert.unix_time(cutoff, "cutoff")
      claims = Scratch.current.claims
      write_native(claims)
      Native.sesame_check_revoked_before(claims, t)
    end
  end
end
