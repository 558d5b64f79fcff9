"""The cffi layer: finds and loads libsesame once, binds every function of
``include/sesame.h`` and checks the struct layouts against the library.

Nothing here is public API, but tests (and the curious) may use ``ffi`` and
``lib`` to call the C ABI directly, e.g. to pass NULL where the typed API
never would.

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

HOW IT CALLS. The library is opened with ``RTLD_GLOBAL``, then the compiled
API-mode module ``sesame._sesame_cffi`` (built by setup.py from the header,
not linked with libsesame) is imported, and its ``sesame_*`` references
resolve to that library. Each call is then a direct C call from a generated
wrapper: measured fastest (``bench/ffi_modes.py``; the README's "Speed").
Without the compiled module (a checkout nobody built, or
``SESAME_CFFI_MODE=abi``), the same declarations (``_cdef.py``) are bound in
cffi's ABI mode, through libffi: slower, same behaviour. ``MODE`` says which.

THE GIL. cffi releases the GIL for the length of every C call, in both
modes: registry calls wait on their store, key changes may wait for another
thread's key change, and other threads run meanwhile. Nothing here holds a
lock of its own around a call (the library is thread-safe).
"""

from __future__ import annotations

import importlib
import os
import re
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Final

import cffi

from ._cdef import CDEF

