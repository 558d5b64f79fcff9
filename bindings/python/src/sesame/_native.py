"""The ctypes layer: finds and loads libsesame once, declares every function
of ``include/sesame.h`` and checks the struct layouts against the library.

Nothing here is public API, but tests (and the curious) may use ``lib`` to
call the C ABI directly, e.g. to pass NULL where the typed API never would.

Where the library is looked for, in order:

1. ``$SESAME_LIB``, if set: a path to the shared library. When set, it is the
   only place tried, so a wrong setting fails loudly instead of silently
   loading some other copy.
2. The package's own copy: ``libsesame.so`` (``.dylib``, ``sesame.dll``)
   next to this file, which ``pip install bindings/python`` builds with
   cargo and puts there (see ``setup.py``).

Nothing else (no source checkout, no system library): if neither loads,
importing ``sesame`` raises :class:`LibraryNotFound` (an ``ImportError``)
naming each place tried and why it failed.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Final

__all__ = [
    "LibraryNotFound",
    "lib",
    "library_path",
    "Claims",
    "PolicyStruct",
    "RANDOM_FN",
    "TOKEN_MAX",
    "TOKEN_CAP",
    "KEY_BYTES",
    "SESSION_ID_BYTES",
    "DATA_MAX",
    "CONTEXT_MAX",
    "RING_CAPACITY",
    "NO_LIMIT",
    "U64_MAX",
    "U32_MAX",
    "CLAIMS_HEAD",
    "RequestStruct",
    "REQUEST_HEAD",
    "REQUEST_CLAIMS_OFFSET",
    "REQUEST_INTERNAL_WORDS",
    "SESSION_NONE",
    "SESSION_VALID",
    "SESSION_REFRESHED",
    "SESSION_REJECTED",
    "REQUEST_LOG_DETECTION",
    "REQUEST_TRUNCATED",
    "ACTION_KEEP",
    "ACTION_LOGIN",
    "ACTION_LOGOUT",
    "ACTION_REJECT",
    "ACTION_KEEP_UNREFRESHED",
    "TOKEN_PRESENTED",
    "TOKEN_ISSUED",
    "FINISH_WARN_UNPROTECTED_GET_LOGIN",
    "FINISH_WARN_GET_LOGOUT",
    "HEADERS_CAP",
    "DETECTION_MESSAGE_CAP",
    "Buffers",
    "buffers",
]


class LibraryNotFound(ImportError):
    """libsesame could not be loaded; ``tried`` lists (place, reason) pairs."""

    def __init__(self, tried: list[tuple[str, str]]) -> None:
        self.tried = tried
        lines = "\n".join(f"  - {place}: {reason}" for place, reason in tried)
        super().__init__(
            "sesame: could not load the libsesame shared library. Looked in:\n"
            f"{lines}\n"
            "Install the package with `pip install bindings/python` (it builds and "
            "bundles the library; needs cargo), or build it with "
            "`make -C bindings/c lib` and set SESAME_LIB=<repo>/target/release/libsesame.so."
        )


def _library_file_names() -> list[str]:
    if sys.platform == "darwin":
        return ["libsesame.dylib"]
    if sys.platform == "win32":
        return ["sesame.dll", "libsesame.dll"]
    return ["libsesame.so"]


def _candidates() -> list[str]:
    env = os.environ.get("SESAME_LIB")
    if env:
        return [env]
    here = Path(__file__).resolve().parent
    return [str(here / name) for name in _library_file_names()]


def _load() -> tuple[ctypes.CDLL, str]:
    tried: list[tuple[str, str]] = []
    from_env = bool(os.environ.get("SESAME_LIB"))
    for place in _candidates():
        if not from_env and not os.path.exists(place):
            tried.append((place, "no such file (the package was installed without its library)"))
            continue
        try:
            return ctypes.CDLL(place), place
        except OSError as error:
            tried.append(((f"$SESAME_LIB={place}" if from_env else place), str(error)))
    raise LibraryNotFound(tried)


lib, library_path = _load()


def _declare(name: str, restype: Any, argtypes: list[Any]) -> None:
    try:
        function = getattr(lib, name)
    except AttributeError as error:
        raise ImportError(
            f"sesame: {library_path} has no {name}(); it is not a matching libsesame "
            "(rebuild it with `make -C bindings/c lib`)"
        ) from error
    function.restype = restype
    function.argtypes = argtypes


# Constants and introspection first: the struct definitions depend on them.
for _name in (
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
):
    _declare(_name, c_size_t, [])
_declare("sesame_version", c_char_p, [])
_declare("sesame_strerror", c_char_p, [c_uint32])
_declare("sesame_result_name", c_char_p, [c_uint32])
_declare("sesame_unix_now", c_uint64, [])

TOKEN_MAX: Final[int] = lib.sesame_token_max()
"""Most characters of token text."""
TOKEN_CAP: Final[int] = TOKEN_MAX + 1
"""Bytes of an output buffer that always holds a token and its NUL."""
KEY_BYTES: Final[int] = lib.sesame_key_bytes()
SESSION_ID_BYTES: Final[int] = lib.sesame_session_id_bytes()
DATA_MAX: Final[int] = lib.sesame_data_max()
CONTEXT_MAX: Final[int] = lib.sesame_context_max()
RING_CAPACITY: Final[int] = lib.sesame_ring_capacity()
KEYRING_STORAGE_BYTES: Final[int] = lib.sesame_keyring_storage_bytes()
"""Caller storage sesame_keyring_init needs (the binding itself uses heap rings)."""
KEYRING_STORAGE_ALIGN: Final[int] = lib.sesame_keyring_storage_align()
U64_MAX: Final[int] = 2**64 - 1
U32_MAX: Final[int] = 2**32 - 1
NO_LIMIT: Final[int] = U64_MAX
"""SESAME_NO_LIMIT: UINT64_MAX, by the header's definition."""


