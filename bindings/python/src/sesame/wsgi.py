"""A WSGI session middleware on sesame tokens.

::

    from sesame import Keyring
    from sesame.wsgi import SessionMiddleware

    ring = Keyring()
    ring.derive_key(1, master_secret, b"session cookie")
    app = SessionMiddleware(app, ring, revoked_before=lambda uid: store.cutoff(uid))

    # in the app:
    session = environ["sesame.session"]          # a sesame.Session, or None
    environ["sesame"].login(user.id, remember_me=True)
    environ["sesame"].logout()

On every request the middleware:

1. reads the session cookie (default ``session``) and opens it under the
   policy, bound to this browser (below);
2. applies the app's per-user cut-off (``revoked_before(user_id)`` ->
   datetime | unix seconds | None: "log out my other sessions") with
   ``sesame_check_revoked_before``;
3. exposes the result as ``environ["sesame.session"]`` (None if no valid
   session) and a :class:`SessionHandle` as ``environ["sesame"]``;
4. re-issues the cookie when the policy says it is due (``refresh_after``),
   so an active user's idle timeout keeps moving while the absolute
   lifetime still counts from login;
5. treats any bad cookie (malformed, tampered, from another browser,
   expired, revoked, retired key) as "no session": it is logged through
   ``logging`` (logger ``sesame.wsgi``; never the token itself), the cookie
   is cleared, and the app runs logged out. Never a 500.

Cookies are ``HttpOnly; Secure; SameSite=Lax; Path=/``. A login without
remember-me is a browser-session cookie; with remember-me the token carries
its own lifetime (``remember_me_lifetime``) and the cookie a matching
``Max-Age``, re-sent on each refresh.

Device binding (on by default): a random, long-lived ``sesame_device``
cookie (256 bits) identifies the browser, and every session token is sealed
with context = SHA-256 of it. A session cookie copied into another browser,
or swapped between users, fails as AuthFailed there.

Caches: **every response that sets or clears the session cookie gets**
``Cache-Control: private, no-store`` (replacing whatever the app set, and
dropping ``Expires``, ``Surrogate-Control`` and ``*CDN-Cache-Control``), and
``Vary: Cookie``; so no shared cache (CDN, proxy) can store one user's
``Set-Cookie`` and hand it to another. Responses to requests that carried a
session cookie get ``Vary: Cookie`` too (``vary_cookie=True``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from typing import Any, Callable, Iterable, List, Optional, Tuple

from ._errors import SesameError
from .keyring import Bytes, Keyring
from .policy import Policy
from .session import Session, Timestamp, to_unix

__all__ = ["SessionMiddleware", "SessionHandle", "parse_cookies"]

Environ = dict[str, Any]
Headers = List[Tuple[str, str]]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
RevokedBefore = Callable[[int], Optional[Timestamp]]

log = logging.getLogger("sesame.wsgi")

#: A device ID: 32 random bytes, base64url without padding.
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NO_STORE = "private, no-store"
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
#: Headers dropped from a response that sets or clears the session cookie:
#: anything that could let a shared cache keep it.
_DROPPED = ("cache-control", "expires", "surrogate-control")
_DEFAULT_REMEMBER_ME = 30 * 24 * 60 * 60
_DEVICE_MAX_AGE = 400 * 24 * 60 * 60  # the longest Max-Age browsers honour


def parse_cookies(header: str) -> dict[str, str]:
    """Cookie header -> {name: value}. Lenient (junk is skipped, never an
    error); the first of several cookies with one name wins, as browsers
    send the most specific first."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if name and name not in cookies:
            cookies[name] = value
    return cookies


def device_context(device_id: str) -> bytes:
    """The binding context for a device cookie value: its SHA-256."""
    return hashlib.sha256(device_id.encode("ascii")).digest()


