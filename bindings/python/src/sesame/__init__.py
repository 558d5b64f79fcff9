"""sesame: sealed, cookie-safe web session tokens (XAES-256-GCM), for Python.

A typed binding of libsesame's C ABI (``include/sesame.h``) through cffi::

    import sesame

    ring = sesame.Keyring.from_env()                        # $SESAME_KEYSET

    token = ring.seal(42, context=device_hash)             # at login
    session = ring.open(token, context=device_hash)        # on each request
    if sesame.Policy.default().should_refresh(session):
        token, session = ring.refresh(token, context=device_hash)

Errors are :class:`SesameError` subclasses, one per library code; catch
:class:`TokenRejected` for "this cookie gives no session".
``sesame.wsgi.SessionMiddleware`` and ``sesame.asgi.SessionMiddleware`` do
all of this for a WSGI or an ASGI app, with the core's cache-proof cookie
rules (:class:`CookieRules`, ``docs/COOKIES.md``).
"""

from __future__ import annotations

from . import _native
from ._errors import (
    AuthFailed,
    BufferTooSmall,
    ContextTooLong,
    DataTooLong,
    DuplicateKeyId,
    IdleExpired,
    InternalError,
    InvalidArgument,
    InvalidKey,
    InvalidKeyset,
    InvalidCookieName,
    RegistryUnavailable,
    RegistryFull,
    InvalidRegistryUrl,
    InvalidToken,
    IssuedInFuture,
    KeyringClosed,
    KeyringError,
    LifetimeExpired,
    Malformed,
    NoPrimaryKey,
    NullArgument,
    RandomFailed,
    Revoked,
    RingFull,
    SesameError,
    SessionExpired,
    TokenRejected,
    TooLong,
    UnknownKey,
    UnsupportedVersion,
    UsageError,
)
from ._native import LibraryNotFound
from .cookies import CookieRules
from .csrf import csrf_origin_allowed
from .keyring import Keyring, keyset_problem, token_key_id
from .policy import Policy, check_revoked_before
from .registry import Entry, Registry, RegistryClosed, Verdict
from .session import Session, Timestamp

#: Most characters of token text.
TOKEN_MAX: int = _native.TOKEN_MAX
#: Length of a raw key.
KEY_BYTES: int = _native.KEY_BYTES
#: Length of a session ID.
SESSION_ID_BYTES: int = _native.SESSION_ID_BYTES
#: Most bytes of session data.
DATA_MAX: int = _native.DATA_MAX
#: Most bytes of binding context.
CONTEXT_MAX: int = _native.CONTEXT_MAX
#: Most keys a ring holds.
RING_CAPACITY: int = _native.RING_CAPACITY
#: The library's version, e.g. "0.1.0".
LIBRARY_VERSION: str = _native.version()
#: Where libsesame was loaded from.
LIBRARY_PATH: str = _native.library_path

__version__ = "0.1.0"

__all__ = [
    "Keyring",
    "CookieRules",
    "csrf_origin_allowed",
    "token_key_id",
    "keyset_problem",
    "Session",
    "Policy",
    "Timestamp",
    "check_revoked_before",
    "Registry",
    "Verdict",
    "Entry",
    "RegistryClosed",
    "LibraryNotFound",
    "TOKEN_MAX",
    "KEY_BYTES",
    "SESSION_ID_BYTES",
    "DATA_MAX",
    "CONTEXT_MAX",
    "RING_CAPACITY",
    "LIBRARY_VERSION",
    "LIBRARY_PATH",
    "SesameError",
    "TokenRejected",
    "InvalidToken",
    "SessionExpired",
    "KeyringError",
    "UsageError",
    "KeyringClosed",
    "Malformed",
    "TooLong",
    "UnsupportedVersion",
    "UnknownKey",
    "AuthFailed",
    "IdleExpired",
    "LifetimeExpired",
    "IssuedInFuture",
    "Revoked",
    "BufferTooSmall",
    "NoPrimaryKey",
    "RingFull",
    "InvalidKey",
    "InvalidKeyset",
    "InvalidCookieName",
    "RegistryUnavailable",
    "RegistryFull",
    "InvalidRegistryUrl",
    "DuplicateKeyId",
    "DataTooLong",
    "ContextTooLong",
    "RandomFailed",
    "NullArgument",
    "InvalidArgument",
    "InternalError",
]
