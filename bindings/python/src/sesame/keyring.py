"""Keyring: the keys, and seal / open / refresh.

THREADS. One Keyring is meant to be shared by every thread of a process, and
the binding adds no locking of its own: every heap ring of libsesame is safe
for any mix of threads (seal, open, refresh and the queries read an immutable
snapshot and never block; add, derive, promote, retire and load_keyset
publish a new snapshot atomically), so each method calls the library
directly. Key changes and queries release the GIL while in the library (a
key change may wait there for another thread's key change); seal, open and
refresh keep it (they never block, and keeping it measured slightly faster:
see ``_native``).

CLOSING. The one call the library does not let overlap with others is
``sesame_keyring_free``. The native ring is owned by a ``_Ring`` object (a
``c_void_p`` holding its address) whose finalizer frees it, and nothing else
ever frees it. ``close()`` only drops the Keyring's reference
(``self._ring = None``). Every call passes ``self._ring`` straight into the
ctypes call as an argument, never keeping it in a local variable, so:

- a call that loaded the ``_Ring`` holds a strong reference to it (it is an
  argument of the call) until the native function has returned; the
  finalizer, and so ``sesame_keyring_free``, runs only once no reference is
  left, i.e. after the last call in flight has returned, in whichever
  thread drops it (at once in ``close()`` if no call is in flight);
- a call that loads ``self._ring`` after ``close()`` gets ``None``, which
  ctypes passes as NULL; the library answers SESAME_NULL_ARGUMENT without
  touching anything, and the binding raises :class:`KeyringClosed`.

With the GIL, the attribute load and the reference it takes happen within
one bytecode, which ``close()``'s store cannot split. On a free-threaded
build, CPython guarantees the same for attribute loads racing a store (the
reader either takes a reference to the old object while it is alive, or
sees the new value; an object whose count reached zero is never revived),
which is the memory safety PEP 703 promises for pure-Python code. Neither
case needs a lock, a flag or a counter of ours. (On an interpreter without
reference counting, e.g. PyPy, the ring is freed by the garbage collector
some time after the last call: still never during one.)
"""

from __future__ import annotations

import ctypes
import os
import secrets
import time
from datetime import timedelta
from types import TracebackType
from typing import NoReturn, Union

from . import _native
from ._errors import InvalidKeyset, KeyringClosed, NoPrimaryKey, NullArgument, raise_for
from ._native import NO_LIMIT, RING_CAPACITY, TOKEN_CAP, TOKEN_MAX, U32_MAX, U64_MAX, Buffers
from .policy import Policy
from .session import Session, Timestamp, session_from_claims, to_unix

__all__ = ["Keyring", "Bytes", "token_key_id", "keyset_problem"]

#: Byte strings the API accepts (copied to ``bytes`` if not already).
Bytes = Union[bytes, bytearray, memoryview]

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
_KINDS = _native.KINDS
_KIND_NAMES = _native.KIND_NAMES
_DATA = _native.CLAIMS_DATA_OFFSET
_new = object.__new__
_time = time.time
_NULL_ARGUMENT = NullArgument.code
_NO_PRIMARY_KEY = NoPrimaryKey.code
_INVALID_KEYSET = InvalidKeyset.code
#: Bytes of message sesame_keyset_check writes at most (256 suffice).
_KEYSET_MESSAGE_CAP = 512