class SessionHandle:
    """``environ["sesame"]``: this request's session and the actions on it."""

    __slots__ = ("_middleware", "_environ", "now", "_session", "_token", "_clear", "_device",
                 "_new_device", "_started", "_had_cookie", "refreshed")

    def __init__(self, middleware: SessionMiddleware, environ: Environ, now: int) -> None:
        self._middleware = middleware
        self._environ = environ
        #: The request's time (unix seconds), as the middleware saw it: store
        #: it as the user's cut-off for "log out my other sessions".
        self.now = now
        self._session: Session | None = None
        self._token: str | None = None  # a cookie value to send
        self._clear = False  # send a clearing cookie
        self._device: str | None = None  # this browser's device ID (valid shape)
        self._new_device = False  # the device cookie must be sent
        self._started = False  # start_response was called
        self._had_cookie = False  # the request carried a session cookie
        #: Whether the middleware re-issued the cookie on this request.
        self.refreshed = False

    @property
    def session(self) -> Session | None:
        """The current session (after login/logout: the new state)."""
        return self._session

    @property
    def user_id(self) -> int | None:
        return None if self._session is None else self._session.user_id

    def login(self, user_id: int, data: Bytes | None = None, remember_me: bool = False) -> Session:
        """Starts a new session for ``user_id`` (a fresh session ID: call it
        on every login, so a planted cookie cannot be kept) and sets the
        cookie on this response. ``remember_me`` makes a persistent cookie
        whose token carries its own lifetime. Returns the new session."""
        mw = self._middleware
        if self._started:
            raise RuntimeError("sesame: login() after start_response(); log in before responding")
        context = None
        if mw.bind_to_device:
            if self._device is None:
                self._device = secrets.token_urlsafe(32)
            # Sent on every login, new or not, so its Max-Age starts again.
            self._new_device = True
            context = device_context(self._device)
        lifetime = mw.remember_me_lifetime if remember_me else None
        token = mw.keyring.seal(user_id, context=context, data=data, lifetime=lifetime, now=self.now)
        # The claims of what was just sealed (no policy: it is brand new).
        session = mw.keyring.open(token, context=context, now=self.now, policy=_ANY)
        self._token = token
        self._clear = False
        self._set_session(session)
        return session

    def logout(self) -> None:
        """Ends the session: clears the cookie on this response. (To log a
        user out everywhere, also store ``handle.now`` as the user's cut-off,
        which the ``revoked_before`` callback returns.)"""
        if self._started:
            raise RuntimeError("sesame: logout() after start_response(); log out before responding")
        self._token = None
        self._clear = True
        self._set_session(None)

    def _set_session(self, session: Session | None) -> None:
        self._session = session
        self._environ["sesame.session"] = session

    def _response_headers(self, headers: Headers) -> Headers:
        mw = self._middleware
        cookies = []
        if self._new_device and self._device is not None and (self._token is not None):
            cookies.append(mw._cookie(mw.device_cookie_name, self._device, _DEVICE_MAX_AGE))
        if self._token is not None:
            cookies.append(mw._cookie(mw.cookie_name, self._token, self._max_age()))
        elif self._clear:
            cookies.append(mw._cookie(mw.cookie_name, "", 0))
        if not cookies:
            if mw.vary_cookie and self._had_cookie:
                return _add_vary_cookie(list(headers))
            return headers
        kept = [
            (name, value)
            for name, value in headers
            if not (name.lower() in _DROPPED or name.lower().endswith("cdn-cache-control"))
        ]
        kept.append(("Cache-Control", _NO_STORE))
        kept = _add_vary_cookie(kept)
        kept.extend(("Set-Cookie", cookie) for cookie in cookies)
        return kept

    def _max_age(self) -> int | None:
        """Max-Age of the session cookie: None (a browser-session cookie)
        unless the token has its own lifetime, then the seconds it has left
        (at most what the policy's absolute lifetime leaves)."""
        session = self._session
        if session is None or session.lifetime is None:
            return None
        end = session.issued_at_unix + session.lifetime
        absolute = self._middleware.policy.absolute_lifetime
        if absolute is not None:
            end = min(end, session.issued_at_unix + absolute)
        return max(end - self.now, 0)


def _add_vary_cookie(headers: Headers) -> Headers:
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            fields = [field.strip().lower() for field in value.split(",")]
            if "cookie" in fields or "*" in fields:
                return headers
            headers[index] = (name, f"{value}, Cookie" if value.strip() else "Cookie")
            return headers
    headers.append(("Vary", "Cookie"))
    return headers