class Claims(Structure):
    """``struct sesame_claims``."""

    _fields_ = [
        ("user_id", c_uint64),
        ("session_id", c_uint8 * SESSION_ID_BYTES),
        ("issued_at", c_uint64),
        ("refreshed_at", c_uint64),
        ("lifetime", c_uint64),
        ("kind", c_uint8),
        ("data_len", c_size_t),
        ("data", c_uint8 * DATA_MAX),
    ]


class PolicyStruct(Structure):
    """``struct sesame_policy``."""

    _fields_ = [
        ("idle_timeout", c_uint64),
        ("absolute_lifetime", c_uint64),
        ("future_leeway", c_uint64),
        ("revoked_before", c_uint64),
        ("refresh_after", c_uint64),
        ("remember_me_idle_timeout", c_uint64),
        ("remember_me_absolute_lifetime", c_uint64),
    ]


def _check_layout(ours: type[Structure], theirs: int, what: str) -> None:
    if ctypes.sizeof(ours) != theirs:
        raise ImportError(
            f"sesame: struct {what} is {theirs} bytes in {library_path} but "
            f"{ctypes.sizeof(ours)} bytes as this binding declares it; the binding "
            "and the library do not match"
        )


_check_layout(Claims, lib.sesame_claims_size(), "sesame_claims")
_check_layout(PolicyStruct, lib.sesame_policy_size(), "sesame_policy")


def _claims_format() -> str:
    """A ``struct`` format for the fixed-size head of sesame_claims (every
    field but ``data``), with the padding taken from ctypes' own offsets."""
    codes = {"user_id": "Q", "issued_at": "Q", "refreshed_at": "Q", "lifetime": "Q", "kind": "B"}
    fmt, position = "=", 0
    for entry in Claims._fields_[:-1]:
        name, ctype = entry[0], entry[1]
        offset = getattr(Claims, name).offset
        fmt += "x" * (offset - position)
        if name == "session_id":
            fmt += f"{SESSION_ID_BYTES}s"
        elif name == "data_len":
            fmt += {4: "I", 8: "Q"}[ctypes.sizeof(c_size_t)]
        else:
            fmt += codes[name]
        position = offset + ctypes.sizeof(ctype)
    return fmt


