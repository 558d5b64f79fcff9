"""Registry: the server-side list of live sessions (``docs/REGISTRY.md``).

A sesame token opens without asking anyone; the registry is what lets a
server list a user's sessions ("your devices"), end one at once, cap how many
a user has, and notice a stolen token used next to the real one. The rules
live once, in the Rust core; this is a typed wrapper of the
``sesame_registry_*`` block of the C ABI::

    registry = sesame.Registry("sqlite:///var/lib/app/sessions.db", max_sessions=5)
    token = ring.seal(user_id)                          # at login
    session = ring.open(token)
    registry.register(session, token, device=user_agent, ip=remote_addr)
    ...
    verdict = registry.check(session, token)            # on a request
    if not verdict.admits:
        ...                                             # treat as logged out

Stores, by URL: ``memory://?capacity=N`` (this process only),
``sqlite:///path/to/file.db?busy_timeout_ms=5000`` (several processes of one
machine), ``redis://host:6379/0?prefix=sesame&timeout_ms=2000`` (several
machines). A store the library was built without, or a URL it does not
understand, raises :class:`InvalidRegistryUrl`; a store that cannot answer
raises :class:`RegistryUnavailable` (deny by default: fail closed).

TIMES. The core has no clock: every call takes ``now`` (an aware datetime or
unix seconds; default: the current time), and all processes sharing a store
must share one clock.

THREADS AND THE GIL. Every call releases the GIL while in the library (cffi
does, for every call): a call may wait for
a network round trip or a file lock, and other threads keep running. Calls on
one Registry run one at a time (the core serializes them per handle; this
class also holds a lock of its own around each call, see FORK). One Registry
may be shared by any number of threads, but for parallel requests give each
worker thread its own (e.g. a ``threading.local``): each is its own store
connection.

FORK. After ``os.fork()`` a child may go on using a Registry it inherited:
the core notices the new process ID and opens its own connection, never
touching its parent's. Two things are done here so that this holds with
threads too: a fork waits for calls in flight on every open Registry (an
``os.register_at_fork`` hook takes each Registry's lock), so a child never
inherits a handle locked by a thread that does not exist in it; and a child
that closes (or drops) an inherited Registry first makes the core forget the
parent's connection (one read-only call, which reconnects) and only then
frees it, or leaks it if the store cannot be reached. A ``memory://`` store
is copied into the child: the two processes no longer share sessions.

CLOSING. ``close()`` (or leaving a ``with`` block, or dropping the last
reference) waits for a call in flight on another thread, then frees the
handle; calls after it raise :class:`RegistryClosed`.
"""

from __future__ import annotations

import builtins
import enum
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Final, Literal, Union

from . import _native
from ._errors import SesameError, raise_for
from ._native import NULL, SESSION_ID_BYTES, TOKEN_MAX, U32_MAX, U64_MAX, ffi
from .policy import Policy
from .session import Session, Timestamp, from_unix, unix_now


def _kind_name(code: int) -> Kind:
    # The core only stores kinds it knows; anything else reads as browser.
    names = _native.KIND_NAMES
    return names[code] if code < len(names) else "browser"  # type: ignore[return-value]

__all__ = [
    "Registry",
    "Verdict",
    "Entry",
    "Kind",
    "RegistryClosed",
    "DEVICE_BYTES",
    "IP_BYTES",
]

_lib = _native.lib

#: ``SESAME_REGISTRY_DEVICE_BYTES``: a device label of at most 128 bytes and its NUL.
DEVICE_BYTES: Final[int] = 129
#: ``SESAME_REGISTRY_IP_BYTES``: an IP text of at most 45 bytes and its NUL.
IP_BYTES: Final[int] = 46
#: Durations and times must stay below 2**53 seconds (Redis's Lua numbers).
_DURATION_LIMIT: Final[int] = 2**53

#: A session's kind: each has its own idle and absolute limits.
Kind = Literal["browser", "remember_me"]

