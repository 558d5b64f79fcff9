"""Session: an opened token, and the time conversions every call shares."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Union

from . import _native
from ._errors import raise_for
from ._native import CLAIMS_DATA_OFFSET, CLAIMS_HEAD, NO_LIMIT, U64_MAX, Buffers

__all__ = ["Session", "Timestamp", "to_unix", "unix_now", "from_unix"]

#: What ``now``, cut-offs and the like accept: an aware datetime, or unix
#: seconds (int or float; a float is rounded down).
Timestamp = Union[datetime, int, float]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_SECOND = timedelta(seconds=1)
_time = time.time


def to_unix(value: Timestamp, what: str = "now") -> int:
    """Unix seconds (0 .. 2**64-1) from an aware datetime or a number."""
    if type(value) is int:
        seconds: int = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be a finite number of seconds, not {value!r}")
        seconds = math.floor(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{what} is a naive datetime; pass an aware one "
                "(e.g. datetime.now(timezone.utc)) or unix seconds"
            )
        seconds = (value - _EPOCH) // _SECOND
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = int(value)
    else:
        raise TypeError(
            f"{what} must be an aware datetime or unix seconds (int/float), "
            f"not {type(value).__name__}"
        )
    if not 0 <= seconds <= U64_MAX:
        raise ValueError(f"{what} is out of range (0 .. 2**64-1 unix seconds): {value!r}")
    return seconds


def unix_now(now: Timestamp | None = None) -> int:
    """``to_unix(now)``, or the current time (whole seconds) for None."""
    if now is None:
        return int(_time())
    if type(now) is int and 0 <= now <= U64_MAX:
        return now
    return to_unix(now)


def from_unix(seconds: int) -> datetime:
    """An aware UTC datetime from unix seconds. Raises OverflowError past
    datetime's range (year 9999); the ``*_unix`` attributes have no limit."""
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise OverflowError(
            f"unix time {seconds} is beyond what a datetime can hold (year 9999); use the *_unix value"
        ) from None


_new = object.__new__
_set = object.__setattr__