CLAIMS_HEAD: Final[struct.Struct] = struct.Struct(_claims_format())
"""Unpacks (user_id, session_id, issued_at, refreshed_at, lifetime, kind, data_len)
from a Claims buffer in one call."""
CLAIMS_DATA_OFFSET: Final[int] = Claims.data.offset
if CLAIMS_HEAD.size != CLAIMS_DATA_OFFSET:
    raise ImportError("sesame: unexpected sesame_claims layout")

# The cookie rules' request (docs/COOKIES.md): the header's, field for
# field; its size is checked against sesame_request_size() and the offsets
# below are asserted.
REQUEST_INTERNAL_WORDS: Final[int] = 96
"""SESAME_REQUEST_INTERNAL_WORDS."""


class RequestStruct(Structure):
    """``struct sesame_request``: caller storage for one request between
    ``sesame_request_begin`` and ``sesame_request_finish``."""

    _fields_ = [
        ("session", c_uint32),
        ("rejected", c_uint32),
        ("flags", c_uint32),
        ("foreign_sessions", c_uint32),
        ("claims", Claims),
        ("internal", c_uint64 * REQUEST_INTERNAL_WORDS),
    ]


_declare("sesame_request_size", c_size_t, [])
_check_layout(RequestStruct, lib.sesame_request_size(), "sesame_request")

REQUEST_HEAD: Final[struct.Struct] = struct.Struct("=4I")
"""Unpacks (session, rejected, flags, foreign_sessions) from a RequestStruct."""
REQUEST_CLAIMS_OFFSET: Final[int] = RequestStruct.claims.offset
if REQUEST_CLAIMS_OFFSET != REQUEST_HEAD.size or RequestStruct.internal.offset != REQUEST_CLAIMS_OFFSET + ctypes.sizeof(
    Claims
):
    raise ImportError("sesame: unexpected sesame_request layout")

# `sesame_request.session`.
SESSION_NONE: Final[int] = 0
SESSION_VALID: Final[int] = 1
SESSION_REFRESHED: Final[int] = 2
SESSION_REJECTED: Final[int] = 3
# `sesame_request.flags`.
REQUEST_LOG_DETECTION: Final[int] = 1
REQUEST_TRUNCATED: Final[int] = 2
# `sesame_request_finish` actions.
ACTION_KEEP: Final[int] = 0
ACTION_LOGIN: Final[int] = 1
ACTION_LOGOUT: Final[int] = 2
ACTION_REJECT: Final[int] = 3
ACTION_KEEP_UNREFRESHED: Final[int] = 4
"""Keep the session but do not send the token begin refreshed (the
registry answered GRACE)."""
# `sesame_request_token`: which token.
TOKEN_PRESENTED: Final[int] = 0
"""The token of the request's own session cookie (between begin and finish)."""
TOKEN_ISSUED: Final[int] = 1
"""The token the response sets: begin's refresh, or after finish a login's."""
# `sesame_request_finish` flags.
FINISH_WARN_UNPROTECTED_GET_LOGIN: Final[int] = 1
FINISH_WARN_GET_LOGOUT: Final[int] = 2
HEADERS_CAP: Final[int] = 4096
"""Bytes of header lines sesame_request_finish writes at most."""
DETECTION_MESSAGE_CAP: Final[int] = 512
"""Bytes sesame_request_detection_message writes at most (with its NUL)."""

RANDOM_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint8), c_size_t)
"""``sesame_random_fn``: int (*)(void *user, uint8_t *buf, size_t len)."""

