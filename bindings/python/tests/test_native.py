"""The cffi layer: loading, sizes and codes from the library, struct
layouts, every declared function, and the codes only the raw C ABI reaches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sesame
from sesame import _errors, _native
from sesame._native import NULL, ffi, lib

from .conftest import K1, NOW, REPO

FUNCTIONS = [
    "sesame_version",
    "sesame_strerror",
    "sesame_result_name",
    "sesame_token_max",
    "sesame_key_bytes",
    "sesame_session_id_bytes",
    "sesame_data_max",
    "sesame_context_max",
    "sesame_ring_capacity",
    "sesame_keyring_storage_bytes",
    "sesame_keyring_storage_align",
    "sesame_claims_size",
    "sesame_policy_size",
    "sesame_unix_now",
    "sesame_policy_default",
    "sesame_keyring_new",
    "sesame_keyring_init",
    "sesame_keyring_free",
    "sesame_keyring_set_random",
    "sesame_keyring_add_key",
    "sesame_keyring_derive_key",
    "sesame_keyring_promote",
    "sesame_keyring_retire",
    "sesame_keyring_primary_id",
    "sesame_keyring_len",
    "sesame_keyring_key_ids",
    "sesame_seal",
    "sesame_open",
    "sesame_refresh",
    "sesame_should_refresh",
    "sesame_check_revoked_before",
    "sesame_token_key_id",
    "sesame_keyring_load_keyset",
    "sesame_keyset_check",
    "sesame_cookie_rules_new",
    "sesame_cookie_rules_free",
    "sesame_cookie_rules_detections",
    "sesame_cookie_rules_names",
    "sesame_request_begin",
    "sesame_request_finish",
    "sesame_request_detection_message",
    "sesame_registry_config_default",
    "sesame_registry_open",
    "sesame_registry_free",
    "sesame_registry_register",
    "sesame_registry_check",
    "sesame_registry_peek",
    "sesame_registry_refresh",
    "sesame_registry_list",
    "sesame_registry_revoke",
    "sesame_registry_revoke_all",
    "sesame_registry_revoke_others",
    "sesame_registry_logout",
    "sesame_registry_prune",
    "sesame_request_size",
    "sesame_request_token",
    "sesame_registry_config_size",
    "sesame_registry_entry_size",
    "sesame_request_csrf_secret",
    "sesame_csrf_origin_allowed",
    "sesame_registry_config_from_policy",
    "sesame_request_csrf_token",
    "sesame_request_csrf_check",
    "sesame_device_tag",
]


def header_functions() -> set[str]:
    import re

    text = (REPO / "include" / "sesame.h").read_text()
    return set(re.findall(r"\b(sesame_[a-z_]+)\(", text))


def test_every_header_function_is_declared() -> None:
    assert header_functions() == set(FUNCTIONS)
    for name in FUNCTIONS:
        function = getattr(lib, name)
        kind = ffi.typeof(function)
        assert kind.kind == "function" and not kind.ellipsis, name
        void = name in ("sesame_keyring_free", "sesame_cookie_rules_free", "sesame_registry_free")
        assert (kind.result.cname == "void") == void, name


def test_the_declarations_are_the_headers() -> None:
    """_cdef.py (the ABI-mode fallback's declarations) is what build_cffi
    reads from include/sesame.h today (regenerate with --write-cdef)."""
    sys.path.insert(0, str(REPO / "bindings" / "python"))
    try:
        import build_cffi
    finally:
        sys.path.pop(0)
    from sesame._cdef import CDEF

    assert CDEF == build_cffi.header_cdef()


def test_the_compiled_module_is_used_when_built() -> None:
    """run-tests.sh builds the API-mode module (pip install -e): the tests
    must run through it, not silently through the ABI fallback."""
    if os.environ.get("SESAME_REQUIRE_TOOLS") == "1" and os.environ.get("SESAME_CFFI_MODE") != "abi":
        assert _native.MODE == "api"
    assert _native.MODE in ("api", "abi")


def test_the_abi_mode_fallback_works() -> None:
    code = textwrap.dedent(
        """
        import sesame, sesame._native as n
        ring = sesame.Keyring(); ring.add_key(1, bytes(range(1, 33)))
        session = ring.open(ring.seal(9, context=b"c", data=b"d"), context=b"c")
        print(n.MODE, session.user_id, session.data.decode())
        """
    )
    env = dict(os.environ, SESAME_CFFI_MODE="abi")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["abi", "9", "d"], result.stderr


def test_sizes_come_from_the_library() -> None:
    assert sesame.TOKEN_MAX == lib.sesame_token_max() == 311
    assert sesame.KEY_BYTES == lib.sesame_key_bytes() == 32
    assert sesame.SESSION_ID_BYTES == lib.sesame_session_id_bytes() == 16
    assert sesame.DATA_MAX == lib.sesame_data_max() == 128
    assert sesame.CONTEXT_MAX == lib.sesame_context_max() == 128
    assert sesame.RING_CAPACITY == lib.sesame_ring_capacity() == 8
    assert ffi.sizeof("sesame_claims") == lib.sesame_claims_size()
    assert ffi.sizeof("sesame_policy") == lib.sesame_policy_size()
    assert _native.CLAIMS_HEAD.size == ffi.offsetof("sesame_claims", "data")
    assert sesame.LIBRARY_VERSION[0].isdigit()
    assert Path(sesame.LIBRARY_PATH).name.startswith("libsesame")
    assert lib.sesame_unix_now() > NOW


def test_error_table_is_built_from_the_library() -> None:
    expected = {
        1: "Malformed", 2: "TooLong", 3: "UnsupportedVersion", 4: "UnknownKey", 5: "AuthFailed",
        6: "IdleExpired", 7: "LifetimeExpired", 8: "IssuedInFuture", 9: "Revoked",
        10: "BufferTooSmall", 11: "NoPrimaryKey", 12: "RingFull", 13: "InvalidKey",
        14: "DuplicateKeyId", 15: "DataTooLong", 16: "ContextTooLong", 17: "RandomFailed", 18: "InvalidKeyset", 19: "InvalidCookieName", 20: "RegistryUnavailable", 21: "RegistryFull", 22: "InvalidRegistryUrl",
        100: "NullArgument", 101: "InvalidArgument", 102: "InternalError",
    }  # fmt: skip
    assert {code: cls.__name__ for code, cls in _errors.ERRORS.items()} == expected
    assert _errors.RESULT_NAMES[0] == "SESAME_OK"
    for code, cls in _errors.ERRORS.items():
        assert cls is getattr(sesame, cls.__name__)
        assert cls.code == code
        assert cls.name == ffi.string(lib.sesame_result_name(code)).decode()
        error = cls()
        assert error.code == code and error.name == cls.name
        assert str(error) == ffi.string(lib.sesame_strerror(code)).decode() != "unknown error"
    messages = [str(cls()) for cls in _errors.ERRORS.values()]
    assert len(set(messages)) == len(messages)


def test_error_hierarchy() -> None:
    rejected = {"Malformed", "TooLong", "UnsupportedVersion", "UnknownKey", "AuthFailed"}
    expired = {"IdleExpired", "LifetimeExpired", "IssuedInFuture", "Revoked"}
    keyring = {"NoPrimaryKey", "RingFull", "InvalidKey", "DuplicateKeyId", "InvalidKeyset"}
    usage = {"BufferTooSmall", "DataTooLong", "ContextTooLong", "NullArgument", "InvalidArgument", "InvalidCookieName", "InvalidRegistryUrl"}
    for cls in _errors.ERRORS.values():
        assert issubclass(cls, sesame.SesameError)
        name = cls.__name__
        assert issubclass(cls, sesame.InvalidToken) == (name in rejected)
        assert issubclass(cls, sesame.SessionExpired) == (name in expired)
        assert issubclass(cls, sesame.TokenRejected) == (name in rejected | expired)
        assert issubclass(cls, sesame.KeyringError) == (name in keyring)
        assert issubclass(cls, sesame.UsageError) == (name in usage)
    assert issubclass(sesame.KeyringClosed, sesame.KeyringError)
    assert issubclass(sesame.KeyringClosed, ValueError)
    assert sesame.KeyringClosed().code is None


def test_unknown_codes() -> None:
    assert lib.sesame_result_name(23) == NULL and lib.sesame_result_name(99) == NULL
    error = _errors.error_for(23)
    assert type(error) is sesame.SesameError
    assert error.code == 23 and error.name is None
    assert str(error) == "unknown error (code 23)"
    assert ffi.string(lib.sesame_strerror(99999)) == b"unknown error"
    with pytest.raises(sesame.InternalError) as caught:
        _errors.raise_for(102)
    assert caught.value.code == 102 and caught.value.name == "SESAME_INTERNAL_ERROR"


def test_policy_default_from_the_library() -> None:
    raw = ffi.new("sesame_policy *")
    assert lib.sesame_policy_default(raw) == 0
    policy = sesame.Policy.default()
    assert policy == sesame.Policy()
    assert (policy.idle_timeout, policy.absolute_lifetime, policy.future_leeway) == (
        raw.idle_timeout,
        raw.absolute_lifetime,
        raw.future_leeway,
    )
    assert policy.refresh_after == raw.refresh_after and policy.revoked_before is None
    assert (86400, 14 * 86400, 60, 900) == (
        policy.idle_timeout,
        policy.absolute_lifetime,
        policy.future_leeway,
        policy.refresh_after,
    )


def raises_code(rc: int, cls: type[sesame.SesameError]) -> None:
    assert rc == cls.code, f"got {rc} ({_errors.RESULT_NAMES.get(rc)}), expected {cls.name}"


def test_null_argument_through_the_raw_layer() -> None:
    with sesame.Keyring() as ring:
        ring.add_key(1, K1)
        ptr = ring._ring
        buf = ffi.new("char[]", _native.TOKEN_CAP)
        size = ffi.new("size_t *")
        claims = ffi.new("sesame_claims *")
        policy = sesame.Policy.default()._c
        raises_code(lib.sesame_policy_default(NULL), sesame.NullArgument)
        raises_code(lib.sesame_keyring_new(NULL), sesame.NullArgument)
        raises_code(lib.sesame_keyring_add_key(NULL, 1, K1, 32), sesame.NullArgument)
        raises_code(lib.sesame_keyring_add_key(ptr, 2, NULL, 32), sesame.NullArgument)
        raises_code(lib.sesame_keyring_derive_key(ptr, 2, NULL, 5, b"p", 1), sesame.NullArgument)
        raises_code(lib.sesame_keyring_primary_id(ptr, NULL), sesame.NullArgument)
        raises_code(lib.sesame_keyring_len(NULL, size), sesame.NullArgument)
        raises_code(lib.sesame_keyring_promote(NULL, 1), sesame.NullArgument)
        raises_code(lib.sesame_keyring_retire(NULL, 1), sesame.NullArgument)
        raises_code(
            lib.sesame_seal(ptr, 1, 0, _native.NO_LIMIT, NULL, 5, NULL, 0, NOW, buf, len(buf), size),
            sesame.NullArgument,
        )
        raises_code(
            lib.sesame_seal(ptr, 1, 0, _native.NO_LIMIT, NULL, 0, NULL, 0, NOW, NULL, 0, size), sesame.NullArgument
        )
        assert lib.sesame_seal(ptr, 1, 0, _native.NO_LIMIT, NULL, 0, NULL, 0, NOW, buf, len(buf), size) == 0
        token = ffi.string(buf)
        raises_code(lib.sesame_open(ptr, token, len(token), NULL, 0, NULL, NOW, claims), sesame.NullArgument)
        raises_code(lib.sesame_open(ptr, token, len(token), NULL, 0, policy, NOW, NULL), sesame.NullArgument)
        raises_code(lib.sesame_open(ptr, NULL, 5, NULL, 0, policy, NOW, claims), sesame.NullArgument)
        raises_code(
            lib.sesame_refresh(ptr, token, len(token), NULL, 0, policy, NOW, NULL, 0, size, NULL),
            sesame.NullArgument,
        )
        raises_code(lib.sesame_should_refresh(policy, NULL, NOW, NULL), sesame.NullArgument)
        raises_code(lib.sesame_check_revoked_before(NULL, NOW), sesame.NullArgument)
        raises_code(lib.sesame_keyring_set_random(NULL, NULL, NULL), sesame.NullArgument)
        lib.sesame_keyring_free(NULL)  # tolerated


def test_invalid_argument_and_buffer_too_small_through_the_raw_layer() -> None:
    size, align = _native.KEYRING_STORAGE_BYTES, _native.KEYRING_STORAGE_ALIGN
    storage = ffi.new("char[]", size + align)
    base = int(ffi.cast("uintptr_t", storage))
    aligned = ffi.cast("char *", (base + align - 1) // align * align)
    out = ffi.new("sesame_keyring **")
    raises_code(lib.sesame_keyring_init(aligned + 1, size, out), sesame.InvalidArgument)
    raises_code(lib.sesame_keyring_init(aligned, 16, out), sesame.BufferTooSmall)
    assert lib.sesame_keyring_init(aligned, size, out) == 0
    assert ffi.cast("char *", out[0]) == aligned
    assert lib.sesame_keyring_add_key(out[0], 1, K1, 32) == 0
    small = ffi.new("char[]", 10)
    length = ffi.new("size_t *", 777)
    raises_code(
        lib.sesame_seal(out[0], 1, 0, _native.NO_LIMIT, NULL, 0, NULL, 0, NOW, small, len(small), length),
        sesame.BufferTooSmall,
    )
    assert length[0] == 777 and ffi.buffer(small)[:] == bytes(10)  # nothing written on failure
    claims = ffi.new("sesame_claims *")
    claims.data_len = 500
    due = ffi.new("int *")
    raises_code(lib.sesame_should_refresh(sesame.Policy.default()._c, claims, NOW, due), sesame.InvalidArgument)
    raises_code(lib.sesame_check_revoked_before(claims, NOW), sesame.InvalidArgument)
    lib.sesame_keyring_free(out[0])  # zeroizes, does not free caller storage


def test_random_failed_through_a_failing_random_source() -> None:
    calls = []

    @ffi.callback("sesame_random_fn")
    def failing(user: object, buf: object, length: int) -> int:
        calls.append(length)
        return 1

    @ffi.callback("sesame_random_fn")
    def zeros(user: object, buf: object, length: int) -> int:
        ffi.memmove(buf, bytes(length), length)
        return 0

    with sesame.Keyring() as ring:
        ring.add_key(1, K1)
        assert lib.sesame_keyring_set_random(ring._ring, failing, NULL) == 0
        with pytest.raises(sesame.RandomFailed) as caught:
            ring.seal(1, now=NOW)
        assert caught.value.name == "SESAME_RANDOM_FAILED"
        assert calls
        assert lib.sesame_keyring_set_random(ring._ring, zeros, NULL) == 0
        token = ring.seal(1, now=NOW)
        assert ring.open(token, now=NOW).session_id == bytes(16)  # the source was used
        assert lib.sesame_keyring_set_random(ring._ring, NULL, NULL) == 0  # back to the OS
        assert ring.open(ring.seal(1, now=NOW), now=NOW).session_id != bytes(16)


def test_library_not_found_lists_every_place(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sesame
        """
    )
    env = dict(os.environ, SESAME_LIB=str(tmp_path / "nope.so"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "LibraryNotFound" in result.stderr
    assert "nope.so" in result.stderr and "SESAME_LIB" in result.stderr

    probe = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("SESAME_LIB", None)
        import cffi
        def refuse(self, path, *a, **k):
            raise OSError("refused by the test: " + str(path))
        cffi.FFI.dlopen = refuse
        try:
            import sesame
        except ImportError as error:
            print(type(error).__name__)
            print(isinstance(error, ImportError))
            for place, reason in error.tried:
                print(place, "|", reason)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "SESAME_LIB"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    lines = result.stdout.splitlines()
    assert lines[0] == "LibraryNotFound" and lines[1] == "True", result.stderr
    places = "\n".join(lines[2:])
    assert "src/sesame/libsesame.so" in places  # the package's own copy
    assert len(lines) == 3  # and nowhere else


def test_sesame_lib_selects_the_library() -> None:
    path = REPO / "target" / "release" / "libsesame.so"
    code = "import sesame; print(sesame.LIBRARY_PATH)"
    env = dict(os.environ, SESAME_LIB=str(path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == str(path), result.stderr


def test_request_struct_and_constants_match_the_header() -> None:
    import re

    text = (REPO / "include" / "sesame.h").read_text()
    defines = {name: int(value) for name, value in re.findall(r"#define SESAME_([A-Z_]+) (\d+)\b", text)}
    for name in (
        "SESSION_NONE", "SESSION_VALID", "SESSION_REFRESHED", "SESSION_REJECTED",
        "REQUEST_LOG_DETECTION", "REQUEST_TRUNCATED", "ACTION_KEEP", "ACTION_LOGIN",
        "ACTION_LOGOUT", "ACTION_REJECT", "FINISH_WARN_UNPROTECTED_GET_LOGIN",
        "FINISH_WARN_GET_LOGOUT", "REQUEST_INTERNAL_WORDS", "ACTION_KEEP_UNREFRESHED",
        "TOKEN_PRESENTED", "TOKEN_ISSUED",
    ):  # fmt: skip
        assert getattr(_native, name) == defines[name], name
    request = ffi.typeof("sesame_request")
    assert [f[0] for f in request.fields] == ["session", "rejected", "flags", "foreign_sessions", "claims", "internal"]
    claims = ffi.sizeof("sesame_claims")
    assert ffi.offsetof(request, "claims") == 16 and ffi.offsetof(request, "internal") == 16 + claims
    assert ffi.sizeof(request) == 16 + claims + 8 * defines["REQUEST_INTERNAL_WORDS"]


def test_request_begin_and_finish_through_the_raw_abi(ring: sesame.Keyring) -> None:
    rules = sesame.CookieRules()
    request = ffi.new("sesame_request *")
    assert lib.sesame_request_begin(ring._ring, rules._rules, b"POST", 4, NULL, 0, NOW, request) == 0
    assert (request.session, request.foreign_sessions) == (_native.SESSION_NONE, 0)
    out = ffi.new("char[]", _native.HEADERS_CAP)
    length, flags = ffi.new("size_t *"), ffi.new("uint32_t *")
    args = (ring._ring, rules._rules, request, _native.ACTION_LOGIN, 7, 0, _native.NO_LIMIT, NULL, 0, NOW,
            out, len(out), length, flags)  # fmt: skip
    assert lib.sesame_request_finish(*args) == 0
    lines = ffi.unpack(out, length[0]).decode()
    assert lines.startswith("Set-Cookie: __Host-sesame-device=") and lines.endswith("Vary: Cookie\n")
    assert request.claims.user_id == 7 and flags[0] == 0
    assert lib.sesame_request_finish(*args) == sesame.InvalidArgument.code  # once per begin
    rules.close()
    assert lib.sesame_request_begin(ring._ring, rules._rules, b"GET", 3, NULL, 0, NOW, request) == sesame.NullArgument.code


def test_struct_sizes_match_the_library() -> None:
    assert lib.sesame_request_size() == ffi.sizeof("sesame_request")
    assert lib.sesame_registry_config_size() == ffi.sizeof("sesame_registry_config")
    assert lib.sesame_registry_entry_size() == ffi.sizeof("sesame_registry_entry")


def test_a_request_gives_its_presented_and_issued_tokens(ring: sesame.Keyring) -> None:
    """sesame_request_token, as the WSGI registry glue uses it: the token
    the request's own session cookie carried, and the one begin refreshed
    or a login issued (the same text as the Set-Cookie line)."""
    policy = sesame.Policy(refresh_after=60)
    rules = sesame.CookieRules(policy)

    def token_of(request: object, which: int) -> str | None:
        out = ffi.new("char[]", _native.TOKEN_CAP)
        length = ffi.new("size_t *")
        rc = lib.sesame_request_token(request, which, out, len(out), length)
        if rc == sesame.InvalidArgument.code:
            return None
        assert rc == 0
        return str(ffi.unpack(out, length[0]).decode())

    def run(cookie: str, method: str, action: int, now: int) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None], str]:
        request = ffi.new("sesame_request *")
        header = cookie.encode()
        assert lib.sesame_request_begin(ring._ring, rules._rules, method.encode(), len(method), header, len(header), now, request) == 0
        before = (token_of(request, _native.TOKEN_PRESENTED), token_of(request, _native.TOKEN_ISSUED))
        out = ffi.new("char[]", _native.HEADERS_CAP)
        length, flags = ffi.new("size_t *"), ffi.new("uint32_t *")
        assert lib.sesame_request_finish(ring._ring, rules._rules, request, action, 7, 0, _native.NO_LIMIT,
                                         NULL, 0, now, out, len(out), length, flags) == 0  # fmt: skip
        after = (token_of(request, _native.TOKEN_PRESENTED), token_of(request, _native.TOKEN_ISSUED))
        return before, after, ffi.unpack(out, length[0]).decode()

    jar: dict[str, str] = {}

    def apply(lines: str) -> None:
        for line in lines.splitlines():
            if line.startswith("Set-Cookie: "):
                name, _, rest = line[len("Set-Cookie: "):].partition("=")
                jar[name] = rest.split(";", 1)[0]

    def header() -> str:
        return "; ".join(f"{k}={v}" for k, v in jar.items())

    before, (_, login_token), lines = run("", "POST", _native.ACTION_LOGIN, NOW)
    assert before == (None, None)
    assert login_token is not None and f"={login_token};" in lines
    apply(lines)
    # Due for a refresh: the presented token is the login's, the issued one new.
    (presented, issued), after, lines = run(header(), "GET", _native.ACTION_KEEP, NOW + 120)
    assert presented == login_token and issued is not None and issued != login_token
    assert f"={issued};" in lines
    assert after == (None, issued)  # after finish, only the issued token
    # Kept unrefreshed: nothing issued after finish, and no header line.
    (presented, issued), after, lines = run(header(), "GET", _native.ACTION_KEEP_UNREFRESHED, NOW + 120)
    assert presented == login_token and issued is not None
    assert (after, lines) == ((None, None), "")
    # Not due: a token presented, none issued.
    (presented, issued), _, lines = run(header(), "GET", _native.ACTION_KEEP, NOW + 1)
    assert (presented, issued, lines) == (login_token, None, "")
    rules.close()


def test_cookie_rules_report_the_names_the_core_uses() -> None:
    default = sesame.CookieRules()
    assert (default.device_name, default.session_prefix) == ("__Host-sesame-device", "__Host-sesame-s-")
    custom = sesame.CookieRules(device_name="__Host-app-device", session_prefix="__Host-app-s-")
    assert (custom.device_name, custom.session_prefix) == ("__Host-app-device", "__Host-app-s-")
