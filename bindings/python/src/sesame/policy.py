"""Policy: what opening a token checks, and when a session is due for a refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _native
from ._errors import raise_for
from ._native import NO_LIMIT, U64_MAX, ffi
from .session import Session, Timestamp, from_unix, to_unix, unix_now

__all__ = ["Policy", "check_revoked_before"]


def _library_default() -> Any:
    struct = ffi.new("sesame_policy *")
    rc = _native.lib.sesame_policy_default(struct)
    if rc:
        raise_for(rc)
    return struct


_DEFAULT = _library_default()


def _limit(value: int) -> int | None:
    return None if value == NO_LIMIT else value


@dataclass(frozen=True)
class Policy:
    """How long sessions live and which ones are no longer honoured. All
    durations are seconds; None means no limit. ``Policy()`` and
    ``Policy.default()`` are the library's defaults (``sesame_policy_default``:
    browser sessions idle 24 h, absolute lifetime 14 days; remember-me
    sessions no idle limit, absolute lifetime 30 days; leeway 60 s, refresh
    after 15 min, no cut-off). A limit is reached *at* its second.

    - ``idle_timeout``: reject when ``now >= refreshed_at + idle_timeout``.
    - ``absolute_lifetime``: reject when ``now >= issued_at + absolute_lifetime``,
      however often the token was refreshed (a per-token lifetime can shorten it).
    - ``future_leeway``: accept timestamps this far ahead of ``now`` (clock
      skew); None accepts any.
    - ``revoked_before``: reject sessions issued strictly before this time
      ("log everyone out" without a key change); None revokes nothing.
    - ``refresh_after``: :meth:`should_refresh` says yes once a token is this
      old; None never.
    - ``remember_me_idle_timeout``, ``remember_me_absolute_lifetime``: the
      two limits for ``"remember_me"`` sessions (``Keyring.seal(kind=...)``);
      the first two apply to browser sessions only.
    """

    idle_timeout: int | None = _limit(_DEFAULT.idle_timeout)
    absolute_lifetime: int | None = _limit(_DEFAULT.absolute_lifetime)
    future_leeway: int | None = _limit(_DEFAULT.future_leeway)
    revoked_before: datetime | int | None = None if _DEFAULT.revoked_before == 0 else from_unix(_DEFAULT.revoked_before)
    refresh_after: int | None = _limit(_DEFAULT.refresh_after)
    remember_me_idle_timeout: int | None = _limit(_DEFAULT.remember_me_idle_timeout)
    remember_me_absolute_lifetime: int | None = _limit(_DEFAULT.remember_me_absolute_lifetime)
    _c: Any = field(init=False, repr=False, compare=False, hash=False)  # a ``sesame_policy *``

    def __post_init__(self) -> None:
        def seconds(name: str, value: int | None) -> int:
            if value is None:
                return NO_LIMIT
            if type(value) is not int or not 0 <= value <= U64_MAX:
                raise ValueError(f"{name} must be None or an int of seconds >= 0, not {value!r}")
            return value

        cutoff = self.revoked_before
        cutoff_unix = 0 if cutoff is None else to_unix(cutoff, "revoked_before")
        # Normalised: a datetime (aware, UTC), or None for "no cut-off" (0).
        object.__setattr__(self, "revoked_before", from_unix(cutoff_unix) if cutoff_unix else None)
        struct = ffi.new(
            "sesame_policy *",
            {
                "idle_timeout": seconds("idle_timeout", self.idle_timeout),
                "absolute_lifetime": seconds("absolute_lifetime", self.absolute_lifetime),
                "future_leeway": seconds("future_leeway", self.future_leeway),
                "revoked_before": cutoff_unix,
                "refresh_after": seconds("refresh_after", self.refresh_after),
                "remember_me_idle_timeout": seconds("remember_me_idle_timeout", self.remember_me_idle_timeout),
                "remember_me_absolute_lifetime": seconds(
                    "remember_me_absolute_lifetime", self.remember_me_absolute_lifetime
                ),
            },
        )
        object.__setattr__(self, "_c", struct)

    def __reduce__(self) -> tuple[type[Policy], tuple[Any, ...]]:
        return (
            type(self),
            (
                self.idle_timeout,
                self.absolute_lifetime,
                self.future_leeway,
                self.revoked_before,
                self.refresh_after,
                self.remember_me_idle_timeout,
                self.remember_me_absolute_lifetime,
            ),
        )

    @classmethod
    def default(cls) -> Policy:
        """The library's default policy (``sesame_policy_default``)."""
        return _DEFAULT_POLICY

    @classmethod
    def no_limits(cls) -> Policy:
        """A policy that checks nothing but the token itself (no lifetimes,
        any clock skew): for tools and interop tests, not for web sessions."""
        return cls(
            idle_timeout=None,
            absolute_lifetime=None,
            future_leeway=None,
            revoked_before=None,
            refresh_after=None,
            remember_me_idle_timeout=None,
            remember_me_absolute_lifetime=None,
        )

    @property
    def revoked_before_unix(self) -> int:
        """The cut-off as unix seconds (0: none)."""
        return int(self._c.revoked_before)

    def should_refresh(self, session: Session, now: Timestamp | None = None) -> bool:
        """Whether ``session``, opened at ``now``, is due for
        ``Keyring.refresh`` (``sesame_should_refresh``): so a middleware
        re-issues the cookie every ``refresh_after`` seconds, not on every
        request."""
        seconds = unix_now(now)
        buffers = _native.buffers()
        session._write_claims(buffers)
        rc = _should_refresh(self._c, buffers.claims, seconds, buffers.due)
        if rc:
            raise_for(rc)
        return bool(buffers.due[0])


_should_refresh = _native.lib.sesame_should_refresh
_DEFAULT_POLICY = Policy()


def check_revoked_before(session: Session, cutoff: Timestamp | None) -> Session:
    """Applies a per-user revocation cut-off from the application's store
    (e.g. the user's "log out my other sessions" time) with
    ``sesame_check_revoked_before``: raises :class:`sesame.Revoked` if the
    session was issued strictly before ``cutoff``; returns the session
    otherwise. None: nothing to check."""
    return session.check_revoked_before(cutoff)
