"""One request through the core's cookie rules, sans I/O: what the WSGI
and ASGI middlewares share (``sesame.wsgi``, ``sesame.asgi``).

A :class:`RequestFlow` is made from the request's method, ``Cookie`` header,
user agent and address; :meth:`RequestFlow.begin` runs
``sesame_request_begin`` (and, with a registry, the store round trip a
refresh or a check needs); the app decides (login, logout, reject, the
registry's lists and revocations); :meth:`RequestFlow.finish_lines` runs
``sesame_request_finish`` once the response starts and gives the header
lines to merge (:func:`merge_headers`). Which cookies are set or deleted
and which cache headers go out is decided in the core (``docs/COOKIES.md``);
this module only carries the request there and back. ``begin`` and the
registry-backed methods may block on the store: an async server runs them
in a worker thread (``sesame.asgi`` does).

:class:`Settings` holds a middleware's configuration (the keyword arguments
both middlewares take) and its reporting (detections, theft).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, List, Literal, Optional, Tuple

from . import _native
from ._errors import RESULT_NAMES, InvalidArgument, raise_for
from ._native import NULL, ffi
from .cookies import CookieRules
from .keyring import Bytes, Keyring
from .policy import Policy
from .registry import Entry, Registry, Verdict
from .session import Session, Timestamp, session_from_buffer, to_unix

__all__ = ["Settings", "RequestFlow", "merge_headers", "OnDetection", "OnTheft", "RegistryCheck", "Headers"]

#: The request object the callbacks get: a WSGI environ or an ASGI scope.
Request = Any
Headers = List[Tuple[str, str]]
RevokedBefore = Callable[[int], Optional[Timestamp]]
SetRevokedBefore = Callable[[int, int], object]
#: ``on_detection(request, foreign_sessions)`` (request: the WSGI environ or
#: the ASGI scope): called for every request that carried other browsers'
#: session cookies.
OnDetection = Callable[[Request, int], object]
#: ``on_theft(request, session)``: the registry saw a superseded token used
#: after its successor (two parties hold the session, now revoked).
OnTheft = Callable[[Request, Session], object]
#: When the middleware asks the registry about a session that opened.
RegistryCheck = Literal["on_refresh", "every_request"]

log = logging.getLogger("sesame")

_begin = _native.lib.sesame_request_begin
_finish = _native.lib.sesame_request_finish
_head = _native.REQUEST_HEAD.unpack_from
_CLAIMS = _native.REQUEST_CLAIMS_OFFSET
_VALID = _native.SESSION_VALID
_REFRESHED = _native.SESSION_REFRESHED
_REJECTED = _native.SESSION_REJECTED
_LOG_DETECTION = _native.REQUEST_LOG_DETECTION
_KEEP = _native.ACTION_KEEP
_LOGIN = _native.ACTION_LOGIN
_LOGOUT = _native.ACTION_LOGOUT
_REJECT = _native.ACTION_REJECT
_KEEP_UNREFRESHED = _native.ACTION_KEEP_UNREFRESHED
_PRESENTED = _native.TOKEN_PRESENTED
_ISSUED = _native.TOKEN_ISSUED
_NO_LIMIT = _native.NO_LIMIT
_HEADERS_CAP = _native.HEADERS_CAP
_BROWSER = _native.KINDS["browser"]
_REMEMBER_ME = _native.KINDS["remember_me"]
_csrf_secret = _native.lib.sesame_request_csrf_secret
_csrf_token = _native.lib.sesame_request_csrf_token
_csrf_check = _native.lib.sesame_request_csrf_check
_CSRF_BYTES = _native.CSRF_SECRET_BYTES
_U64_MAX = _native.U64_MAX

_WARNINGS = {
    _native.FINISH_WARN_UNPROTECTED_GET_LOGIN: (
        "sesame: a login on a GET/HEAD request from a browser without a device cookie: a shared "
        "cache that stores this response hands the session to whoever receives it. Start logins "
        "with a POST so the device cookie exists before the callback (docs/COOKIES.md, "
        "'The GET login caveat'). Logged once per process."
    ),
    _native.FINISH_WARN_GET_LOGOUT: (
        "sesame: logout() on a GET/HEAD request: a cacheable response cannot delete a cookie, so "
        "the browser keeps its session cookie. Log out with a POST. Logged once per process."
    ),
}
_warned: set[int] = set()
_warned_lock = threading.Lock()

# Method name -> bytes for the library; client-controlled, so bounded.
_methods: dict[str, bytes] = {}


def _method(name: str) -> bytes:
    raw = name.encode("latin-1", "replace")
    if len(_methods) < 64:
        _methods[name] = raw
    return raw


_local = threading.local()
#: A request's native memory: (sesame_request, a buffer over it, finish's
#: header buffer, its length, its flags).
_Slot = Tuple[Any, Any, Any, Any, Any]


def _requests() -> list[_Slot]:
    """A new thread's list of free slots. A request takes one at begin and
    gives it back after finish, so one thread reuses the same memory while
    it is hot; finish's outputs are read right after the call. (A request
    that never finishes, say the app raised, leaves its slot to the garbage
    collector.)"""
    made: list[_Slot] = []
    _local.requests = made
    return made


def _new_slot() -> _Slot:
    request = ffi.new("sesame_request *")
    return (request, ffi.buffer(request), ffi.new("char[]", _HEADERS_CAP), ffi.new("size_t *"), ffi.new("uint32_t *"))


def _warn_once(flags: int) -> None:
    for flag, message in _WARNINGS.items():
        if flags & flag and flag not in _warned:
            with _warned_lock:
                if flag in _warned:
                    continue
                _warned.add(flag)
            log.warning(message)


def _parse_lines(text: bytes) -> Headers:
    """finish's "Name: value\\n" lines as (name, value) pairs."""
    lines = []
    for line in text.decode("latin-1").split("\n"):
        if line:
            name, _, value = line.partition(": ")
            lines.append((name, value))
    return lines