__all__ = [
    "LibraryNotFound",
    "ffi",
    "lib",
    "MODE",
    "NULL",
    "library_path",
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
    "CLAIMS_DATA_OFFSET",
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
    "KINDS",
    "kind_code",
    "KIND_NAMES",
    "CSRF_SECRET_BYTES",
    "CLAIMS_FIELDS",
    "DETECTION_MESSAGE_CAP",
    "Buffers",
    "buffers",
    "version",
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


_loader = cffi.FFI()


def _load() -> tuple[Any, str]:
    """Opens libsesame with RTLD_GLOBAL (for the compiled module's symbols).
    The handle is kept for the life of the process: never closed."""
    tried: list[tuple[str, str]] = []
    from_env = bool(os.environ.get("SESAME_LIB"))
    for place in _candidates():
        if not from_env and not os.path.exists(place):
            tried.append((place, "no such file (the package was installed without its library)"))
            continue
        try:
            return _loader.dlopen(place, _loader.RTLD_NOW | _loader.RTLD_GLOBAL), place
        except OSError as error:
            tried.append(((f"$SESAME_LIB={place}" if from_env else place), str(error)))
    raise LibraryNotFound(tried)


_handle, library_path = _load()

_FUNCTIONS: Final[list[str]] = re.findall(r"\b(sesame_\w+)\s*\(", CDEF)


def _bind() -> tuple[Any, Any, str]:
    if os.environ.get("SESAME_CFFI_MODE", "api") != "abi":
        try:
            module = importlib.import_module("sesame._sesame_cffi")
        except ModuleNotFoundError as error:
            if error.name != "sesame._sesame_cffi":
                raise
        except ImportError as error:  # an undefined symbol: another library
            raise ImportError(
                f"sesame: {library_path} does not match this binding ({error}); "
                "rebuild it with `make -C bindings/c lib`"
            ) from error
        else:
            return module.ffi, module.lib, "api"
    abi = cffi.FFI()
    abi.cdef(CDEF)
    bound = abi.dlopen(library_path)
    for name in _FUNCTIONS:
        try:
            getattr(bound, name)
        except AttributeError as error:
            raise ImportError(
                f"sesame: {library_path} has no {name}(); it is not a matching libsesame "
                "(rebuild it with `make -C bindings/c lib`)"
            ) from error
    return abi, bound, "abi"


ffi, lib, MODE = _bind()
"""``ffi`` and ``lib`` of the compiled module ("api") or of cffi's ABI mode ("abi")."""
NULL: Final[Any] = ffi.NULL

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


def _check_layout(struct_name: str, theirs: int) -> None:
    ours = ffi.sizeof(struct_name)
    if ours != theirs:
        raise ImportError(
            f"sesame: struct {struct_name} is {theirs} bytes in {library_path} but "
            f"{ours} bytes as this binding declares it; the binding and the library do not match"
        )


for _name, _size in (
    ("sesame_claims", lib.sesame_claims_size()),
    ("sesame_policy", lib.sesame_policy_size()),
    ("sesame_request", lib.sesame_request_size()),
    ("sesame_registry_config", lib.sesame_registry_config_size()),
    ("sesame_registry_entry", lib.sesame_registry_entry_size()),
):
    _check_layout(_name, _size)
for _name, _value in (
    ("SESAME_TOKEN_MAX", TOKEN_MAX),
    ("SESAME_SESSION_ID_BYTES", SESSION_ID_BYTES),
    ("SESAME_DATA_MAX", DATA_MAX),
):
    if getattr(lib, _name) != _value:
        raise ImportError(f"sesame: {_name} is {_value} in {library_path}, not {getattr(lib, _name)} as declared")


CLAIMS_FIELDS: Final[tuple[str, ...]] = (
    "user_id", "session_id", "issued_at", "refreshed_at", "lifetime", "kind", "data_len",
)  # fmt: skip
"""The head of sesame_claims in the header's order, as CLAIMS_HEAD unpacks it."""


def _claims_format() -> str:
    """A ``struct`` format for the fixed-size head of sesame_claims (every
    field but ``data``), with the padding taken from cffi's offsets."""
    declared = tuple(name for name, _ in ffi.typeof("sesame_claims").fields)
    if declared != CLAIMS_FIELDS + ("data",):
        raise ImportError(f"sesame: sesame_claims has fields {declared}, not what this binding reads")
    codes = {"session_id": f"{SESSION_ID_BYTES}s", "kind": "B", "data_len": {4: "I", 8: "Q"}[ffi.sizeof("size_t")]}
    fields = [(name, codes.get(name, "Q")) for name in CLAIMS_FIELDS]
    fmt, position = "=", 0
    for name, code in fields:
        offset = ffi.offsetof("sesame_claims", name)
        fmt += "x" * (offset - position)
        fmt += code
        position = offset + struct.calcsize("=" + code)
    return fmt


CLAIMS_HEAD: Final[struct.Struct] = struct.Struct(_claims_format())
"""Unpacks (user_id, session_id, issued_at, refreshed_at, lifetime, kind,
data_len) from a sesame_claims buffer in one call."""
CLAIMS_DATA_OFFSET: Final[int] = ffi.offsetof("sesame_claims", "data")
if CLAIMS_HEAD.size != CLAIMS_DATA_OFFSET:
    raise ImportError("sesame: unexpected sesame_claims layout")

REQUEST_INTERNAL_WORDS: Final[int] = lib.SESAME_REQUEST_INTERNAL_WORDS
REQUEST_HEAD: Final[struct.Struct] = struct.Struct("=4I")
"""Unpacks (session, rejected, flags, foreign_sessions) from a sesame_request."""
REQUEST_CLAIMS_OFFSET: Final[int] = ffi.offsetof("sesame_request", "claims")
if REQUEST_CLAIMS_OFFSET != REQUEST_HEAD.size:
    raise ImportError("sesame: unexpected sesame_request layout")

# `sesame_request.session`.
SESSION_NONE: Final[int] = lib.SESAME_SESSION_NONE
SESSION_VALID: Final[int] = lib.SESAME_SESSION_VALID
SESSION_REFRESHED: Final[int] = lib.SESAME_SESSION_REFRESHED
SESSION_REJECTED: Final[int] = lib.SESAME_SESSION_REJECTED
# `sesame_request.flags`.
REQUEST_LOG_DETECTION: Final[int] = lib.SESAME_REQUEST_LOG_DETECTION
REQUEST_TRUNCATED: Final[int] = lib.SESAME_REQUEST_TRUNCATED
# `sesame_request_finish` actions.
ACTION_KEEP: Final[int] = lib.SESAME_ACTION_KEEP
ACTION_LOGIN: Final[int] = lib.SESAME_ACTION_LOGIN
ACTION_LOGOUT: Final[int] = lib.SESAME_ACTION_LOGOUT
ACTION_REJECT: Final[int] = lib.SESAME_ACTION_REJECT
ACTION_KEEP_UNREFRESHED: Final[int] = lib.SESAME_ACTION_KEEP_UNREFRESHED
"""Keep the session but do not send the token begin refreshed (the
registry answered GRACE)."""
# `sesame_request_token`: which token.
TOKEN_PRESENTED: Final[int] = lib.SESAME_TOKEN_PRESENTED
"""The token of the request's own session cookie (between begin and finish)."""
TOKEN_ISSUED: Final[int] = lib.SESAME_TOKEN_ISSUED
"""The token the response sets: begin's refresh, or after finish a login's."""
# `sesame_request_finish` flags.
FINISH_WARN_UNPROTECTED_GET_LOGIN: Final[int] = lib.SESAME_FINISH_WARN_UNPROTECTED_GET_LOGIN
FINISH_WARN_GET_LOGOUT: Final[int] = lib.SESAME_FINISH_WARN_GET_LOGOUT
# Session kinds (`sesame_claims.kind`, the `kind` of seal and finish).
KINDS: Final[dict[str, int]] = {
    "browser": lib.SESAME_SESSION_KIND_BROWSER,
    "remember_me": lib.SESAME_SESSION_KIND_REMEMBER_ME,
}
KIND_NAMES: Final[tuple[str, ...]] = tuple(sorted(KINDS, key=KINDS.__getitem__))
"""Kind names by code."""
if list(KINDS.values()) != list(range(len(KINDS))):
    raise ImportError("sesame: unexpected SESAME_SESSION_KIND_* codes")


def kind_code(kind: object) -> int:
    """The SESAME_SESSION_KIND_* code of ``"browser"`` or ``"remember_me"``."""
    code = KINDS.get(kind) if isinstance(kind, str) else None
    if code is None:
        raise ValueError(f"kind must be 'browser' or 'remember_me', not {kind!r}")
    return code


CSRF_SECRET_BYTES: Final[int] = lib.SESAME_CSRF_SECRET_BYTES
HEADERS_CAP: Final[int] = 4096
"""Bytes of header lines sesame_request_finish writes at most."""
DETECTION_MESSAGE_CAP: Final[int] = 512
"""Bytes sesame_request_detection_message writes at most (with its NUL)."""


def version() -> str:
    """The library's version string, e.g. ``"0.1.0"``."""
    raw = lib.sesame_version()
    return "" if raw == NULL else str(ffi.string(raw).decode("ascii"))


def c_string(pointer: Any) -> str | None:
    """A ``const char *`` the library returned, or None for NULL."""
    return None if pointer == NULL else str(ffi.string(pointer).decode("utf-8", "replace"))


class Buffers:
    """One thread's output buffers, reused by every call on that thread:
    seal/open/refresh allocate nothing in C per call."""

    __slots__ = ("token", "token_len", "token_bytes", "claims", "claims_bytes", "due", "u32", "size")

    def __init__(self) -> None:
        self.token = ffi.new("char[]", TOKEN_CAP)
        self.token_len = ffi.new("size_t *")
        self.token_bytes = ffi.buffer(self.token)
        self.claims = ffi.new("sesame_claims *")
        # The same memory as a buffer, to unpack in one struct call.
        self.claims_bytes = ffi.buffer(self.claims)
        self.due = ffi.new("int *")
        self.u32 = ffi.new("uint32_t *")
        self.size = ffi.new("size_t *")


_local = threading.local()


def buffers() -> Buffers:
    """This thread's Buffers (made on first use)."""
    try:
        return _local.buffers  # type: ignore[no-any-return]
    except AttributeError:
        made = Buffers()
        _local.buffers = made
        return made