_R = c_uint32  # sesame_result
# The ring is opaque: a void pointer. Input byte strings are c_char_p (bytes
# or None), which ctypes passes without copying.
_declare("sesame_policy_default", _R, [POINTER(PolicyStruct)])
_declare("sesame_keyring_new", _R, [POINTER(c_void_p)])
_declare("sesame_keyring_init", _R, [c_void_p, c_size_t, POINTER(c_void_p)])
_declare("sesame_keyring_free", None, [c_void_p])
_declare("sesame_keyring_set_random", _R, [c_void_p, RANDOM_FN, c_void_p])
_declare("sesame_keyring_add_key", _R, [c_void_p, c_uint32, c_char_p, c_size_t])
_declare(
    "sesame_keyring_derive_key", _R, [c_void_p, c_uint32, c_char_p, c_size_t, c_char_p, c_size_t]
)
_declare("sesame_keyring_promote", _R, [c_void_p, c_uint32])
_declare("sesame_keyring_retire", _R, [c_void_p, c_uint32])
_declare("sesame_keyring_primary_id", _R, [c_void_p, POINTER(c_uint32)])
_declare("sesame_keyring_len", _R, [c_void_p, POINTER(c_size_t)])
_declare("sesame_keyring_key_ids", _R, [c_void_p, POINTER(c_uint32), c_size_t, POINTER(c_size_t)])
_declare("sesame_token_key_id", _R, [c_char_p, c_size_t, POINTER(c_uint32)])
_declare("sesame_keyring_load_keyset", _R, [c_void_p, c_char_p, c_size_t])
_declare("sesame_keyset_check", _R, [c_char_p, c_size_t, c_char_p, c_size_t, POINTER(c_size_t)])
# The cookie rules (docs/COOKIES.md); the rules are opaque (a void
# pointer), sesame_request is caller storage (a RequestStruct).
_declare("sesame_cookie_rules_new", _R, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, POINTER(c_void_p)])
_declare("sesame_cookie_rules_free", None, [c_void_p])
_declare("sesame_cookie_rules_detections", _R, [c_void_p, POINTER(c_uint64)])
_declare(
    "sesame_cookie_rules_names",
    _R,
    [c_void_p, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_void_p), POINTER(c_size_t)],
)
_declare(
    "sesame_request_begin",
    _R,
    [c_void_p, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64, POINTER(RequestStruct)],
)
_declare(
    "sesame_request_finish",
    _R,
    [c_void_p, c_void_p, POINTER(RequestStruct), c_uint32, c_uint64, c_uint8, c_uint64, c_char_p, c_size_t, c_uint64,
     POINTER(c_char), c_size_t, POINTER(c_size_t), POINTER(c_uint32)],
)
# CSRF bound to the device (docs/COOKIES.md).
_declare("sesame_request_csrf_secret", _R, [POINTER(RequestStruct), POINTER(c_char), c_size_t, POINTER(c_int)])
_declare(
    "sesame_request_csrf_token",
    _R,
    [c_void_p, POINTER(RequestStruct), POINTER(c_char), c_size_t, POINTER(c_size_t)],
)
_declare(
    "sesame_request_csrf_check",
    _R,
    [POINTER(RequestStruct), c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t,
     POINTER(c_int)],
)
_declare(
    "sesame_csrf_origin_allowed",
    _R,
    [c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, POINTER(c_int)],
)
_declare(
    "sesame_request_detection_message",
    _R,
    [c_void_p, POINTER(RequestStruct), POINTER(c_char), c_size_t, POINTER(c_size_t)],
)
# The session registry (docs/REGISTRY.md). Calls may block on the store:
# loaded from the GIL-releasing library handle.
_U8P = POINTER(c_uint8)
_declare("sesame_registry_config_default", _R, [c_void_p])
_declare("sesame_registry_config_from_policy", _R, [POINTER(PolicyStruct), c_void_p])
_declare("sesame_registry_open", _R, [c_char_p, c_size_t, c_void_p, POINTER(c_void_p)])
_declare("sesame_registry_free", None, [c_void_p])
_declare(
    "sesame_registry_register",
    _R,
    [c_void_p, c_uint64, _U8P, c_uint8, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t,
     c_uint64, POINTER(c_uint32)],
)
_declare("sesame_registry_check", _R, [c_void_p, c_uint64, _U8P, c_char_p, c_size_t, c_uint64, POINTER(c_uint32)])
_declare("sesame_registry_peek", _R, [c_void_p, c_uint64, _U8P, c_uint64, POINTER(c_uint32)])
_declare(
    "sesame_registry_refresh",
    _R,
    [c_void_p, c_uint64, _U8P, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64, POINTER(c_uint32)],
)
_declare("sesame_registry_list", _R, [c_void_p, c_uint64, c_uint64, c_void_p, c_size_t, POINTER(c_size_t)])
_declare("sesame_registry_revoke", _R, [c_void_p, c_uint64, _U8P, c_uint64, POINTER(c_uint32)])
_declare("sesame_registry_revoke_all", _R, [c_void_p, c_uint64, c_uint64, POINTER(c_uint32)])
_declare("sesame_registry_revoke_others", _R, [c_void_p, c_uint64, _U8P, c_uint64, POINTER(c_uint32)])
_declare("sesame_registry_logout", _R, [c_void_p, c_uint64, _U8P, c_char_p, c_size_t, c_uint64, POINTER(c_uint32)])
_declare("sesame_registry_prune", _R, [c_void_p, c_uint64, POINTER(c_size_t)])
_declare("sesame_request_token", _R, [c_void_p, c_uint32, POINTER(c_char), c_size_t, POINTER(c_size_t)])
_declare("sesame_registry_config_size", c_size_t, [])
_declare("sesame_registry_entry_size", c_size_t, [])
_declare(
    "sesame_seal",
    _R,
    [
        c_void_p,  # ring
        c_uint64,  # user_id
        c_uint8,  # kind
        c_uint64,  # lifetime
        c_char_p,  # data
        c_size_t,  # data_len
        c_char_p,  # context
        c_size_t,  # context_len
        c_uint64,  # now
        POINTER(c_char),  # token_out
        c_size_t,  # token_cap
        POINTER(c_size_t),  # token_len_out
    ],
)
_declare(
    "sesame_open",
    _R,
    [
        c_void_p,  # ring
        c_char_p,  # token
        c_size_t,  # token_len
        c_char_p,  # context
        c_size_t,  # context_len
        POINTER(PolicyStruct),  # policy
        c_uint64,  # now
        POINTER(Claims),  # claims_out
    ],
)
_declare(
    "sesame_refresh",
    _R,
    [
        c_void_p,  # ring
        c_char_p,  # token
        c_size_t,  # token_len
        c_char_p,  # context
        c_size_t,  # context_len
        POINTER(PolicyStruct),  # policy
        c_uint64,  # now
        POINTER(c_char),  # token_out
        c_size_t,  # token_cap
        POINTER(c_size_t),  # token_len_out
        POINTER(Claims),  # claims_out (may be NULL)
    ],
)
_declare(
    "sesame_should_refresh", _R, [POINTER(PolicyStruct), POINTER(Claims), c_uint64, POINTER(c_int)]
)
_declare("sesame_check_revoked_before", _R, [POINTER(Claims), c_uint64])