def merge_headers(headers: Headers, lines: Headers) -> Headers:
    """The app's headers with sesame's merged in: every Set-Cookie added,
    Vary appended to the app's, every other header replacing the app's."""
    if not lines:
        return headers
    out = list(headers)
    for name, value in lines:
        lower = name.lower()
        if lower == "set-cookie":
            out.append((name, value))
        elif lower == "vary":
            for index, (key, present) in enumerate(out):
                if key.lower() == "vary":
                    fields = [field.strip().lower() for field in present.split(",")]
                    if value.lower() not in fields and "*" not in fields:
                        out[index] = (key, f"{present}, {value}" if present.strip() else value)
                    break
            else:
                out.append((name, value))
        else:
            out = [(key, present) for key, present in out if key.lower() != lower]
            out.append((name, value))
    return out


_token_of = _native.lib.sesame_request_token


def _request_token(request: Any, which: int) -> str | None:
    """One of a request's tokens, from the core (``sesame_request_token``;
    ``request`` is its ``sesame_request *``): ``_PRESENTED``, the
    token of the request's own session cookie (between begin and finish),
    or ``_ISSUED``, the one begin refreshed or, after finish, a login's.
    None if the request has no such token."""
    buffers = _native.buffers()
    rc = _token_of(request, which, buffers.token, _native.TOKEN_CAP, buffers.token_len)
    if rc:
        if rc == InvalidArgument.code:
            return None
        raise_for(rc)
    return bytes(buffers.token_bytes[0 : buffers.token_len[0]]).decode("ascii")