#: A duration: whole seconds, or a timedelta (rounded down to seconds).
Duration = Union[int, timedelta]


class RegistryClosed(SesameError, ValueError):
    """The Registry was closed (not a library code)."""

    def __init__(self, message: str = "sesame: this Registry is closed") -> None:
        super().__init__(message)


class Verdict(enum.Enum):
    """The registry's judgement of a token (``SESAME_VERDICT_*``)."""

    #: The session's current token: serve.
    LIVE = 0
    #: Superseded moments ago (a request racing a refresh): serve; after
    #: ``refresh``, do not send the new token.
    GRACE = 1
    #: The session was ended (revoke, logout, eviction, theft): deny.
    REVOKED = 2
    #: No such session (never registered, expired, ended long ago): deny.
    UNKNOWN = 3
    #: A superseded token was used after its successor: two parties hold
    #: the session, which is now revoked. Deny, and log or alert.
    THEFT_DETECTED = 4

    @property
    def admits(self) -> bool:
        """Whether to serve the request: LIVE and GRACE only."""
        return self is Verdict.LIVE or self is Verdict.GRACE


_VERDICTS: Final[tuple[Verdict, ...]] = tuple(Verdict)


def _verdict(code: int) -> Verdict:
    if code < len(_VERDICTS):
        return _VERDICTS[code]
    raise SesameError(f"sesame: the library answered an unknown registry verdict {code}")


_UTC = timezone.utc
_DATETIME_MAX = datetime.max.replace(tzinfo=_UTC)


def _datetime(seconds: int) -> datetime:
    try:
        return from_unix(seconds)
    except OverflowError:
        return _DATETIME_MAX


@dataclass(frozen=True)
class Entry:
    """One live session of a user, as :meth:`Registry.list` gives it.

    ``session_id`` is 32 lowercase hex digits (``Session.session_id_hex``);
    the times are aware UTC datetimes; ``current`` marks the session the
    list was asked for (``list(user_id, current=session)``).
    """

    session_id: str
    kind: Kind
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    device: str
    ip: str
    current: bool = False

    @property
    def session_id_bytes(self) -> bytes:
        """The session ID as the 16 bytes ``revoke`` also takes."""
        return bytes.fromhex(self.session_id)


def _duration(value: object, what: str) -> int:
    if isinstance(value, timedelta):
        seconds = value // timedelta(seconds=1)
    elif type(value) is int:
        seconds = value
    else:
        raise TypeError(f"{what} must be whole seconds (int) or a timedelta, not {type(value).__name__}")
    if not 0 <= seconds < _DURATION_LIMIT:
        raise ValueError(f"{what} must be 0 .. 2**53-1 seconds, not {value!r}")
    return seconds


def _limits(value: object, what: str) -> tuple[int, int]:
    if isinstance(value, tuple) and len(value) == 2:
        pair: tuple[object, object] = value
    else:
        raise TypeError(f"{what} must be an (idle, absolute) pair of seconds, not {value!r}")
    return _duration(pair[0], f"{what} idle"), _duration(pair[1], f"{what} absolute")


