"""Exceptions: one class per result code of the library, grouped so that a
web middleware can catch a single class for "this cookie gives no session".

::

    SesameError                      .code (int | None), .name ("SESAME_..." | None)
    +-- TokenRejected                any token that must be treated as "no session"
    |   +-- InvalidToken             Malformed, TooLong, UnsupportedVersion, UnknownKey, AuthFailed
    |   +-- SessionExpired           IdleExpired, LifetimeExpired, IssuedInFuture, Revoked
    +-- KeyringError                 NoPrimaryKey, RingFull, InvalidKey, DuplicateKeyId, InvalidKeyset, KeyringClosed
    +-- UsageError                   BufferTooSmall, DataTooLong, ContextTooLong,
    |                                NullArgument, InvalidArgument
    +-- RandomFailed
    +-- InternalError

(The same tree as the Ruby binding's.) The codes are not copied from the
header: at import the table is built from the library's own
``sesame_result_name(code)`` for every code 0-255, and each class is found by
its name (``SESAME_AUTH_FAILED`` -> ``AuthFailed``). A code that a newer
library adds still gets an exception (a plain SesameError with that code and
the library's message).
"""

from __future__ import annotations

from typing import NoReturn

from ._native import c_string, lib

__all__ = [
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
    "DuplicateKeyId",
    "DataTooLong",
    "ContextTooLong",
    "RandomFailed",
    "InvalidKeyset",
    "InvalidCookieName",
    "RegistryUnavailable",
    "RegistryFull",
    "InvalidRegistryUrl",
    "NullArgument",
    "InvalidArgument",
    "InternalError",
    "RESULT_NAMES",
    "MESSAGES",
    "ERRORS",
    "error_for",
    "raise_for",
]


class SesameError(Exception):
    """Base of every sesame error. ``code`` is the library's result code and
    ``name`` its symbolic name (``None`` for errors of the binding itself,
    such as a closed Keyring)."""

    #: The library's code for this class; set at import from the library.
    code: int | None = None
    #: The library's name for this class, e.g. "SESAME_AUTH_FAILED".
    name: str | None = None

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        if code is not None and code != type(self).code:
            # An instance for a code without a class of its own.
            self.code = code
            self.name = RESULT_NAMES.get(code)
        if message is None:
            message = _message(self.code)
        super().__init__(message)
        self.message = message


class TokenRejected(SesameError):
    """A token that gives no session: treat the request as logged out."""


class InvalidToken(TokenRejected):
    """Not one of our tokens, tampered with, bound elsewhere, or its key is gone."""


class SessionExpired(TokenRejected):
    """A genuine token that is no longer (or not yet) acceptable."""


class KeyringError(SesameError):
    """A key ring operation failed (a configuration problem)."""


class UsageError(SesameError):
    """The caller passed something the library cannot take."""


class KeyringClosed(KeyringError, ValueError):
    """The Keyring was closed (not a library code)."""

    def __init__(self, message: str = "sesame: this Keyring is closed") -> None:
        super().__init__(message)


class Malformed(InvalidToken):
    """Not a well-formed sesame token."""


class TooLong(InvalidToken):
    """Token text longer than TOKEN_MAX; rejected before decoding."""


class UnsupportedVersion(InvalidToken):
    """A token of a format version this library does not know."""


class UnknownKey(InvalidToken):
    """No key with the token's key ID (or the given ID) in the ring."""


class AuthFailed(InvalidToken):
    """Tampered token, wrong key, or wrong binding context."""


class IdleExpired(SessionExpired):
    """The idle timeout passed since the last refresh."""


class LifetimeExpired(SessionExpired):
    """The absolute lifetime (policy or per-token) passed since login."""


class IssuedInFuture(SessionExpired):
    """Timestamps further in the future than the policy's leeway."""


class Revoked(SessionExpired):
    """Issued before a revocation cut-off."""


class BufferTooSmall(UsageError):
    """An output buffer is too small."""