def _latin1(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1", "replace")


def _csrf_of(mw: Settings, request: Any) -> tuple[bytes | None, str | None]:
    """The CSRF secret of a native request's device (None without one) and
    a fresh token, None when the core gives none. A first visit's non-GET
    has no secret yet but gets a token for the device its response issues,
    so a form re-rendered in that response checks."""
    secret = ffi.new("uint8_t[]", _CSRF_BYTES)
    present = ffi.new("int *")
    rc = _csrf_secret(request, secret, _CSRF_BYTES, present)
    if rc:
        raise_for(rc)
    buffers = _native.buffers()
    rc = _csrf_token(mw.keyring._ring, request, buffers.token, _native.TOKEN_CAP, buffers.token_len)
    if rc:
        raise_for(rc)
    length = buffers.token_len[0]
    token = bytes(buffers.token_bytes[0:length]).decode("ascii") if length else None
    return (bytes(ffi.buffer(secret)) if present[0] else None), token


class RequestFlow:
    """One request's session and what the app can do with it, before the
    response headers go out: at most one login(); a logout() or reject()
    before it is what a login does anyway. A middleware makes one per
    request, calls :meth:`begin`, hands it to the app, and calls
    :meth:`finish_lines` when the response starts."""

    # No __slots__: the per-request state that starts the same for every
    # request is read from these class attributes until first set, which
    # saves a dozen attribute stores per request.
    _lines: Headers | None = None  # finish's header lines, once it ran
    _started = False  # the response has started
    _START = "the response started"  # for the errors of a decision come too late
    _action: int = _KEEP  # what finish does unless the app logs in
    _session: Session | None = None
    _csrf_after: tuple[bytes | None, str | None] | None = None  # see _csrf
    #: Session cookies of other browsers this request carried (a detection).
    foreign_sessions = 0
    #: Whether the session cookie is re-issued on this response.
    refreshed = False

    def __init__(
        self,
        mw: Settings,
        request: Request,
        method: str,
        cookie: str | bytes | None,
        user_agent: str | None = None,
        remote_addr: str | None = None,
    ) -> None:
        self._mw = mw
        self._request = request
        self._method = method or "GET"
        # The library reads the header until finish: kept alive here.
        self._header = (cookie if isinstance(cookie, bytes) else cookie.encode("latin-1", "replace")) if cookie else None
        self._user_agent = user_agent
        self._remote_addr = remote_addr
        #: The request's time (unix seconds), as the middleware saw it.
        self.now = int(mw.clock())

    def begin(self) -> Session | None:
        """``sesame_request_begin``, the app's revocation cut-off and, with a
        registry, its check or refresh (which may block on the store).
        Returns the session the app runs with."""
        mw = self._mw
        now = self.now
        method = self._method
        raw_method = _methods.get(method) or _method(method)
        header = self._header
        try:
            free = self._free = _local.requests
        except AttributeError:
            free = self._free = _requests()
        slot = self._slot = free.pop() if free else _new_slot()
        request = slot[0]
        rc = _begin(
            mw.keyring._ring, mw.rules._rules, raw_method, len(raw_method),
            header or NULL, len(header) if header else 0, now, request,
        )  # fmt: skip
        if rc:
            raise_for(rc)  # a closed keyring or rules: the app's setup, never the cookie
        state, rejected, flags, foreign = _head(slot[1])
        session = None
        if foreign:
            self.foreign_sessions = foreign
        if state == _REFRESHED:
            self.refreshed = True
        if state == _VALID or state == _REFRESHED:
            session = session_from_buffer(slot[1], _CLAIMS)
            if mw.revoked_before is not None:
                session = self._check_revoked(session)
            if session is not None and mw.registry is not None:
                session = self._registry_begin(session, state == _REFRESHED)
        elif state == _REJECTED:
            log.info("sesame: session cookie rejected (%s); continuing without a session", RESULT_NAMES.get(rejected))
        self._session = session
        self._publish(session)  # before the callbacks, which may read it
        if foreign:
            mw._detected(self, self._request, foreign, flags)
        return session

    def _publish(self, session: Session | None) -> None:
        """Where the app reads the session (the environ, the scope): set
        whenever it changes. The middlewares override it."""

    def _check_revoked(self, session: Session) -> Session | None:
        revoked_before = self._mw.revoked_before
        assert revoked_before is not None
        cutoff = revoked_before(session.user_id)
        if cutoff is None or session.issued_at_unix >= to_unix(cutoff, "revoked_before cut-off"):
            return session
        log.info("sesame: session revoked by the app's cut-off; continuing without a session")
        self.refreshed = False
        self._action = _REJECT
        return None

    # -- the registry ---------------------------------------------------------

    def _presented_token(self) -> str:
        """The token the request's own session cookie carried, which the
        registry fingerprints (from the core: valid until finish)."""
        token = _request_token(self._slot[0], _PRESENTED)
        if token is None:
            raise RuntimeError("the request presented no session token")
        return token

    def _registry_begin(self, session: Session, refreshed: bool) -> Session | None:
        """Before the app runs, one store round trip at most: a refreshed
        session's refresh is recorded (``refresh(presented, issued)``), and
        in ``"every_request"`` mode a valid one is judged
        (``check(presented)``). LIVE keeps the session (and sends its new
        token), GRACE keeps it without sending a new token, anything else
        refuses it; so does a store error, unless fail-open (which serves
        on the token alone and keeps the token the store knows)."""
        mw = self._mw
        if not refreshed and not mw._every_request:
            return session
        registry = mw.registry
        assert registry is not None
        try:
            presented = self._presented_token()
            if refreshed:
                issued = _request_token(self._slot[0], _ISSUED)
                if issued is None:
                    raise RuntimeError("the core issued no refreshed token")
                verdict = registry.refresh(session, presented, issued, now=self.now)
            else:
                verdict = registry.check(session, presented, now=self.now)
        except Exception as error:  # noqa: BLE001 - the store's failure is the request's verdict
            what = "refresh" if refreshed else "check"
            if mw.registry_fail_open:
                log.warning("sesame: registry %s failed (%s); serving on the token alone (fail open)", what, error)
                if refreshed:
                    self._keep_unrefreshed()
                return session
            log.error("sesame: registry %s failed (%s); continuing without a session (fail closed)", what, error)
            self._store_down()
            return None
        if verdict is Verdict.LIVE:
            return session
        if verdict is Verdict.GRACE:
            if refreshed:
                self._keep_unrefreshed()
            return session
        if verdict is Verdict.THEFT_DETECTED:
            mw._theft(self._request, session)
        else:
            log.info("sesame: session refused by the registry (%s); continuing without a session", verdict.name)
        self._registry_reject()
        return None

    def _keep_unrefreshed(self) -> None:
        """Serve, but do not send the token begin refreshed: the browser
        keeps the one the store knows (GRACE: another request refreshed
        first, and the browser has, or is getting, that one)."""
        self.refreshed = False
        self._action = _KEEP_UNREFRESHED

    def _store_down(self) -> None:
        """Fail closed for this request only: served as logged out, the
        cookie left as it is (not deleted, no new token). A store outage
        must not log every browser out for good: once the store answers
        again, the same cookie is judged again."""
        self.refreshed = False
        self._action = _KEEP_UNREFRESHED

    def _registry_reject(self) -> None:
        self.refreshed = False
        self._action = _REJECT

    def _need_registry(self, what: str) -> tuple[Registry, Session]:
        registry, session = self._mw.registry, self._session
        if registry is None:
            raise RuntimeError(f"sesame: {what}() needs the middleware's registry=")
        if session is None:
            raise RuntimeError(f"sesame: {what}() needs a logged-in session")
        return registry, session

    def sessions(self) -> list[Entry]:
        """This user's live sessions, newest first, the current one marked
        ``current`` ("your sessions"). Needs ``registry=``."""
        registry, session = self._need_registry("sessions")
        return registry.list(session.user_id, current=session, now=self.now)

    def revoke(self, session_id: str | bytes) -> bool:
        """Ends one of this user's sessions (``Entry.session_id``) at once;
        another user's ID ends nothing. Revoking the current session logs
        this browser out too. True if it was live. Needs ``registry=``."""
        registry, session = self._need_registry("revoke")
        if isinstance(session_id, str):
            is_current = session_id.lower() == session.session_id.hex()
        else:
            is_current = bytes(session_id) == session.session_id
        if is_current:
            self._decide(self._action)  # raises if it is too late
        revoked = registry.revoke(session.user_id, session_id, now=self.now)
        if is_current:
            self._decide(_LOGOUT)
            self._set(None)
        return revoked

    def logout_others(self) -> int:
        """Ends every other session of this user at once, keeping this one
        ("log out my other devices"); returns how many. Needs ``registry=``."""
        registry, session = self._need_registry("logout_others")
        return registry.revoke_others(session, now=self.now)

    @property
    def session(self) -> Session | None:
        """The current session (after login/logout: the new state)."""
        return self._session

    @property
    def csrf_secret(self) -> bytes | None:
        """The CSRF secret (32 bytes) of the browser's device, or None
        without one (judge such a request with :meth:`csrf_allows`). For
        frameworks with their own token format (Django); others use
        :attr:`csrf_token`. After a login or logout, the new device's."""
        return self._csrf()[0]

    @property
    def csrf_token(self) -> str | None:
        """A CSRF token for this browser's forms or an ``X-CSRFToken``
        header (the core's: the device secret under a fresh mask), or None
        before the browser has a device (its first POST is judged by its
        origin). After a login or logout, the new device's. Read it before
        the response starts, as a framework renders its page."""
        return self._csrf()[1]

    def csrf_allows(self, token: str | None) -> bool:
        """The core's CSRF rule for this request, given the token its form
        or header carried: GET and HEAD pass; with a device the token must
        be one of its :attr:`csrf_token` values; without one, the request's
        ``Sec-Fetch-Site``, ``Origin`` and ``Host`` headers are judged."""
        if self._lines is not None:
            raise RuntimeError("sesame: csrf_allows() after this request's cookies were decided")
        raw = token.encode("ascii", "replace") if token else None
        site, origin, host = (_latin1(value) for value in self._csrf_headers())
        allowed = ffi.new("int *")
        rc = _csrf_check(
            self._slot[0], raw or NULL, len(raw) if raw else 0, site or NULL, len(site or b""),
            origin or NULL, len(origin or b""), host or NULL, len(host or b""), allowed,
        )  # fmt: skip
        if rc:
            raise_for(rc)
        return bool(allowed[0] == 1)

    def _csrf_headers(self) -> tuple[str | None, str | None, str | None]:
        """The request's ``Sec-Fetch-Site``, ``Origin`` and ``Host`` headers
        (None when absent), for :meth:`csrf_allows`. The middlewares
        override it."""
        return None, None, None

    def _csrf(self) -> tuple[bytes | None, str | None]:
        """The device's CSRF secret and a token: from the native request,
        or, once its cookies are decided, what finish kept of them."""
        if self._lines is not None:
            if self._csrf_after is None:
                raise RuntimeError(f"sesame: CSRF secret or token after {self._START}")
            return self._csrf_after
        return _csrf_of(self._mw, self._slot[0])

    @property
    def user_id(self) -> int | None:
        return None if self._session is None else self._session.user_id

    def login(self, user_id: int, data: Bytes | None = None, remember_me: bool = False) -> Session:
        """Starts a new session for ``user_id`` with a fresh session ID (on a
        non-GET request, for a new device ID too) and sets its cookie on this
        response. ``data``: up to ``sesame.DATA_MAX`` bytes the app gets back
        as ``session.data``. ``remember_me`` seals a ``"remember_me"``
        session, judged by the policy's remember-me limits and given the
        middleware's ``remember_me_lifetime`` instead of ``login_lifetime``.
        Returns the new session (also where the app reads it: the environ's
        or the scope's ``"sesame.session"``)."""
        if type(user_id) is not int or not 0 <= user_id <= _U64_MAX:
            raise ValueError(f"user_id must be an int in 0 .. 2**64-1, not {user_id!r}")
        if data is not None and not isinstance(data, bytes):
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f"data must be bytes, not {type(data).__name__}")
            data = bytes(data)
        mw = self._mw
        lifetime = mw.remember_me_lifetime if remember_me else mw.login_lifetime
        previous = self._session
        # The replaced session's token: the core gives it until finish.
        old = _request_token(self._slot[0], _PRESENTED) if previous is not None and mw.registry is not None else None
        kind = _REMEMBER_ME if remember_me else _BROWSER
        lines = self._finish(_LOGIN, user_id, _NO_LIMIT if lifetime is None else lifetime, data, kind)
        slot = self._slot
        session = session_from_buffer(slot[1], _CLAIMS)
        try:
            if mw.registry is not None:
                self._register(session, lines, previous, old, _request_token(slot[0], _ISSUED), remember_me)
        finally:
            self._free.append(slot)
        self._set(session)
        return session

    def _register(
        self,
        session: Session,
        lines: Headers,
        previous: Session | None,
        old: str | None,
        token: str | None,
        remember_me: bool,
    ) -> None:
        """A login with a registry: ends the session it replaces (``old``,
        the token it presented; best effort) and registers the new one
        (``token``, the one finish issued). If registering fails, the
        response sets no cookie (the browser keeps the ones it has) and
        the error reaches the app (fail closed), unless
        ``registry_fail_open``."""
        mw = self._mw
        registry = mw.registry
        assert registry is not None
        if previous is not None and old is not None:
            try:
                registry.logout(previous, old, now=self.now)
            except Exception as error:  # noqa: BLE001 - the new login matters more
                log.warning("sesame: ending the replaced session in the registry failed (%s)", error)
        try:
            if token is None:
                raise RuntimeError("the login issued no session token")
            registry.register(
                session,
                token,
                device=self._user_agent or None,
                ip=self._remote_addr or None,
                kind="remember_me" if remember_me else "browser",
                now=self.now,
            )
        except Exception as error:
            if mw.registry_fail_open:
                log.warning("sesame: registering the login failed (%s); logged in on the token alone", error)
                return
            log.error("sesame: registering the login failed (%s); the login is refused (fail closed)", error)
            # No Set-Cookie at all: the browser keeps its cookies as they were
            # (the cache headers stay).
            self._lines = [(name, value) for name, value in lines if name.lower() != "set-cookie"]
            self._set(None)
            raise

    def logout(self) -> None:
        """Ends the session. On a non-GET request the response deletes the
        session cookie and rotates the device ID; on GET nothing can be
        deleted safely (a cache could replay it), so this only logs a
        warning once per process and the browser keeps its cookie: log out
        with a POST."""
        session = self._session
        self._decide(_LOGOUT)
        self._set(None)
        registry = self._mw.registry
        if registry is not None and session is not None:
            self._registry_logout(registry, session)

    def _registry_logout(self, registry: Registry, session: Session) -> None:
        """Ends the session in the store, finally: any copy of the token is
        refused from now on (at its next check, or its next refresh in
        ``on_refresh`` mode). A store error is logged and raised to the app
        (the browser's cookie is deleted anyway) unless fail-open."""
        try:
            verdict = registry.logout(session, self._presented_token(), now=self.now)
        except Exception as error:
            if self._mw.registry_fail_open:
                log.warning("sesame: registry logout failed (%s); logged out in this browser only", error)
                return
            log.error("sesame: registry logout failed (%s); logged out in this browser only", error)
            raise
        if verdict is Verdict.THEFT_DETECTED:
            self._mw._theft(self._request, session)

    def reject(self) -> None:
        """Refuses a session that opened (say, revoked in the app's own
        store): the app runs without it, and a non-GET response deletes
        its cookie."""
        self._decide(_REJECT)
        self._set(None)

    def logout_everywhere(self, *, stay_logged_in: bool = False) -> int:
        """Ends every session of this user issued before now: stores
        ``now`` as the user's cut-off through the middleware's
        ``set_revoked_before(user_id, cutoff)`` (which ``revoked_before``
        reads back), then logs this browser out, or, with
        ``stay_logged_in``, in again afresh. Returns the cut-off."""
        session = self._session
        mw = self._mw
        if session is None:
            raise RuntimeError("sesame: logout_everywhere() needs a logged-in session")
        if mw.registry is not None:
            self._decide(self._action)  # raises if it is too late
            count = mw.registry.revoke_all(session.user_id, now=self.now)
            if stay_logged_in:
                self._session = None  # already ended in the store
                self.login(session.user_id, session.data, remember_me=session.remember_me)
            else:
                self._decide(_LOGOUT)
                self._set(None)
            return count
        if mw.set_revoked_before is None or mw.revoked_before is None:
            raise RuntimeError("sesame: logout_everywhere() needs revoked_before= and set_revoked_before=")
        self._decide(self._action)  # raises if it is too late
        mw.set_revoked_before(session.user_id, self.now)
        if stay_logged_in:
            self.login(session.user_id, session.data, remember_me=session.remember_me)
        else:
            self.logout()
        return self.now

    def _decide(self, action: int) -> None:
        """The action finish will take (a login finishes at once instead)."""
        if self._started:
            raise RuntimeError(f"sesame: logout()/reject() after {self._START}; decide before responding")
        if self._lines is not None:
            raise RuntimeError("sesame: this request already logged in; one login() per request")
        self._action = action

    def _set(self, session: Session | None) -> None:
        self._session = session
        self._publish(session)

    def _finish(
        self, action: int, user: int = 0, lifetime: int = _NO_LIMIT, data: bytes | None = None, kind: int = 0
    ) -> Headers:
        """sesame_request_finish, once per request: the header lines."""
        if self._started:
            raise RuntimeError(f"sesame: login() after {self._START}; decide before responding")
        if self._lines is not None:
            raise RuntimeError("sesame: this request already logged in; one login() per request")
        mw = self._mw
        slot = self._slot
        request, _, headers, length, flags = slot
        rc = _finish(mw.keyring._ring, mw.rules._rules, request, action, user, kind, lifetime, data or NULL,
                     len(data) if data else 0, self.now, headers, _HEADERS_CAP, length, flags)  # fmt: skip
        if rc:
            raise_for(rc)
        size = length[0]
        lines = self._lines = _parse_lines(ffi.unpack(headers, size)) if size else []
        if flags[0]:
            _warn_once(flags[0])
        if action == _LOGIN or action == _LOGOUT:
            # A page rendered after a login or logout needs the new device's.
            self._csrf_after = _csrf_of(mw, request)
        if action != _LOGIN:  # (login reads the new claims from it first)
            self._free.append(slot)
        return lines

    def finish_lines(self) -> Headers:
        """The response is starting: the app's decision is made, so the
        request is finished (once) and sesame's header lines are returned,
        to merge into the app's (:func:`merge_headers`). A failure here is
        logged and the response sets no cookie: never fail a response over
        the session cookie. Later calls return the same lines."""
        lines = self._lines
        if not self._started:
            if lines is None:
                try:
                    lines = self._finish(self._action)
                except Exception:  # noqa: BLE001 - never fail a response over the session cookie
                    log.exception("sesame: finishing the request failed; the response sets no cookie")
                    lines = self._lines = []
            self._started = True
        return lines or []


