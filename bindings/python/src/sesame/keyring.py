"""Keyring: the keys, and seal / open / refresh.

THREADS. One Keyring is meant to be shared by every thread of a process.
The C ABI lets ``sesame_seal``/``open``/``refresh`` (and the read-only
queries) run concurrently through one ring, but needs exclusive access to
change the keys (add, derive, promote, retire, free). The Keyring enforces
exactly that with a reader-writer discipline built for a short hot path:

- A reader (seal/open/refresh/len/primary_id) registers itself by storing
  the Keyring in its thread's buffers (``buffers.reading = self``), then
  checks the ``_writing`` flag. If no writer is active it calls into the
  library (ctypes releases the GIL, so readers run side by side) and
  unregisters (``reading = None``). If a writer is active it unregisters,
  waits for the writer's lock, and retries.
- A writer (key changes and close) takes ``_write_lock`` (one writer at a
  time), sets ``_writing``, waits until no thread's buffers are reading this
  Keyring, changes the ring, and clears the flag. Because a reader registers
  *before* it reads the flag and the writer sets the flag *before* it looks
  at the readers, either the reader sees the flag and backs off, or the
  writer sees the reader and waits for it: never both in the ring at once.

An uncontended reader pays two attribute stores and one attribute read, no
lock. Writers poll (key changes are rare and readers take microseconds).
This relies on the GIL making those attribute stores and reads atomic and
ordered; on a free-threaded CPython build every call takes ``_write_lock``
instead (correct, but seal/open no longer overlap).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import sys
import threading
import time
import weakref
from datetime import timedelta
from types import TracebackType
from typing import Callable, TypeVar, Union

from . import _native
from ._errors import KeyringClosed, raise_for
from ._native import NO_LIMIT, TOKEN_CAP, TOKEN_MAX, U32_MAX, U64_MAX, Buffers
from .policy import Policy
from .session import Session, Timestamp, session_from_claims, to_unix

__all__ = ["Keyring", "Bytes"]

#: Byte strings the API accepts (copied to ``bytes`` if not already).
Bytes = Union[bytes, bytearray, memoryview]

_T = TypeVar("_T")

_lib = _native.lib
_seal = _native.fast_seal
_open = _native.fast_open
_refresh = _native.fast_refresh
_buffers = _native.buffers
_local = _native._local
_DEFAULT_REF = Policy.default()._ref
_ZERO = _native.ZERO_SIZE
_NO_LIMIT_U64 = _native.NO_LIMIT_U64
_CAP = _native.TOKEN_CAP_SIZE
# Immutable size_t arguments for every length up to TOKEN_CAP, shared by all
# threads (never written after this line): cheaper than setting a buffer's.
_SIZES = tuple(ctypes.c_size_t(n) for n in range(TOKEN_CAP + 1))
_SIZES_LEN = len(_SIZES)
_unpack_head = _native.CLAIMS_HEAD.unpack_from
_DATA = _native.CLAIMS_DATA_OFFSET
_new = object.__new__
_time = time.time
_GIL = not (hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled())


def _key_id(key_id: int) -> int:
    if type(key_id) is not int or not 0 <= key_id <= U32_MAX:
        raise ValueError(f"key_id must be an int in 0 .. 2**32-1, not {key_id!r}")
    return key_id


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _token_bytes(token: object) -> bytes:
    """Token text as the ASCII bytes the library reads. Anything over
    TOKEN_MAX is cut to TOKEN_MAX + 1 characters (the library still says
    TooLong, without us copying a huge string); non-ASCII characters become
    '?', which the library rejects as Malformed."""
    if isinstance(token, str):
        if len(token) > TOKEN_MAX:
            token = token[: TOKEN_MAX + 1]
        return token.encode("ascii", "replace")
    if isinstance(token, (bytes, bytearray, memoryview)):
        return bytes(token[: TOKEN_MAX + 1])
    raise TypeError(f"token must be str, not {type(token).__name__}")


def _slow_now(now: object) -> int:
    return to_unix(now)  # type: ignore[arg-type]


def _policy_ref(policy: object) -> object:
    # Checked because the reference goes to an unprototyped call.
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a sesame.Policy, not {type(policy).__name__}")
    return policy._ref


def _lifetime(lifetime: int | timedelta | None) -> int:
    if lifetime is None:
        return NO_LIMIT
    if isinstance(lifetime, timedelta):
        lifetime = lifetime // timedelta(seconds=1)
    if type(lifetime) is not int or not 0 <= lifetime < NO_LIMIT:
        raise ValueError(f"lifetime must be None or seconds in 0 .. 2**64-2, not {lifetime!r}")
    return lifetime


class Keyring:
    """Up to ``sesame.RING_CAPACITY`` keys with u32 IDs, one of them the
    primary that seals; every key present opens. Owns a heap ring from
    ``sesame_keyring_new``, zeroized and freed by ``sesame_keyring_free`` on
    :meth:`close`, at the end of a ``with`` block, or when garbage-collected.

    ::

        ring = sesame.Keyring()
        ring.derive_key(1, master_secret, b"session cookie")
        token = ring.seal(42)
        session = ring.open(token)          # Session(user_id=42, ...)

    Safe to share between threads; see the module docstring.
    """

    __slots__ = ("_ring", "_ring_arg", "_writing", "_write_lock", "__weakref__")

    def __init__(self) -> None:
        self._ring: int = 0  # the address, for key changes and free
        self._ring_arg = ctypes.c_void_p()  # the same as a typed argument, for readers
        self._writing = not _GIL  # without a GIL, every call goes through the lock
        self._write_lock = threading.Lock()
        out = ctypes.c_void_p()
        rc = _lib.sesame_keyring_new(ctypes.byref(out))
        if rc:
            raise_for(rc)
        self._ring = out.value or 0
        self._ring_arg = ctypes.c_void_p(self._ring)
        _RINGS.add(self)

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Zeroizes and frees the keys now. Waits for calls in flight; later
        calls raise :class:`sesame.KeyringClosed`. Idempotent."""
        if not self._ring:
            return
        self._write(self._free)

    def _free(self, ring: int) -> None:
        self._ring = 0
        self._ring_arg = ctypes.c_void_p()
        _lib.sesame_keyring_free(ring)

    @property
    def closed(self) -> bool:
        return not self._ring

    def __enter__(self) -> Keyring:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        ring = getattr(self, "_ring", 0)
        if ring:
            # No call can be in flight: every call holds a reference to self.
            self._ring = 0
            try:
                _lib.sesame_keyring_free(ring)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def _after_fork_in_child(self) -> None:
        # Threads that were inside a call at fork() do not exist in the
        # child: forget them (_reset_after_fork), and any lock they held.
        self._write_lock = threading.Lock()
        self._writing = not _GIL or not self._ring

    def __copy__(self) -> Keyring:
        raise TypeError("a sesame.Keyring cannot be copied; share the same instance")

    def __deepcopy__(self, memo: object) -> Keyring:
        raise TypeError("a sesame.Keyring cannot be copied; share the same instance")

    def __reduce__(self) -> str:
        raise TypeError("a sesame.Keyring cannot be pickled (it holds keys)")

    def __repr__(self) -> str:
        if self.closed:
            return "<sesame.Keyring closed>"
        return f"<sesame.Keyring keys={len(self)} primary={self.primary_id!r}>"

    # -- the reader-writer discipline ----------------------------------------

    def _write(self, change: Callable[[int], _T]) -> _T:
        """Runs ``change(ring)`` with no reader in the ring."""
        with self._write_lock:
            ring = self._ring
            if not ring:
                raise KeyringClosed()
            self._writing = True
            try:
                pause = 0.0
                while self._has_readers():
                    time.sleep(pause)
                    pause = min(pause * 2 or 1e-6, 1e-3)
                return change(ring)
            finally:
                # A closed ring keeps readers on the slow path, which raises KeyringClosed.
                self._writing = not _GIL or not self._ring

    def _has_readers(self) -> bool:
        with _native._registry_lock:
            everyone = list(_native.ALL_BUFFERS)
        return any(buffers.reading is self for buffers in everyone)

    def _wait_for_writer(self, buffers: Buffers) -> ctypes.c_void_p:
        """The slow path of a reader that met a writer (or a closed ring, or
        a build without a GIL). Returns the ring, registered as a reader;
        the caller unregisters."""
        buffers.reading = None
        while True:
            with self._write_lock:
                if not _GIL:
                    # No GIL: hold the lock across the whole call instead;
                    # the caller's unregistering is then a harmless no-op.
                    raise _HoldLock
                if not self._ring:
                    raise KeyringClosed()
            buffers.reading = self
            if not self._writing:
                return self._ring_arg
            buffers.reading = None

    def _locked_call(self, call: Callable[[ctypes.c_void_p], _T]) -> _T:
        with self._write_lock:
            if not self._ring:
                raise KeyringClosed()
            return call(self._ring_arg)

    # -- key changes (exclusive) ------------------------------------------------

    def add_key(self, key_id: int, key: Bytes) -> None:
        """Adds a raw key of ``sesame.KEY_BYTES`` (32) bytes under ``key_id``
        (0 .. 2**32-1). The first key of a ring without a primary becomes the
        primary. Raises InvalidKey (wrong length, all zeros), DuplicateKeyId,
        RingFull."""
        key_id = _key_id(key_id)
        material = _as_bytes(key, "key")
        self._check(self._write(lambda ring: _lib.sesame_keyring_add_key(ring, key_id, material, len(material))))

    def derive_key(self, key_id: int, master: Bytes | str, purpose: Bytes | str = b"") -> None:
        """Adds a key derived with HKDF-SHA256 from ``master`` (any non-empty
        secret) and a ``purpose`` label, e.g. ``b"session cookie 2026-11"``
        (str is taken as UTF-8)."""
        key_id = _key_id(key_id)
        secret = master.encode() if isinstance(master, str) else _as_bytes(master, "master")
        label = purpose.encode() if isinstance(purpose, str) else _as_bytes(purpose, "purpose")
        self._check(
            self._write(
                lambda ring: _lib.sesame_keyring_derive_key(ring, key_id, secret, len(secret), label, len(label))
            )
        )

    def promote(self, key_id: int) -> None:
        """Makes ``key_id`` the key that seals (new and refreshed tokens)."""
        key_id = _key_id(key_id)
        self._check(self._write(lambda ring: _lib.sesame_keyring_promote(ring, key_id)))

    def retire(self, key_id: int) -> None:
        """Removes ``key_id`` (zeroizing it): tokens sealed under it stop
        opening (UnknownKey)."""
        key_id = _key_id(key_id)
        self._check(self._write(lambda ring: _lib.sesame_keyring_retire(ring, key_id)))

    @staticmethod
    def _check(rc: int) -> None:
        if rc:
            raise_for(rc)

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random key of ``sesame.KEY_BYTES`` bytes (for tests, or to
        create a secret to store; production keys come from a secret store)."""
        return secrets.token_bytes(_native.KEY_BYTES)

    # -- queries (shared) -------------------------------------------------------

    def _read(self, call: Callable[[ctypes.c_void_p, Buffers], _T]) -> _T:
        buffers = _buffers()
        try:
            buffers.reading = self
            ring = self._ring_arg
            if self._writing:
                ring = self._wait_for_writer(buffers)
            return call(ring, buffers)
        except _HoldLock:
            return self._locked_call(lambda ring: call(ring, buffers))
        finally:
            buffers.reading = None

    @property
    def primary_id(self) -> int | None:
        """The primary key's ID, or None if the ring has none."""

        def query(ring: ctypes.c_void_p, buffers: Buffers) -> int | None:
            rc = _lib.sesame_keyring_primary_id(ring, ctypes.byref(buffers.u32))
            if rc == _NO_PRIMARY_KEY:
                return None
            if rc:
                raise_for(rc)
            return int(buffers.u32.value)

        return self._read(query)

    def __len__(self) -> int:
        """The number of keys in the ring."""

        def query(ring: ctypes.c_void_p, buffers: Buffers) -> int:
            rc = _lib.sesame_keyring_len(ring, ctypes.byref(buffers.size))
            if rc:
                raise_for(rc)
            return int(buffers.size.value)

        return self._read(query)

    # -- tokens (shared; the hot path) -------------------------------------------
    #
    # These three go through the unprototyped entry points of _native (every
    # argument an explicitly typed ctypes object, see _native.Buffers), the
    # thread's reusable buffers, and the reader side of the discipline above.

    def seal(
        self,
        user_id: int,
        context: Bytes | None = None,
        data: Bytes | None = None,
        lifetime: int | timedelta | None = None,
        now: Timestamp | None = None,
    ) -> str:
        """Seals a new session for ``user_id`` (0 .. 2**64-1) under the
        primary key and returns the token: at most ``sesame.TOKEN_MAX``
        base64url characters, safe as a cookie value.

        ``context`` binds the token (at most CONTEXT_MAX bytes, e.g. the
        SHA-256 of a device cookie; ``open`` must pass the same), ``data`` is
        up to DATA_MAX bytes of the application's own, ``lifetime`` the
        token's own lifetime in seconds from now ("remember me"; the policy's
        absolute lifetime still applies), ``now`` the login time (default:
        the current time). Raises NoPrimaryKey, DataTooLong, ContextTooLong,
        RandomFailed."""
        if type(user_id) is not int or not 0 <= user_id <= U64_MAX:
            raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {user_id!r}")
        try:
            b: Buffers = _local.buffers
        except AttributeError:
            b = _buffers()
        b.user.value = user_id
        b.now.value = int(_time()) if now is None else now if type(now) is int and 0 <= now <= U64_MAX else _slow_now(now)
        if lifetime is None:
            span = _NO_LIMIT_U64
        else:
            span = b.lifetime
            span.value = _lifetime(lifetime)
        if context is None:
            context_len = _ZERO
        else:
            if type(context) is not bytes:
                context = _as_bytes(context, "context")
            n = len(context)
            context_len = _SIZES[n] if n < _SIZES_LEN else ctypes.c_size_t(n)
        if data is None:
            data_len = _ZERO
        else:
            if type(data) is not bytes:
                data = _as_bytes(data, "data")
            n = len(data)
            data_len = _SIZES[n] if n < _SIZES_LEN else ctypes.c_size_t(n)
        try:
            b.reading = self
            ring = self._ring_arg
            if self._writing:
                ring = self._wait_for_writer(b)
            rc = _seal(ring, b.user, span, data, data_len, context, context_len, b.now, b.token_ref, _CAP, b.token_len_ref)
        except _HoldLock:
            rc = self._locked_call(
                lambda ring: _seal(
                    ring, b.user, span, data, data_len, context, context_len, b.now, b.token_ref, _CAP, b.token_len_ref
                )
            )
        finally:
            b.reading = None
        if rc:
            raise_for(rc)
        return b.token.value.decode("ascii")

    def open(
        self,
        token: str,
        context: Bytes | None = None,
        now: Timestamp | None = None,
        policy: Policy | None = None,
    ) -> Session:
        """Opens ``token`` sealed for ``context`` and checks it against
        ``policy`` (default: ``Policy.default()``) at ``now`` (default: the
        current time). Raises a :class:`sesame.TokenRejected` subclass for any
        token that gives no session: InvalidToken (Malformed, TooLong,
        UnsupportedVersion, UnknownKey, AuthFailed) or SessionExpired
        (IdleExpired, LifetimeExpired, IssuedInFuture, Revoked); and
        ContextTooLong for a context over CONTEXT_MAX bytes."""
        if type(token) is str and len(token) <= TOKEN_MAX and token.isascii():
            text = token.encode()
        else:
            text = _token_bytes(token)
        try:
            b: Buffers = _local.buffers
        except AttributeError:
            b = _buffers()
        text_len = _SIZES[len(text)]  # at most TOKEN_MAX + 1
        b.now.value = int(_time()) if now is None else now if type(now) is int and 0 <= now <= U64_MAX else _slow_now(now)
        if context is None:
            context_len = _ZERO
        else:
            if type(context) is not bytes:
                context = _as_bytes(context, "context")
            n = len(context)
            context_len = _SIZES[n] if n < _SIZES_LEN else ctypes.c_size_t(n)
        rules = _DEFAULT_REF if policy is None else policy._ref if type(policy) is Policy else _policy_ref(policy)
        try:
            b.reading = self
            ring = self._ring_arg
            if self._writing:
                ring = self._wait_for_writer(b)
            rc = _open(ring, text, text_len, context, context_len, rules, b.now, b.claims_ref)
        except _HoldLock:
            rc = self._locked_call(
                lambda ring: _open(ring, text, text_len, context, context_len, rules, b.now, b.claims_ref)
            )
        finally:
            b.reading = None
        if rc:
            raise_for(rc)
        # session_from_claims(b), inlined: the hot path's last step.
        user_id, session_id, issued, refreshed, lifetime, data_len = _unpack_head(b.claims_bytes)
        session = _new(Session)
        fields = session.__dict__
        fields["user_id"] = user_id
        fields["session_id"] = session_id
        fields["_issued_unix"] = issued
        fields["_refreshed_unix"] = refreshed
        fields["lifetime"] = None if lifetime == NO_LIMIT else lifetime
        fields["data"] = bytes(b.claims_bytes[_DATA : _DATA + data_len]) if data_len else b""
        return session

    def refresh(
        self,
        token: str,
        context: Bytes | None = None,
        now: Timestamp | None = None,
        policy: Policy | None = None,
    ) -> tuple[str, Session]:
        """Opens ``token`` as :meth:`open` does and seals it again under the
        primary key with a fresh nonce and ``refreshed_at = now`` (session ID,
        login time, lifetime and data kept). Returns the new token and the
        refreshed session. Raises what :meth:`open` and :meth:`seal` raise."""
        text = _token_bytes(token)
        try:
            b: Buffers = _local.buffers
        except AttributeError:
            b = _buffers()
        text_len = _SIZES[len(text)]  # at most TOKEN_MAX + 1
        b.now.value = int(_time()) if now is None else _slow_now(now)
        if context is None:
            context_len = _ZERO
        else:
            context = _as_bytes(context, "context")
            n = len(context)
            context_len = _SIZES[n] if n < _SIZES_LEN else ctypes.c_size_t(n)
        rules = _DEFAULT_REF if policy is None else policy._ref if type(policy) is Policy else _policy_ref(policy)

        def call(ring: object) -> int:
            return int(
                _refresh(
                    ring, text, text_len, context, context_len, rules, b.now,
                    b.token_ref, _CAP, b.token_len_ref, b.claims_ref,
                )
            )  # fmt: skip

        try:
            b.reading = self
            ring = self._ring_arg
            if self._writing:
                ring = self._wait_for_writer(b)
            rc = call(ring)
        except _HoldLock:
            rc = self._locked_call(call)
        finally:
            b.reading = None
        if rc:
            raise_for(rc)
        return b.token.value.decode("ascii"), session_from_claims(b)


_RINGS: weakref.WeakSet[Keyring] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for buffers in list(_native.ALL_BUFFERS):
        buffers.reading = None
    _native._registry_lock = threading.Lock()
    for ring in list(_RINGS):
        ring._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class _HoldLock(Exception):
    """Internal: on a free-threaded build, redo the call under the write lock."""


def _no_primary_key_code() -> int:
    from ._errors import NoPrimaryKey

    return NoPrimaryKey.code if NoPrimaryKey.code is not None else -1


_NO_PRIMARY_KEY = _no_primary_key_code()