class SessionMiddleware:
    """Wraps a WSGI app with sesame sessions (see the module docstring).

    ``keyring``: the Keyring (shared by all threads). ``policy``: lifetimes
    and refresh interval (default ``Policy.default()``). ``revoked_before``:
    ``user_id -> cut-off or None``, the app's "log out everywhere" store.
    ``remember_me_lifetime``: seconds a remember-me login lasts (default: the
    policy's absolute lifetime, else 30 days). ``secure=False`` only for
    plain-HTTP development. ``clock``: unix seconds (tests).
    """

    def __init__(
        self,
        app: WSGIApp,
        keyring: Keyring,
        *,
        policy: Policy | None = None,
        cookie_name: str = "session",
        revoked_before: RevokedBefore | None = None,
        bind_to_device: bool = True,
        device_cookie_name: str = "sesame_device",
        remember_me_lifetime: int | None = None,
        secure: bool = True,
        same_site: str = "Lax",
        path: str = "/",
        domain: str | None = None,
        vary_cookie: bool = True,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        for name in (cookie_name, device_cookie_name):
            if not _COOKIE_NAME.fullmatch(name):
                raise ValueError(f"not a valid cookie name: {name!r}")
        if same_site not in ("Lax", "Strict", "None"):
            raise ValueError("same_site must be 'Lax', 'Strict' or 'None'")
        if same_site == "None" and not secure:
            raise ValueError("SameSite=None cookies must be Secure")
        self.app = app
        self.keyring = keyring
        self.policy = policy if policy is not None else Policy.default()
        self.cookie_name = cookie_name
        self.revoked_before = revoked_before
        self.bind_to_device = bind_to_device
        self.device_cookie_name = device_cookie_name
        if remember_me_lifetime is None:
            remember_me_lifetime = self.policy.absolute_lifetime or _DEFAULT_REMEMBER_ME
        self.remember_me_lifetime = remember_me_lifetime
        self.vary_cookie = vary_cookie
        self.clock = clock
        self.log = logger or log
        attributes = [f"Path={path}"]
        if domain:
            attributes.append(f"Domain={domain}")
        attributes.append("HttpOnly")
        if secure:
            attributes.append("Secure")
        attributes.append(f"SameSite={same_site}")
        self._attributes = "; ".join(attributes)

    def _cookie(self, name: str, value: str, max_age: int | None) -> str:
        if max_age is None:
            return f"{name}={value}; {self._attributes}"
        if max_age == 0:
            return f"{name}={value}; Max-Age=0; Expires={_EXPIRED}; {self._attributes}"
        return f"{name}={value}; Max-Age={max_age}; {self._attributes}"

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        handle = SessionHandle(self, environ, int(self.clock()))
        self._load(handle, environ)
        environ["sesame.session"] = handle._session
        environ["sesame"] = handle

        def sesame_start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], object]:
            handle._started = True
            return start_response(status, handle._response_headers(headers), exc_info)

        return self.app(environ, sesame_start_response)

    def _load(self, handle: SessionHandle, environ: Environ) -> None:
        cookies = parse_cookies(environ.get("HTTP_COOKIE", ""))
        if self.bind_to_device:
            device = cookies.get(self.device_cookie_name)
            if device is not None and _DEVICE_ID.fullmatch(device):
                handle._device = device
        token = cookies.get(self.cookie_name)
        if not token:
            return
        handle._had_cookie = True
        try:
            handle._session = self._open(handle, token)
        except SesameError as error:
            self.log.info(
                "sesame: session cookie rejected (%s: %s); continuing without a session",
                error.name or type(error).__name__,
                error,
            )
            handle._clear = True
        # Anything else (say, the app's revoked_before callback failing) is
        # the app's error, not the cookie's: it propagates, and nobody is
        # logged in by it.

    def _open(self, handle: SessionHandle, token: str) -> Session:
        context = None
        if self.bind_to_device:
            if handle._device is None:
                raise _NoDevice()
            context = device_context(handle._device)
        now = handle.now
        ring, policy = self.keyring, self.policy
        session = ring.open(token, context=context, now=now, policy=policy)
        if self.revoked_before is not None:
            cutoff = self.revoked_before(session.user_id)
            if cutoff is not None:
                session.check_revoked_before(to_unix(cutoff, "revoked_before cut-off"))
        if policy.should_refresh(session, now):
            handle._token, session = ring.refresh(token, context=context, now=now, policy=policy)
            handle.refreshed = True
        return session


class _NoDevice(SesameError):
    """A session cookie arrived without this browser's device cookie."""

    name = "NO_DEVICE_COOKIE"

    def __init__(self) -> None:
        super().__init__("session cookie without a device cookie")


_ANY = Policy.no_limits()