class Settings:
    """A sesame middleware's settings and reporting; the WSGI and ASGI
    middlewares are made of it (their docstrings say what each argument
    does)."""

    def __init__(
        self,
        keyring: Keyring,
        *,
        policy: Policy | None = None,
        rules: CookieRules | None = None,
        device_cookie_name: str | None = None,
        session_cookie_prefix: str | None = None,
        revoked_before: RevokedBefore | None = None,
        set_revoked_before: SetRevokedBefore | None = None,
        login_lifetime: int | None = None,
        remember_me_lifetime: int | None = None,
        on_detection: OnDetection | None = None,
        registry: Registry | str | None = None,
        registry_check: RegistryCheck = "on_refresh",
        registry_fail_open: bool = False,
        on_theft: OnTheft | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rules is None:
            rules = CookieRules(policy, device_name=device_cookie_name, session_prefix=session_cookie_prefix)
        elif policy is not None or device_cookie_name is not None or session_cookie_prefix is not None:
            raise ValueError("pass either rules= or policy= and the cookie names, not both")
        for name, value in (("login_lifetime", login_lifetime), ("remember_me_lifetime", remember_me_lifetime)):
            if value is not None and (type(value) is not int or not 0 <= value < _U64_MAX):
                raise ValueError(f"{name} must be None or seconds in 0 .. 2**64-2, not {value!r}")
        if registry is not None and not isinstance(registry, (Registry, str)):
            raise TypeError(f"registry must be a sesame.Registry, a store URL or None, not {type(registry).__name__}")
        if registry_check not in ("on_refresh", "every_request"):
            raise ValueError(f"registry_check must be 'on_refresh' or 'every_request', not {registry_check!r}")
        # A URL opens the store with the limits of this middleware's policy.
        self.registry: Registry | None = Registry(registry, policy=rules.policy) if isinstance(registry, str) else registry
        self.registry_check = registry_check
        self._every_request = registry_check == "every_request"
        self.registry_fail_open = registry_fail_open
        self.on_theft = on_theft
        self.keyring = keyring
        self.rules = rules
        self.policy = rules.policy
        self.revoked_before = revoked_before
        self.set_revoked_before = set_revoked_before
        self.login_lifetime = login_lifetime
        self.remember_me_lifetime = remember_me_lifetime
        self.on_detection = on_detection
        self.clock = time.time if clock is None else clock

    @property
    def detections(self) -> int:
        """``rules.detections``: requests so far that carried other browsers'
        session cookies."""
        return self.rules.detections

    def _theft(self, request: Request, session: Session) -> None:
        """The registry saw a superseded token used after its successor:
        two parties hold the session, which the store has now revoked."""
        log.warning(
            "sesame: stolen session token detected by the registry (user %d, session %s): the session is revoked",
            session.user_id,
            session.session_id.hex(),
        )
        callback = self.on_theft
        if callback is not None:
            try:
                callback(request, session)
            except Exception:  # noqa: BLE001 - must never break the request
                log.exception("sesame: on_theft raised")

    def _detected(self, handle: RequestFlow, request: Request, foreign: int, flags: int) -> None:
        """A request with other browsers' session cookies: evidence of a
        shared cache replaying responses. Reported, never acted on."""
        if flags & _LOG_DETECTION:
            message = ffi.new("char[]", _native.DETECTION_MESSAGE_CAP)
            length = ffi.new("size_t *")
            rc = _native.lib.sesame_request_detection_message(
                self.rules._rules, handle._slot[0], message, _native.DETECTION_MESSAGE_CAP, length
            )
            if rc == 0:
                log.warning("%s", ffi.unpack(message, length[0]).decode("utf-8", "replace"))
            else:
                log.warning("sesame: a request carried %d session cookie(s) of other browsers", foreign)
        callback = self.on_detection
        if callback is not None:
            try:
                callback(request, foreign)
            except Exception:  # noqa: BLE001 - a detection must never break the request
                log.exception("sesame: on_detection raised")