class _Ring(ctypes.c_void_p):
    """The address of one heap ring, and its sole owner: the finalizer frees
    it, when the last reference (the Keyring's, or that of a call in flight)
    is gone. Never copied, never stored anywhere but ``Keyring._ring``."""

    __slots__ = ()

    def __del__(self, _free: object = _lib.sesame_keyring_free) -> None:
        address = self.value
        if address:
            self.value = None
            try:
                _free(address)  # type: ignore[operator]
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __reduce__(self) -> str:
        raise TypeError("a sesame ring cannot be copied or pickled")


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
    ``sesame_keyring_new``, zeroized and freed by ``sesame_keyring_free``
    after :meth:`close` (or the end of a ``with`` block) once no call is
    using it, or when garbage-collected.

    ::

        ring = sesame.Keyring.from_env()    # or Keyring() and add_key/derive_key
        token = ring.seal(42)
        session = ring.open(token)          # Session(user_id=42, ...)

    Safe to share between threads, with no locking; see the module docstring.
    """

    __slots__ = ("_ring", "__weakref__")

    _ring: _Ring | None

    def __init__(self) -> None:
        self._ring = None
        ring = _Ring()
        rc = _lib.sesame_keyring_new(ctypes.byref(ring))
        if rc:
            raise_for(rc)
        self._ring = ring

    @classmethod
    def from_keyset(cls, text: str | Bytes) -> Keyring:
        """A new Keyring holding a keyset's usable keys, its primary promoted
        (format: ``docs/FORMAT.md``, "Keysets"; the ``sesame keyset`` command
        makes one). Raises :class:`sesame.InvalidKeyset` naming the line and
        the reason (never any key material)."""
        ring = cls()
        try:
            ring.load_keyset(text)
        except BaseException:
            ring.close()
            raise
        return ring

    @classmethod
    def from_env(cls, name: str = "SESAME_KEYSET") -> Keyring:
        """:meth:`from_keyset` of the environment variable ``name`` (a keyset
        on one line, records separated by ``;``, or several lines). Raises
        :class:`sesame.InvalidKeyset` if it is unset, empty or invalid."""
        text = os.environ.get(name)
        if text is None:
            raise InvalidKeyset(
                f"sesame: environment variable {name} is not set; it should hold a keyset "
                "(make one with `sesame keyset new`)"
            )
        try:
            return cls.from_keyset(text)
        except InvalidKeyset as error:
            reason = error.message.removeprefix("sesame: ")
            raise InvalidKeyset(f"sesame: environment variable {name}: {reason}") from None

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Closes the Keyring: later calls raise :class:`sesame.KeyringClosed`.
        The keys are zeroized and freed at once if no call is using them, or
        else as soon as the last call in flight (on another thread) returns.
        Never blocks; idempotent; safe while other threads use the ring."""
        self._ring = None

    @property
    def closed(self) -> bool:
        return self._ring is None

    def __enter__(self) -> Keyring:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __copy__(self) -> Keyring:
        raise TypeError("a sesame.Keyring cannot be copied; share the same instance")

    def __deepcopy__(self, memo: object) -> Keyring:
        raise TypeError("a sesame.Keyring cannot be copied; share the same instance")

    def __reduce__(self) -> str:
        raise TypeError("a sesame.Keyring cannot be pickled (it holds keys)")

    def __repr__(self) -> str:
        try:
            return f"<sesame.Keyring keys={self.key_ids()!r} primary={self.primary_id!r}>"
        except KeyringClosed:
            return "<sesame.Keyring closed>"

    def _fail(self, rc: int) -> NoReturn:
        """Raises for a non-zero result. SESAME_NULL_ARGUMENT means the call
        was given ``self._ring`` after close() had set it to None (every
        other pointer the binding passes is never NULL)."""
        if rc == _NULL_ARGUMENT and self._ring is None:
            raise KeyringClosed()
        raise_for(rc)

    # -- key changes ------------------------------------------------------------
    #
    # Each passes self._ring inline (see the module docstring): never bind it
    # to a local, which would keep a closed ring's keys alive in a traceback.

    def add_key(self, key_id: int, key: Bytes) -> None:
        """Adds a raw key of ``sesame.KEY_BYTES`` (32) bytes under ``key_id``
        (0 .. 2**32-1). The first key of a ring without a primary becomes the
        primary. Raises InvalidKey (wrong length, all zeros), DuplicateKeyId,
        RingFull."""
        key_id = _key_id(key_id)
        material = _as_bytes(key, "key")
        rc = _lib.sesame_keyring_add_key(self._ring, key_id, material, len(material))
        if rc:
            self._fail(rc)

    def derive_key(self, key_id: int, master: Bytes | str, purpose: Bytes | str = b"") -> None:
        """Adds a key derived with HKDF-SHA256 from ``master`` (any non-empty
        secret) and a ``purpose`` label, e.g. ``b"session cookie 2026-11"``
        (str is taken as UTF-8)."""
        key_id = _key_id(key_id)
        secret = master.encode() if isinstance(master, str) else _as_bytes(master, "master")
        label = purpose.encode() if isinstance(purpose, str) else _as_bytes(purpose, "purpose")
        rc = _lib.sesame_keyring_derive_key(self._ring, key_id, secret, len(secret), label, len(label))
        if rc:
            self._fail(rc)

    def promote(self, key_id: int) -> None:
        """Makes ``key_id`` the key that seals (new and refreshed tokens)."""
        rc = _lib.sesame_keyring_promote(self._ring, _key_id(key_id))
        if rc:
            self._fail(rc)

    def retire(self, key_id: int) -> None:
        """Removes ``key_id`` (zeroizing it): tokens sealed under it stop
        opening (UnknownKey)."""
        rc = _lib.sesame_keyring_retire(self._ring, _key_id(key_id))
        if rc:
            self._fail(rc)

    def load_keyset(self, text: str | Bytes) -> None:
        """Replaces every key with a keyset's usable keys, its primary
        promoted, in one atomic step: calls on other threads see the old keys
        or the new ones, never a mix. Raises :class:`sesame.InvalidKeyset`
        (the ring unchanged) with the line and reason from
        ``sesame_keyset_check``."""
        raw = _keyset_bytes(text)
        rc = _lib.sesame_keyring_load_keyset(self._ring, raw, len(raw))
        if rc == _INVALID_KEYSET:
            raise InvalidKeyset(_keyset_message(raw))
        if rc:
            self._fail(rc)

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random key of ``sesame.KEY_BYTES`` bytes (for tests, or to
        create a secret to store; production keys come from a secret store)."""
        return secrets.token_bytes(_native.KEY_BYTES)

    # -- queries ----------------------------------------------------------------

    @property
    def primary_id(self) -> int | None:
        """The primary key's ID, or None if the ring has none."""
        out = ctypes.c_uint32()
        rc = _lib.sesame_keyring_primary_id(self._ring, ctypes.byref(out))
        if rc == _NO_PRIMARY_KEY:
            return None
        if rc:
            self._fail(rc)
        return int(out.value)

    def __len__(self) -> int:
        """The number of keys in the ring."""
        out = ctypes.c_size_t()
        rc = _lib.sesame_keyring_len(self._ring, ctypes.byref(out))
        if rc:
            self._fail(rc)
        return int(out.value)

    def key_ids(self) -> list[int]:
        """The IDs of the ring's keys, ascending (from one snapshot)."""
        ids = (ctypes.c_uint32 * RING_CAPACITY)()
        count = ctypes.c_size_t()
        rc = _lib.sesame_keyring_key_ids(self._ring, ids, RING_CAPACITY, ctypes.byref(count))
        if rc:
            self._fail(rc)
        return list(ids[: count.value])

    # -- tokens (shared; the hot path) -------------------------------------------
    #
    # These three go through the unprototyped entry points of _native (every
    # argument an explicitly typed ctypes object, see _native.Buffers), the
    # thread's reusable buffers, and self._ring passed inline (a closed
    # Keyring's None becomes NULL: SESAME_NULL_ARGUMENT, raised as KeyringClosed).

    def seal(
        self,
        user_id: int,
        context: Bytes | None = None,
        data: Bytes | None = None,
        lifetime: int | timedelta | None = None,
        now: Timestamp | None = None,
        kind: str = "browser",
    ) -> str:
        """Seals a new session for ``user_id`` (0 .. 2**64-1) under the
        primary key and returns the token: at most ``sesame.TOKEN_MAX``
        base64url characters, safe as a cookie value.

        ``context`` binds the token (at most CONTEXT_MAX bytes, e.g. the
        SHA-256 of a device cookie; ``open`` must pass the same), ``data`` is
        up to DATA_MAX bytes of the application's own, ``lifetime`` the
        token's own lifetime in seconds from now (the policy's absolute
        lifetime for its kind still applies), ``now`` the login time
        (default: the current time), ``kind`` ``"browser"`` or
        ``"remember_me"``: which of the policy's limits apply. Raises NoPrimaryKey, DataTooLong, ContextTooLong,
        RandomFailed."""
        if type(user_id) is not int or not 0 <= user_id <= U64_MAX:
            raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {user_id!r}")
        try:
            b: Buffers = _local.buffers
        except AttributeError:
            b = _buffers()
        try:
            kind_code = _KINDS[kind]
        except KeyError:
            raise ValueError(f"kind must be 'browser' or 'remember_me', not {kind!r}") from None
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
        rc = _seal(self._ring, b.user, kind_code, span, data, data_len, context, context_len, b.now, b.token_ref, _CAP, b.token_len_ref)
        if rc:
            self._fail(rc)
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
        rc = _open(self._ring, text, text_len, context, context_len, rules, b.now, b.claims_ref)
        if rc:
            self._fail(rc)
        # session_from_claims(b), inlined: the hot path's last step.
        user_id, session_id, issued, refreshed, lifetime, kind, data_len = _unpack_head(b.claims_bytes)
        session = _new(Session)
        fields = session.__dict__
        fields["user_id"] = user_id
        fields["session_id"] = session_id
        fields["_issued_unix"] = issued
        fields["_refreshed_unix"] = refreshed
        fields["lifetime"] = None if lifetime == NO_LIMIT else lifetime
        fields["data"] = bytes(b.claims_bytes[_DATA : _DATA + data_len]) if data_len else b""
        fields["kind"] = _KIND_NAMES[kind]
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
        rc = _refresh(
            self._ring, text, text_len, context, context_len, rules, b.now,
            b.token_ref, _CAP, b.token_len_ref, b.claims_ref,
        )  # fmt: skip
        if rc:
            self._fail(rc)
        return b.token.value.decode("ascii"), session_from_claims(b)


