# frozen_string_literal: true

require "ffi"

module Sesame
  # The raw C ABI of libsesame (include/sesame.h), loaded once, when this file
  # is required. Everything here is unsafe in the C sense: pointers are passed
  # through unchecked. Use Sesame::Keyring and friends instead; this module is
  # public only so tests and experts can reach the C contract directly.
  #
  # The library is looked up in this order, and the first that loads wins:
  #
  # 1. ENV["SESAME_LIB"], if set (and then nothing else: an explicit choice
  #    that fails is an error, not a reason to load some other copy);
  # 2. the gem's own copy, lib/sesame/native/libsesame.so (the installed
  #    sesame-session gem carries one: bindings/ruby/build-gem.sh);
  # 3. when this file is inside the sesame repository (bindings/ruby/lib),
  #    the repository's build, target/release/libsesame.so;
  # 4. the system's library search path (libsesame.so via dlopen).
  #
  # If none loads, a LoadError lists every path tried and why it failed.
  module Native
    extend ::FFI::Library

    LIBRARY_FILE = ::FFI.map_library_name("sesame") # "libsesame.so", "libsesame.dylib", ...

    # [path or name, where it came from] in lookup order.
    def self.library_candidates(env = ENV)
      explicit = env["SESAME_LIB"]
      return [[explicit, "SESAME_LIB"]] if explicit && !explicit.empty?

      here = __dir__ # .../lib/sesame
      candidates = [[File.join(here, "native", LIBRARY_FILE), "the gem's bundled copy"]]
      root = File.expand_path(File.join("..", "..", "..", ".."), here)
      if File.file?(File.join(root, "include", "sesame.h")) # a checkout, not an installed gem
        candidates << [File.join(root, "target", "release", LIBRARY_FILE), "repository build (make -C bindings/c lib)"]
      end
      candidates << ["sesame", "system library path"]
    end

    def self.load_library!
      tried = []
      library_candidates.each do |path, origin|
        if path.include?(File::SEPARATOR) && !File.exist?(path)
          tried << "  #{path} (#{origin}): no such file"
          next
        end
        begin
          ffi_lib(path)
          @library_path = path
          return path
        rescue LoadError => e
          tried << "  #{path} (#{origin}): #{e.message.lines.first.to_s.strip}"
        end
      end
      raise LoadError, "sesame: could not load the native library #{LIBRARY_FILE}. Tried:\n#{tried.join("\n")}\n" \
                       "Install the sesame-session gem built for this platform (bindings/ruby/build-gem.sh), or " \
                       "build the library with `make -C bindings/c lib` and point SESAME_LIB at " \
                       "target/release/#{LIBRARY_FILE}."
    end

    class << self
      attr_reader :library_path
    end

    load_library!

    # Result codes are uint32_t; every fallible function returns one.
    typedef :uint32, :sesame_result
    callback :sesame_random_fn, %i[pointer pointer size_t], :int

    attach_function :sesame_version, [], :string
    attach_function :sesame_strerror, [:uint32], :string
    attach_function :sesame_result_name, [:uint32], :string # nil for unknown codes

    attach_function :sesame_token_max, [], :size_t
    attach_function :sesame_key_bytes, [], :size_t
    attach_function :sesame_session_id_bytes, [], :size_t
    attach_function :sesame_data_max, [], :size_t
    attach_function :sesame_context_max, [], :size_t
    attach_function :sesame_ring_capacity, [], :size_t
    attach_function :sesame_claims_size, [], :size_t
    attach_function :sesame_policy_size, [], :size_t
    attach_function :sesame_unix_now, [], :uint64

    attach_function :sesame_policy_default, [:pointer], :sesame_result
    attach_function :sesame_keyring_new, [:pointer], :sesame_result
    attach_function :sesame_keyring_init, %i[pointer size_t pointer], :sesame_result
    attach_function :sesame_keyring_free, [:pointer], :void
    attach_function :sesame_keyring_set_random, %i[pointer sesame_random_fn pointer], :sesame_result
    attach_function :sesame_keyring_add_key, %i[pointer uint32 pointer size_t], :sesame_result
    attach_function :sesame_keyring_derive_key, %i[pointer uint32 pointer size_t pointer size_t], :sesame_result
    attach_function :sesame_keyring_promote, %i[pointer uint32], :sesame_result
    attach_function :sesame_keyring_retire, %i[pointer uint32], :sesame_result
    attach_function :sesame_keyring_primary_id, %i[pointer pointer], :sesame_result
    attach_function :sesame_keyring_len, %i[pointer pointer], :sesame_result
    attach_function :sesame_keyring_key_ids, %i[pointer pointer size_t pointer], :sesame_result
    attach_function :sesame_token_key_id, %i[pointer size_t pointer], :sesame_result
    attach_function :sesame_keyring_load_keyset, %i[pointer pointer size_t], :sesame_result
    attach_function :sesame_keyset_check, %i[pointer size_t pointer size_t pointer], :sesame_result

    # These three are attached without `blocking: true` on purpose: they take
    # a microsecond or two, far less than releasing and retaking the GVL.
    attach_function :sesame_seal,
                    %i[pointer uint64 uint8 uint64 pointer size_t pointer size_t uint64 pointer size_t pointer],
                    :sesame_result
    attach_function :sesame_open,
                    %i[pointer pointer size_t pointer size_t pointer uint64 pointer],
                    :sesame_result
    attach_function :sesame_refresh,
                    %i[pointer pointer size_t pointer size_t pointer uint64 pointer size_t pointer pointer],
                    :sesame_result
    attach_function :sesame_should_refresh, %i[pointer pointer uint64 pointer], :sesame_result
    attach_function :sesame_check_revoked_before, %i[pointer uint64], :sesame_result

    # The cookie rules (docs/COOKIES.md): two calls per request, begin and
    # finish, plus the rules object and its detection counter. Without
    # `blocking: true`, as for seal/open: each takes a few microseconds.
    attach_function :sesame_cookie_rules_new, %i[pointer pointer size_t pointer size_t pointer], :sesame_result
    attach_function :sesame_cookie_rules_free, [:pointer], :void
    attach_function :sesame_cookie_rules_detections, %i[pointer pointer], :sesame_result
    attach_function :sesame_cookie_rules_names, %i[pointer pointer pointer pointer pointer], :sesame_result
    attach_function :sesame_request_begin, %i[pointer pointer pointer size_t pointer size_t uint64 pointer],
                    :sesame_result
    attach_function :sesame_request_finish,
                    %i[pointer pointer pointer uint32 uint64 uint8 uint64 pointer size_t uint64 pointer size_t pointer pointer],
                    :sesame_result
    attach_function :sesame_request_detection_message, %i[pointer pointer pointer size_t pointer], :sesame_result
    # The token a request presented (SESAME_TOKEN_PRESENTED) or its response
    # issues (SESAME_TOKEN_ISSUED), for the session registry: the core alone
    # knows which cookie is the session's, so no binding re-derives its name.
    attach_function :sesame_request_token, %i[pointer uint32 pointer size_t pointer], :sesame_result
    attach_function :sesame_request_size, [], :size_t
    # CSRF bound to the device (docs/COOKIES.md): the device's secret, and
    # the origin rule for requests without a device.
    attach_function :sesame_request_csrf_secret, %i[pointer pointer size_t pointer], :sesame_result
    attach_function :sesame_request_csrf_token, %i[pointer pointer pointer size_t pointer], :sesame_result
    attach_function :sesame_request_csrf_check,
                    %i[pointer pointer size_t pointer size_t pointer size_t pointer size_t pointer], :sesame_result
    attach_function :sesame_csrf_origin_allowed,
                    %i[pointer size_t pointer size_t pointer size_t pointer size_t pointer], :sesame_result

    # Sizes come from the library, never from a copy of the header.
    TOKEN_MAX = sesame_token_max
    KEY_BYTES = sesame_key_bytes
    SESSION_ID_BYTES = sesame_session_id_bytes
    DATA_MAX = sesame_data_max
    CONTEXT_MAX = sesame_context_max
    RING_CAPACITY = sesame_ring_capacity
    NO_LIMIT = (2**64) - 1 # SESAME_NO_LIMIT (UINT64_MAX)
    OK = 0
    # SESAME_SESSION_KIND_*
    KINDS = { browser: 0, remember_me: 1 }.freeze
    CSRF_SECRET_BYTES = 32 # SESAME_CSRF_SECRET_BYTES
    CSRF_TOKEN_LEN = 86 # SESAME_CSRF_TOKEN_LEN

    # struct sesame_policy
    class Policy < ::FFI::Struct
      layout :idle_timeout, :uint64,
             :absolute_lifetime, :uint64,
             :future_leeway, :uint64,
             :revoked_before, :uint64,
             :refresh_after, :uint64,
             :remember_me_idle_timeout, :uint64,
             :remember_me_absolute_lifetime, :uint64
    end

    # struct sesame_claims
    class Claims < ::FFI::Struct
      layout :user_id, :uint64,
             :session_id, [:uint8, SESSION_ID_BYTES],
             :issued_at, :uint64,
             :refreshed_at, :uint64,
             :lifetime, :uint64,
             :kind, :uint8,
             :data_len, :size_t,
             :data, [:uint8, DATA_MAX]
    end

    # Our struct declarations must match the library's, byte for byte.
    { Policy => sesame_policy_size, Claims => sesame_claims_size }.each do |struct, native_size|
      next if struct.size == native_size

      raise LoadError, "sesame: #{struct.name} layout is #{struct.size} bytes but #{library_path} says " \
                       "#{native_size}; this binding does not match the library's header"
    end

    # `sesame_request.session` (SESAME_SESSION_*).
    SESSION_NONE = 0
    SESSION_VALID = 1
    SESSION_REFRESHED = 2
    SESSION_REJECTED = 3
    # `sesame_request.flags` (SESAME_REQUEST_*).
    REQUEST_LOG_DETECTION = 1
    REQUEST_TRUNCATED = 2
    # `sesame_request_finish` actions (SESAME_ACTION_*).
    ACTION_KEEP = 0
    ACTION_LOGIN = 1
    ACTION_LOGOUT = 2
    ACTION_REJECT = 3
    ACTION_KEEP_UNREFRESHED = 4 # keep the session, do not send the token begin refreshed (registry :grace)
    # `sesame_request_token` (SESAME_TOKEN_*).
    TOKEN_PRESENTED = 0 # the session cookie's token (between begin and finish)
    TOKEN_ISSUED = 1    # the token begin refreshed, or after a login finish the new session's
    # `sesame_request_finish` flags (SESAME_FINISH_*).
    FINISH_WARN_UNPROTECTED_GET_LOGIN = 1
    FINISH_WARN_GET_LOGOUT = 2
    # SESAME_REQUEST_INTERNAL_WORDS. The layout below is checked at load
    # against sesame_request_size(); test/cookie_rules_test.rb also checks it
    # against the C header (sizeof/offsetof with cc) and what begin writes.
    REQUEST_INTERNAL_WORDS = 96
    # "4096 bytes always suffice" (sesame_request_finish); "512 bytes
    # suffice" (sesame_request_detection_message).
    HEADERS_CAP = 4096
    DETECTION_MESSAGE_CAP = 512

    # struct sesame_request: caller storage between begin and finish.
    class Request < ::FFI::Struct
      layout :session, :uint32,
             :rejected, :uint32,
             :flags, :uint32,
             :foreign_sessions, :uint32,
             :claims, Claims,
             :internal, [:uint64, REQUEST_INTERNAL_WORDS]
    end
    unless Request.size == 16 + Claims.size + (8 * REQUEST_INTERNAL_WORDS) && Request.offset_of(:claims) == 16
      raise LoadError, "sesame: Sesame::Native::Request is #{Request.size} bytes, claims at " \
                       "#{Request.offset_of(:claims)}; expected the sesame_request of include/sesame.h"
    end
    unless Request.size == sesame_request_size
      raise LoadError, "sesame: Sesame::Native::Request layout is #{Request.size} bytes but #{library_path} says " \
                       "#{sesame_request_size}; this binding does not match the library's header"
    end
    REQUEST_SIZE = Request.size
    REQUEST_SESSION = Request.offset_of(:session)
    REQUEST_REJECTED = Request.offset_of(:rejected)
    REQUEST_FLAGS = Request.offset_of(:flags)
    REQUEST_FOREIGN = Request.offset_of(:foreign_sessions)
    REQUEST_CLAIMS = Request.offset_of(:claims)

    # Field offsets, for reading claims with single get_* calls (faster than
    # Struct#[] on the hot path of Keyring#open).
    CLAIMS_USER_ID = Claims.offset_of(:user_id)
    CLAIMS_SESSION_ID = Claims.offset_of(:session_id)
    CLAIMS_ISSUED_AT = Claims.offset_of(:issued_at)
    CLAIMS_REFRESHED_AT = Claims.offset_of(:refreshed_at)
    CLAIMS_LIFETIME = Claims.offset_of(:lifetime)
    CLAIMS_KIND = Claims.offset_of(:kind)
    CLAIMS_DATA_LEN = Claims.offset_of(:data_len)
    CLAIMS_DATA = Claims.offset_of(:data)
    CLAIMS_SIZE = Claims.size
    POLICY_SIZE = Policy.size
  end
end