def _text(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")


def _token(token: object, what: str = "token") -> bytes:
    if isinstance(token, str):
        # Over TOKEN_MAX the library answers TooLong; do not copy a huge string.
        return token[: TOKEN_MAX + 1].encode("ascii", "replace")
    if isinstance(token, (bytes, bytearray, memoryview)):
        return bytes(token[: TOKEN_MAX + 1])
    raise TypeError(f"{what} must be str, not {type(token).__name__}")


def _session_id(value: object) -> bytes:
    """A session ID (16 bytes, or 32 hex digits) as the bytes the C ABI takes."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"session_id must be {SESSION_ID_BYTES * 2} hex digits, not {value!r}") from None
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != SESSION_ID_BYTES:
        raise ValueError(f"session_id must be {SESSION_ID_BYTES} bytes or {SESSION_ID_BYTES * 2} hex digits")
    return bytes(value)


def _user_id(value: object) -> int:
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {value!r}")
    return value


def _session(session: object) -> tuple[int, bytes]:
    if not isinstance(session, Session):
        raise TypeError(f"session must be a sesame.Session (from Keyring.open), not {type(session).__name__}")
    return session.user_id, _session_id(session.session_id)


# ---------------------------------------------------------------------------
# Fork: every open Registry's lock is taken before a fork and released after
# it in both processes, so no handle is ever inherited in the middle of a call.

_open_registries: weakref.WeakSet[Registry] = weakref.WeakSet()
_held: list[threading.Lock] = []


def _before_fork() -> None:
    for registry in list(_open_registries):
        lock = registry._lock
        lock.acquire()
        _held.append(lock)


def _after_fork() -> None:
    while _held:
        _held.pop().release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)

_ZERO_ID = bytes(SESSION_ID_BYTES)


def _free(holder: list[Any], pid: int) -> None:
    """Frees a handle once (``holder`` is a one-item list holding it). In a
    forked child, the core first has to drop the inherited connection (a
    read makes it reconnect); if the store cannot be reached, the handle is
    leaked rather than closing the parent's connection."""
    handle = holder.pop() if holder else NULL
    if handle == NULL:
        return
    try:
        if os.getpid() != pid:
            verdict = ffi.new("uint32_t *")
            if _lib.sesame_registry_peek(handle, 0, _ZERO_ID, 0, verdict) != 0:
                return
        _lib.sesame_registry_free(handle)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


def _store_name(url: str) -> str:
    return url.split(":", 1)[0] if ":" in url else "?"


class Registry:
    """A session registry over one store connection (see the module docs).

    ``url`` names the store; the keyword arguments override the core's
    defaults (``sesame_registry_config_default``: browser sessions idle 24 h
    and absolute 14 days, remember-me 30/30 days, 10 sessions per user, 30 s
    grace, last-seen written at most once a minute, ended sessions
    remembered 1 h). ``policy``, the ``Policy`` the app opens tokens with,
    sets each kind's limits from it (the core's
    ``sesame_registry_config_from_policy``: an entry lives as long as its
    token can); ``browser`` and ``remember_me`` override one kind's limits
    with an ``(idle, absolute)`` pair. Durations are seconds or timedeltas
    below 2**53 s; ``max_sessions=0`` means no cap.
    """

    __slots__ = ("_handle", "_lock", "_store", "_finalizer", "__weakref__")

    def __init__(
        self,
        url: str = "memory://",
        *,
        max_sessions: int | None = None,
        grace: Duration | None = None,
        touch_interval: Duration | None = None,
        tombstone_ttl: Duration | None = None,
        policy: Policy | None = None,
        browser: tuple[Duration, Duration] | None = None,
        remember_me: tuple[Duration, Duration] | None = None,
    ) -> None:
        self._handle: Any = None
        self._lock = threading.Lock()
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        self._store = _store_name(url)
        config = ffi.new("sesame_registry_config *")
        if policy is None:
            rc = _lib.sesame_registry_config_default(config)
        elif isinstance(policy, Policy):
            rc = _lib.sesame_registry_config_from_policy(policy._c, config)
        else:
            raise TypeError(f"policy must be a sesame.Policy, not {type(policy).__name__}")
        if rc:
            raise_for(rc)
        if max_sessions is not None:
            if type(max_sessions) is not int or not 0 <= max_sessions <= U32_MAX:
                raise ValueError(f"max_sessions must be an int in 0 .. 2**32-1, not {max_sessions!r}")
            config.max_sessions = max_sessions
        if grace is not None:
            config.grace = _duration(grace, "grace")
        if touch_interval is not None:
            config.touch_interval = _duration(touch_interval, "touch_interval")
        if tombstone_ttl is not None:
            config.tombstone_ttl = _duration(tombstone_ttl, "tombstone_ttl")
        if browser is not None:
            config.browser.idle_timeout, config.browser.absolute_lifetime = _limits(browser, "browser")
        if remember_me is not None:
            limits = _limits(remember_me, "remember_me")
            config.remember_me.idle_timeout, config.remember_me.absolute_lifetime = limits
        raw = url.encode("utf-8")
        out = ffi.new("sesame_registry **")
        rc = _lib.sesame_registry_open(raw, len(raw), config, out)
        if rc:
            raise_for(rc)
        handle = self._handle = out[0]
        self._finalizer = weakref.finalize(self, _free, [handle], os.getpid())
        _open_registries.add(self)

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Frees the handle (after a call in flight on another thread
        returns). Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            self._handle = None
            self._finalizer()
        _open_registries.discard(self)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> str:
        raise TypeError("a sesame Registry cannot be copied or pickled (open one per process or thread)")

    def __repr__(self) -> str:
        # Never the URL: it may hold a password.
        state = "closed" if self._handle is None else "open"
        return f"<sesame.Registry {self._store}:// {state}>"

    def _call(self, name: str, *args: Any) -> None:
        """Calls ``sesame_registry_<name>(handle, *args)`` under the lock,
        raising for a non-zero result."""
        function = getattr(_lib, "sesame_registry_" + name)
        with self._lock:
            handle = self._handle
            if handle is None:
                raise RegistryClosed()
            rc = function(handle, *args)
        if rc:
            raise_for(rc)

    # -- sessions -----------------------------------------------------------

    def register(
        self,
        session: Session,
        token: str,
        *,
        device: str | None = None,
        ip: str | None = None,
        kind: Kind | None = None,
        now: Timestamp | None = None,
    ) -> int:
        """Records a login: ``session`` is ``Keyring.open(token)``. ``device``
        (e.g. the user agent) and ``ip`` are labels for a sessions list, cut
        to 128 and 45 bytes. Returns how many of the user's oldest sessions
        the cap ended (0 usually). Raises RegistryFull when a memory store
        is full of live sessions. ``kind`` defaults to the session's own."""
        user, sid = _session(session)
        if kind is None:
            kind = session.kind  # type: ignore[assignment]
        code = _native.kind_code(kind)
        raw = _token(token)
        device_raw = _text(device, "device")
        ip_raw = _text(ip, "ip")
        evicted = ffi.new("uint32_t *")
        self._call(
            "register",
            user,
            sid,
            code,
            raw,
            len(raw),
            NULL if device_raw is None else device_raw,
            0 if device_raw is None else len(device_raw),
            NULL if ip_raw is None else ip_raw,
            0 if ip_raw is None else len(ip_raw),
            unix_now(now),
            evicted,
        )
        return int(evicted[0])

    def check(self, session: Session, token: str, now: Timestamp | None = None) -> Verdict:
        """Judges the token a request presented (check-every-request mode).
        Serve only if ``verdict.admits``; log THEFT_DETECTED."""
        user, sid = _session(session)
        raw = _token(token)
        verdict = ffi.new("uint32_t *")
        self._call("check", user, sid, raw, len(raw), unix_now(now), verdict)
        return _verdict(verdict[0])

    def peek(self, session: Session, now: Timestamp | None = None) -> Verdict:
        """Whether the session is still live, without judging a token and
        without writing: LIVE, REVOKED or UNKNOWN. The cheap per-request
        read of check-on-refresh mode."""
        user, sid = _session(session)
        verdict = ffi.new("uint32_t *")
        self._call("peek", user, sid, unix_now(now), verdict)
        return _verdict(verdict[0])

    def refresh(
        self, session: Session, old_token: str, new_token: str, now: Timestamp | None = None
    ) -> Verdict:
        """Records a refresh (after ``Keyring.refresh``): LIVE means send
        ``new_token``; GRACE means another request already refreshed: serve,
        but do not send it; anything else denies."""
        user, sid = _session(session)
        old = _token(old_token, "old_token")
        new = _token(new_token, "new_token")
        verdict = ffi.new("uint32_t *")
        self._call("refresh", user, sid, old, len(old), new, len(new), unix_now(now), verdict)
        return _verdict(verdict[0])

    def list(
        self,
        user_id: int,
        current: Session | bytes | str | None = None,
        *,
        now: Timestamp | None = None,
    ) -> builtins.list[Entry]:
        """The user's live sessions, newest first; the one whose ID is
        ``current`` (a Session, 16 bytes or hex) has ``current=True``."""
        user = _user_id(user_id)
        if current is None:
            mark = None
        elif isinstance(current, Session):
            mark = current.session_id.hex()
        else:
            mark = bytes(_session_id(current)).hex()
        at = unix_now(now)
        count = ffi.new("size_t *")
        cap = 16
        while True:
            entries = ffi.new("sesame_registry_entry[]", cap)
            self._call("list", user, at, entries, cap, count)
            if count[0] <= cap or cap >= 1024:
                break
            cap = min(count[0], 1024)  # the core fills at most 1024
        out: builtins.list[Entry] = []
        for index in range(min(count[0], cap)):
            e = entries[index]
            sid = bytes(ffi.buffer(e.session_id)).hex()
            out.append(
                Entry(
                    session_id=sid,
                    kind=_kind_name(e.kind),
                    created_at=_datetime(e.created_at),
                    last_seen_at=_datetime(e.last_seen_at),
                    expires_at=_datetime(e.expires_at),
                    device=ffi.string(e.device).decode("utf-8", "replace"),
                    ip=ffi.string(e.ip).decode("utf-8", "replace"),
                    current=sid == mark,
                )
            )
        return out

    def revoke(self, user_id: int, session_id: bytes | str, now: Timestamp | None = None) -> bool:
        """Ends one session at once (``session_id``: 16 bytes or the hex of
        ``Entry.session_id``). True if it was live."""
        revoked = ffi.new("uint32_t *")
        self._call("revoke", _user_id(user_id), _session_id(session_id), unix_now(now), revoked)
        return bool(revoked[0])

    def revoke_all(self, user_id: int, now: Timestamp | None = None) -> int:
        """Ends every session of the user ("log out everywhere"); returns how many."""
        count = ffi.new("uint32_t *")
        self._call("revoke_all", _user_id(user_id), unix_now(now), count)
        return int(count[0])

    def revoke_others(self, session: Session, now: Timestamp | None = None) -> int:
        """Ends every session of the user but ``session`` ("log out my other
        sessions"), at once, same second included; returns how many."""
        user, sid = _session(session)
        count = ffi.new("uint32_t *")
        self._call("revoke_others", user, sid, unix_now(now), count)
        return int(count[0])

    def logout(self, session: Session, token: str, now: Timestamp | None = None) -> Verdict:
        """Ends the session the token belongs to, finally (any copy of the
        token is refused from now on). Returns REVOKED (ended now, or
        already), THEFT_DETECTED for a superseded token (the session is
        ended too; log it), or UNKNOWN for no such session."""
        user, sid = _session(session)
        raw = _token(token)
        verdict = ffi.new("uint32_t *")
        self._call("logout", user, sid, raw, len(raw), unix_now(now), verdict)
        return _verdict(verdict[0])

    def prune(self, now: Timestamp | None = None) -> int:
        """Drops every expired entry of every user; returns how many. Stores
        prune as they go: call it from a periodic job if logins are rare.
        On Redis it does nothing and returns 0 (keys expire by their TTL, and
        expired entries go on the user's next operation)."""
        count = ffi.new("size_t *")
        self._call("prune", unix_now(now), count)
        return int(count[0])