def token_key_id(token: str | Bytes) -> int:
    """The ID of the key a token names, read without any key: for logs,
    metrics and routing during a rotation. **Not authenticated**: anyone can
    write any ID into a token; only :meth:`Keyring.open` says whether it is
    genuine. Raises TooLong, Malformed or UnsupportedVersion for text that
    is not a well-formed token, as opening would."""
    text = _token_bytes(token)
    out = ctypes.c_uint32()
    rc = _lib.sesame_token_key_id(text, len(text), ctypes.byref(out))
    if rc:
        raise_for(rc)
    return int(out.value)


def keyset_problem(text: str | Bytes) -> str | None:
    """What is wrong with a keyset (line and reason, never key material), or
    None if :meth:`Keyring.load_keyset` would accept it. Loads nothing."""
    raw = _keyset_bytes(text)
    message = ctypes.create_string_buffer(_KEYSET_MESSAGE_CAP)
    size = ctypes.c_size_t()
    rc = _lib.sesame_keyset_check(raw, len(raw), message, _KEYSET_MESSAGE_CAP, ctypes.byref(size))
    if rc == 0:
        return None
    if rc != _INVALID_KEYSET:
        raise_for(rc)
    return message.raw[: size.value].decode("utf-8", "replace")


def _keyset_bytes(text: object) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    return _as_bytes(text, "keyset")


def _keyset_message(raw: bytes) -> str:
    problem = keyset_problem(raw)
    return f"sesame: {problem or 'invalid keyset'}"
