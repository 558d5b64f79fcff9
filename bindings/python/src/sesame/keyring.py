"""Keyring: the keys, and seal / open / refresh.

THREADS. One Keyring is meant to be shared by every thread of a process, and
the binding adds no locking of its own: every heap ring of libsesame is safe
for any mix of threads (seal, open, refresh and the queries read an immutable
snapshot and never block; add, derive, promote, retire and load_keyset
publish a new snapshot atomically), so each method calls the library
directly. Every call releases the GIL while in the library (cffi does, for
every call): a key change may wait there for another thread's key change.

CLOSING. The one call the library does not let overlap with others is
``sesame_keyring_free``. The native ring is owned by one cffi pointer made
with ``ffi.gc`` (its destructor frees it), and nothing else ever frees it.
``close()`` only drops the Keyring's reference (``self._ring = NULL``).
Every call passes ``self._ring`` straight into the cffi call as an argument,
never keeping it in a local variable, so:

- a call that loaded the ring pointer holds a strong reference to it (it is an
  argument of the call) until the native function has returned; the
  finalizer, and so ``sesame_keyring_free``, runs only once no reference is
  left, i.e. after the last call in flight has returned, in whichever
  thread drops it (at once in ``close()`` if no call is in flight);
- a call that loads ``self._ring`` after ``close()`` gets ``ffi.NULL``; the
  library answers SESAME_NULL_ARGUMENT without touching anything, and the
  binding raises :class:`KeyringClosed`.

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

import os
import secrets
import time
from datetime import timedelta
from types import TracebackType
from typing import Any, NoReturn, Union

from . import _native
from ._errors import InvalidKeyset, KeyringClosed, NoPrimaryKey, NullArgument, raise_for
from ._native import NO_LIMIT, RING_CAPACITY, TOKEN_CAP, TOKEN_MAX, U32_MAX, U64_MAX, Buffers, ffi
from .policy import Policy
from .session import Opened, Session, Timestamp, session_from_claims, to_unix, unix_now

__all__ = ["Keyring", "Bytes", "token_key_id", "keyset_problem"]

#: Byte strings the API accepts (copied to ``bytes`` if not already).
Bytes = Union[bytes, bytearray, memoryview]

_lib = _native.lib
_seal = _lib.sesame_seal
_open = _lib.sesame_open
_refresh = _lib.sesame_refresh
_buffers = _native.buffers
_local = _native._local
_DEFAULT_POLICY = Policy.default()._c
_NULL = _native.NULL
_unpack_head = _native.CLAIMS_HEAD.unpack_from
_DATA = _native.CLAIMS_DATA_OFFSET
_KINDS = _native.KINDS
_KIND_NAMES = _native.KIND_NAMES
_new = object.__new__
_time = time.time
_NULL_ARGUMENT = NullArgument.code
_NO_PRIMARY_KEY = NoPrimaryKey.code
_INVALID_KEYSET = InvalidKeyset.code
#: Bytes of message sesame_keyset_check writes at most (256 suffice).
_KEYSET_MESSAGE_CAP = 512


def _free_ring(ring: Any, _free: Any = _lib.sesame_keyring_free) -> None:
    """The ring's destructor (``ffi.gc``): runs once, when the last
    reference (the Keyring's, or that of a call in flight) is gone."""
    try:
        _free(ring)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


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


def _policy_ref(policy: object) -> Any:
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a sesame.Policy, not {type(policy).__name__}")
    return policy._c


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

    _ring: Any  # a ``sesame_keyring *`` owned through ffi.gc, or NULL once closed

    def __init__(self) -> None:
        self._ring = _NULL
        out = ffi.new("sesame_keyring **")
        rc = _lib.sesame_keyring_new(out)
        if rc:
            raise_for(rc)
        self._ring = ffi.gc(out[0], _free_ring)

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
        self._ring = _NULL

    @property
    def closed(self) -> bool:
        return self._ring is _NULL

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
        was given ``self._ring`` after close() had set it to NULL (every
        other pointer the binding passes is never NULL)."""
        if rc == _NULL_ARGUMENT and self._ring is _NULL:
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
        out = ffi.new("uint32_t *")
        rc = _lib.sesame_keyring_primary_id(self._ring, out)
        if rc == _NO_PRIMARY_KEY:
            return None
        if rc:
            self._fail(rc)
        return int(out[0])

    def __len__(self) -> int:
        """The number of keys in the ring."""
        out = ffi.new("size_t *")
        rc = _lib.sesame_keyring_len(self._ring, out)
        if rc:
            self._fail(rc)
        return int(out[0])

    def key_ids(self) -> list[int]:
        """The IDs of the ring's keys, ascending (from one snapshot)."""
        ids = ffi.new("uint32_t[]", RING_CAPACITY)
        count = ffi.new("size_t *")
        rc = _lib.sesame_keyring_key_ids(self._ring, ids, RING_CAPACITY, count)
        if rc:
            self._fail(rc)
        return list(ids[0 : count[0]])

    # -- tokens (shared; the hot path) -------------------------------------------
    #
    # These three use the thread's reusable output buffers and pass
    # self._ring inline (a closed Keyring's NULL makes the library answer
    # SESAME_NULL_ARGUMENT, raised as KeyringClosed). cffi converts and
    # range-checks every argument itself.

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
        ``"remember_me"``: which of the policy's limits apply. Raises
        NoPrimaryKey, DataTooLong, ContextTooLong, RandomFailed."""
        if type(user_id) is not int or not 0 <= user_id <= U64_MAX:
            raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {user_id!r}")
        try:
            b: Buffers = _local.buffers
        except AttributeError:
            b = _buffers()
        # The dict lookup first: the hot path; kind_code only for the error.
        kind_code = _KINDS.get(kind) if type(kind) is str else None
        if kind_code is None:
            kind_code = _native.kind_code(kind)
        when = int(_time()) if now is None else now if type(now) is int and 0 <= now <= U64_MAX else _slow_now(now)
        span = NO_LIMIT if lifetime is None else _lifetime(lifetime)
        if context is None:
            context = _NULL
            context_len = 0
        else:
            if type(context) is not bytes:
                context = _as_bytes(context, "context")
            context_len = len(context)
        if data is None:
            data = _NULL
            data_len = 0
        else:
            if type(data) is not bytes:
                data = _as_bytes(data, "data")
            data_len = len(data)
        rc = _seal(self._ring, user_id, kind_code, span, data, data_len, context, context_len, when, b.token, TOKEN_CAP, b.token_len)
        if rc:
            self._fail(rc)
        return b.token_bytes[0 : b.token_len[0]].decode("ascii")  # type: ignore[no-any-return]

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
        when = int(_time()) if now is None else now if type(now) is int and 0 <= now <= U64_MAX else _slow_now(now)
        if context is None:
            context = _NULL
            context_len = 0
        else:
            if type(context) is not bytes:
                context = _as_bytes(context, "context")
            context_len = len(context)
        rules = _DEFAULT_POLICY if policy is None else policy._c if type(policy) is Policy else _policy_ref(policy)
        rc = _open(self._ring, text, len(text), context, context_len, rules, when, b.claims)
        if rc:
            self._fail(rc)
        # session_from_claims(b), inlined: the hot path's last step.
        claims = b.claims_bytes
        user_id, session_id, issued, refreshed, lifetime, kind, data_len = _unpack_head(claims)
        session: Any = _new(Opened)
        session.user_id = user_id
        session.session_id = session_id
        session._issued_unix = issued
        session._refreshed_unix = refreshed
        # lifetime, data and kind are stored only when they differ from the
        # field's default, which the class holds (None, b"", "browser").
        if lifetime != NO_LIMIT:
            session.lifetime = lifetime
        if data_len:
            session.data = claims[_DATA : _DATA + data_len]
        if kind:
            session.kind = _KIND_NAMES[kind]
        session.__class__ = Session
        return session  # type: ignore[no-any-return]

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
        b = _buffers()
        when = unix_now(now)
        if context is None:
            context = _NULL
            context_len = 0
        else:
            context = _as_bytes(context, "context")
            context_len = len(context)
        rules = _DEFAULT_POLICY if policy is None else _policy_ref(policy)
        rc = _refresh(
            self._ring, text, len(text), context, context_len, rules, when,
            b.token, TOKEN_CAP, b.token_len, b.claims,
        )  # fmt: skip
        if rc:
            self._fail(rc)
        return b.token_bytes[0 : b.token_len[0]].decode("ascii"), session_from_claims(b)


def token_key_id(token: str | Bytes) -> int:
    """The ID of the key a token names, read without any key: for logs,
    metrics and routing during a rotation. **Not authenticated**: anyone can
    write any ID into a token; only :meth:`Keyring.open` says whether it is
    genuine. Raises TooLong, Malformed or UnsupportedVersion for text that
    is not a well-formed token, as opening would."""
    text = _token_bytes(token)
    out = ffi.new("uint32_t *")
    rc = _lib.sesame_token_key_id(text, len(text), out)
    if rc:
        raise_for(rc)
    return int(out[0])


def keyset_problem(text: str | Bytes) -> str | None:
    """What is wrong with a keyset (line and reason, never key material), or
    None if :meth:`Keyring.load_keyset` would accept it. Loads nothing."""
    raw = _keyset_bytes(text)
    message = ffi.new("char[]", _KEYSET_MESSAGE_CAP)
    size = ffi.new("size_t *")
    rc = _lib.sesame_keyset_check(raw, len(raw), message, _KEYSET_MESSAGE_CAP, size)
    if rc == 0:
        return None
    if rc != _INVALID_KEYSET:
        raise_for(rc)
    return bytes(ffi.buffer(message, size[0])).decode("utf-8", "replace")


def _keyset_bytes(text: object) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    return _as_bytes(text, "keyset")


def _keyset_message(raw: bytes) -> str:
    problem = keyset_problem(raw)
    return f"sesame: {problem or 'invalid keyset'}"