@dataclass(frozen=True)
class Session:
    """An opened session (a frozen value).

    ``issued_at`` (login; kept across refreshes) and ``refreshed_at`` (the
    last seal or refresh) are aware UTC datetimes; ``issued_at_unix`` and
    ``refreshed_at_unix`` give the same as unix seconds. ``lifetime`` is the
    token's own lifetime in seconds from ``issued_at``, or None; ``data``
    the application's opaque bytes (``b""`` when none); ``kind``
    ``"browser"`` or ``"remember_me"`` (which of the policy's limits apply).

    Sessions returned by ``Keyring.open``/``refresh`` build their datetimes
    lazily, on first access: the hot path makes no datetime.
    """

    user_id: int
    session_id: bytes
    issued_at: datetime
    refreshed_at: datetime
    lifetime: int | None = None
    data: bytes = b""
    kind: str = "browser"

    def __post_init__(self) -> None:
        # Sessions made by hand (tests, dataclasses.replace, unpickling
        # needs none of this): validate and keep the unix seconds.
        if type(self.user_id) is not int or not 0 <= self.user_id <= U64_MAX:
            raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {self.user_id!r}")
        if not isinstance(self.session_id, bytes) or len(self.session_id) != _native.SESSION_ID_BYTES:
            raise ValueError(f"session_id must be {_native.SESSION_ID_BYTES} bytes")
        if self.lifetime is not None and (
            type(self.lifetime) is not int or not 0 <= self.lifetime < NO_LIMIT
        ):
            raise ValueError(f"lifetime must be None or an int in 0 .. 2**64-2, not {self.lifetime!r}")
        _native.kind_code(self.kind)
        if not isinstance(self.data, bytes):
            _set(self, "data", bytes(self.data))
        issued = to_unix(self.issued_at, "issued_at")
        refreshed = to_unix(self.refreshed_at, "refreshed_at")
        _set(self, "issued_at", from_unix(issued))
        _set(self, "refreshed_at", from_unix(refreshed))
        _set(self, "_issued_unix", issued)
        _set(self, "_refreshed_unix", refreshed)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Only reached for attributes not in the instance dict: the lazy
            # datetimes of sessions made by open/refresh.
            if name == "issued_at":
                value = from_unix(self.__dict__["_issued_unix"])
            elif name == "refreshed_at":
                value = from_unix(self.__dict__["_refreshed_unix"])
            else:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            self.__dict__[name] = value
            return value

    @property
    def remember_me(self) -> bool:
        """Whether this is a "remember me" login."""
        return self.kind == "remember_me"

    @property
    def issued_at_unix(self) -> int:
        """Login time, unix seconds."""
        return self.__dict__["_issued_unix"]  # type: ignore[no-any-return]

    @property
    def refreshed_at_unix(self) -> int:
        """Last seal or refresh, unix seconds."""
        return self.__dict__["_refreshed_unix"]  # type: ignore[no-any-return]

    @property
    def session_id_hex(self) -> str:
        """The session ID as 32 lowercase hex digits (for logs or a revocation list)."""
        return self.session_id.hex()

    @property
    def expires_at(self) -> datetime | None:
        """When the token's own lifetime ends (None if it has none); the
        policy's absolute lifetime may end the session sooner."""
        if self.lifetime is None:
            return None
        return from_unix(min(self.issued_at_unix + self.lifetime, U64_MAX))

    def revoked_before(self, cutoff: Timestamp | None) -> bool:
        """Whether the session was issued strictly before ``cutoff`` (e.g. the
        user's "log out my other sessions" time from the app's store), by
        ``sesame_check_revoked_before``. None: never revoked."""
        if cutoff is None:
            return False
        from ._errors import Revoked

        try:
            self.check_revoked_before(cutoff)
        except Revoked:
            return True
        return False

    def check_revoked_before(self, cutoff: Timestamp | None) -> Session:
        """As :meth:`revoked_before`, but raises :class:`sesame.Revoked` (a
        SessionExpired) instead of returning True. Returns self."""
        if cutoff is None:
            return self
        seconds = to_unix(cutoff, "cutoff")
        buffers = _native.buffers()
        self._write_claims(buffers)
        rc = _check_revoked_before(buffers.claims, seconds)
        if rc:
            raise_for(rc)
        return self

    def _write_claims(self, buffers: Buffers) -> None:
        """Writes this session into the thread's sesame_claims buffer."""
        data = self.data
        CLAIMS_HEAD.pack_into(
            buffers.claims_bytes,
            0,
            self.user_id,
            self.session_id,
            self.issued_at_unix,
            self.refreshed_at_unix,
            NO_LIMIT if self.lifetime is None else self.lifetime,
            _native.KINDS[self.kind],
            len(data),  # the library refuses more than DATA_MAX (InvalidArgument)
        )
        keep = data[: _native.DATA_MAX]
        buffers.claims_bytes[CLAIMS_DATA_OFFSET : CLAIMS_DATA_OFFSET + len(keep)] = keep

    def __repr__(self) -> str:
        def when(seconds: int) -> str:
            try:
                return from_unix(seconds).isoformat()
            except OverflowError:
                return str(seconds)

        return (
            f"Session(user_id={self.user_id}, session_id={self.session_id_hex}, "
            f"issued_at={when(self.issued_at_unix)}, refreshed_at={when(self.refreshed_at_unix)}, "
            f"lifetime={self.lifetime!r}, kind={self.kind}, data={len(self.data)} bytes)"
        )


_check_revoked_before = _native.lib.sesame_check_revoked_before
_unpack_head = CLAIMS_HEAD.unpack_from
_KIND_NAMES = _native.KIND_NAMES


class Opened:
    """Not a session: the blank that an opened Session is filled in as.
    A frozen dataclass refuses attribute stores, and filling its ``__dict__``
    item by item cost about 0.1 µs more per open than plain stores here
    followed by one ``__class__`` change (the layouts are the same: both
    are plain classes with a ``__dict__``). What comes out is a genuine
    Session, as frozen as any."""


def session_from_claims(buffers: Buffers) -> Session:
    """A Session from the thread's sesame_claims buffer (the hot path: one
    unpack, no datetime, no dataclass __init__)."""
    return session_from_buffer(buffers.claims_bytes, 0)


def session_from_buffer(buffer: Any, offset: int) -> Session:
    """A Session from the sesame_claims at ``offset`` of any buffer (an
    ``ffi.buffer`` of a struct that holds one)."""
    user_id, session_id, issued, refreshed, lifetime, kind, data_len = _unpack_head(buffer, offset)
    session: Any = _new(Opened)
    session.user_id = user_id
    session.session_id = session_id
    session._issued_unix = issued
    session._refreshed_unix = refreshed
    # lifetime, data and kind only when not the field's default (the class's).
    if lifetime != NO_LIMIT:
        session.lifetime = lifetime
    if kind:
        session.kind = _KIND_NAMES[kind]
    if data_len:
        start = offset + CLAIMS_DATA_OFFSET
        session.data = bytes(buffer[start : start + data_len])
    session.__class__ = Session
    return session  # type: ignore[no-any-return]