# The GIL. Calls through ``lib`` (a CDLL) release the GIL for the length of
# the native call: key changes and load_keyset may wait inside the library
# for another thread's key change, and nothing may wait holding the GIL.
# The three hot-path entry points below are bound through a PyDLL instead,
# which keeps the GIL: seal, open and refresh never block (they read an
# immutable snapshot), take about 0.4 µs, and re-entering Python from them
# (a random-source callback) works with the GIL held. Measured on the 2-CPU
# development machine (Python 3.11): keeping the GIL makes seal and open
# about 0.05 µs (3-5%) faster on one thread, and releasing it bought no
# throughput with 2 or 4 threads sealing and opening at once (2.9-3.3 µs
# per seal+open with it released, 2.8-3.0 µs kept): the Python around each
# call, which needs the GIL anyway, is most of the time. On a free-threaded
# build there is no GIL to hold or release.
_py_lib = ctypes.PyDLL(library_path)


def _unprototyped(name: str) -> Any:
    """A function object for ``name`` with restype sesame_result, *no*
    argtypes (see ``Buffers``), called with the GIL held (see above)."""
    function = _py_lib._FuncPtr((name, _py_lib))
    function.restype = c_uint32
    return function


# The hot path. With argtypes, ctypes runs a Python-level from_param
# converter for every argument of every call: about 1 µs of the ~4 µs of an
# 11-argument seal on a small machine. These three entry points are called
# instead with arguments that are *all* explicitly typed already: ctypes
# instances (c_uint64, c_size_t, c_void_p) passed by value, byref() objects
# for output pointers, and bytes/None for input byte strings (char*/NULL),
# so ctypes passes each with its exact C type and converts nothing. Only
# keyring.py calls them, always through the Buffers below; every other
# call (and every test of the raw ABI) goes through the prototyped ``lib``.
fast_seal: Final[Any] = _unprototyped("sesame_seal")
fast_open: Final[Any] = _unprototyped("sesame_open")
fast_refresh: Final[Any] = _unprototyped("sesame_refresh")
# The WSGI middleware's per-request pair, called the same way (sesame.wsgi).
fast_request_begin: Final[Any] = _unprototyped("sesame_request_begin")
fast_request_finish: Final[Any] = _unprototyped("sesame_request_finish")