class NoPrimaryKey(KeyringError):
    """The ring has no primary key to seal with."""


class RingFull(KeyringError):
    """The ring holds RING_CAPACITY keys already."""


class InvalidKey(KeyringError):
    """Key material unusable: wrong length, all zeros, or empty master secret."""


class DuplicateKeyId(KeyringError):
    """A key with this ID is already in the ring."""


class InvalidKeyset(KeyringError):
    """A keyset text is invalid (the message names the line and the reason)."""


class InvalidCookieName(UsageError):
    """A cookie name is not an RFC 6265 token or collides with a framework's own cookie."""


class RegistryUnavailable(SesameError):
    """The session registry's store cannot answer (down, locked, unreadable)."""


class RegistryFull(SesameError):
    """The registry cannot take a write: its memory store is full of live
    sessions, or its SQLite file's disk is full."""


class InvalidRegistryUrl(UsageError):
    """A registry URL is not understood, or names a store this build lacks."""


class DataTooLong(UsageError):
    """Session data longer than DATA_MAX."""


class ContextTooLong(UsageError):
    """Binding context longer than CONTEXT_MAX."""


class RandomFailed(SesameError):
    """The random source failed."""


class NullArgument(UsageError):
    """A required pointer argument was NULL."""


class InvalidArgument(UsageError):
    """An argument is unusable in another way."""


class InternalError(SesameError):
    """A bug in sesame was caught at the boundary; the call had no effect."""


def _class_name(result_name: str) -> str:
    """SESAME_DUPLICATE_KEY_ID -> DuplicateKeyId."""
    bare = result_name.removeprefix("SESAME_")
    return "".join(part.capitalize() for part in bare.split("_"))


#: code -> "SESAME_..." for every code the library names (0 included).
RESULT_NAMES: dict[int, str] = {}
#: code -> the library's English message.
MESSAGES: dict[int, str] = {}
#: code -> exception class, for every non-zero code the library names.
ERRORS: dict[int, type[SesameError]] = {}

_CLASSES: dict[str, type[SesameError]] = {
    cls.__name__: cls
    for cls in (
        Malformed,
        TooLong,
        UnsupportedVersion,
        UnknownKey,
        AuthFailed,
        IdleExpired,
        LifetimeExpired,
        IssuedInFuture,
        Revoked,
        BufferTooSmall,
        NoPrimaryKey,
        RingFull,
        InvalidKey,
        DuplicateKeyId,
        DataTooLong,
        ContextTooLong,
        RandomFailed,
        InvalidKeyset,
        InvalidCookieName,
        RegistryUnavailable,
        RegistryFull,
        InvalidRegistryUrl,
        NullArgument,
        InvalidArgument,
        InternalError,
    )
}

for _code in range(256):
    _raw = c_string(lib.sesame_result_name(_code))
    if _raw is None:
        continue
    _result_name = _raw
    RESULT_NAMES[_code] = _result_name
    MESSAGES[_code] = c_string(lib.sesame_strerror(_code)) or ""
    if _code == 0:
        continue
    _cls = _CLASSES.get(_class_name(_result_name))
    if _cls is None:
        # A code newer than this binding: a class under SesameError, built
        # from the library's name so callers can still tell it apart.
        _cls = type(_class_name(_result_name), (SesameError,), {"__module__": __name__})
    _cls.code = _code
    _cls.name = _result_name
    ERRORS[_code] = _cls


def _message(code: int | None) -> str:
    if code is None:
        return "sesame error"
    message = MESSAGES.get(code)
    if message is None:
        return f"unknown error (code {code})"
    return message


def error_for(code: int) -> SesameError:
    """The exception (not raised) for a non-zero result code."""
    cls = ERRORS.get(code)
    if cls is None:
        return SesameError(code=code)
    return cls()


def raise_for(code: int) -> NoReturn:
    """Raises the exception for a non-zero result code."""
    raise error_for(code)