ZERO_SIZE: Final[c_size_t] = c_size_t(0)
NO_LIMIT_U64: Final[c_uint64] = c_uint64(U64_MAX)
KINDS: Final[dict[str, c_uint8]] = {"browser": c_uint8(0), "remember_me": c_uint8(1)}
"""SESAME_SESSION_KIND_*, typed for the unprototyped calls."""
KIND_NAMES: Final[tuple[str, str]] = ("browser", "remember_me")
CSRF_SECRET_BYTES: Final[int] = 32  # SESAME_CSRF_SECRET_BYTES
TOKEN_CAP_SIZE: Final[c_size_t] = c_size_t(TOKEN_CAP)
NULL: Final[None] = None


def version() -> str:
    """The library's version string, e.g. ``"0.1.0"``."""
    raw = lib.sesame_version()
    return raw.decode("ascii") if raw else ""


class Buffers:
    """One thread's call buffers, reused by every call on that thread:
    seal/open/refresh allocate no ctypes objects per call. The input slots
    (``user``, ``now``, ...) are per thread because a call reads them after
    they are set, and another thread could set a shared one in between."""

    __slots__ = (
        "token", "token_len", "claims", "claims_bytes", "due", "u32", "size",
        "token_ref", "token_len_ref", "claims_ref",
        "user", "lifetime", "now",
    )  # fmt: skip

    def __init__(self) -> None:
        self.token = ctypes.create_string_buffer(TOKEN_CAP)
        self.token_len = c_size_t()
        self.claims = Claims()
        # The same memory as bytes-like, to unpack and slice without ctypes' per-field access.
        self.claims_bytes = memoryview(self.claims).cast("B")
        self.due = c_int()
        self.u32 = c_uint32()
        self.size = c_size_t()
        self.token_ref = ctypes.byref(self.token)
        self.token_len_ref = ctypes.byref(self.token_len)
        self.claims_ref = ctypes.byref(self.claims)
        self.user = c_uint64()
        self.lifetime = c_uint64()
        self.now = c_uint64()


_local = threading.local()


def buffers() -> Buffers:
    """This thread's Buffers (made on first use)."""
    try:
        return _local.buffers  # type: ignore[no-any-return]
    except AttributeError:
        made = Buffers()
        _local.buffers = made
        return made
