"""A WSGI session middleware on the core's cache-proof cookie rules.

::

    from sesame import Keyring
    from sesame.wsgi import SessionMiddleware

    app = SessionMiddleware(app, Keyring.from_env(), revoked_before=store.cutoff)

    # in the app:
    session = environ["sesame.session"]          # a sesame.Session, or None
    auth = environ["sesame.auth"]
    auth.login(user.id)                          # on a POST
    auth.logout()                                # on a POST

Which cookies a response sets or deletes, and which cache headers it
carries, is decided by the Rust core (``docs/COOKIES.md``); this module only
carries one request through it. Per request, ``sesame_request_begin`` reads
the method and the raw ``Cookie`` header: it finds the browser's device
cookie (``__Host-sesame-device``) and the session cookie named after it
(``__Host-sesame-s-...``), opens the token bound to that device, and
refreshes it when due. The app runs. Then ``sesame_request_finish`` turns
what the app did (login, logout, an app-side rejection, or nothing) into
header lines, which are merged into the app's before they go out. That
request flow is ``sesame._flow``, which ``sesame.asgi`` shares.

What this buys against a shared cache that ignores ``Cache-Control`` and
stores a response with someone's ``Set-Cookie``: a replayed refresh lands in
another browser under a name that browser never reads (and the token would
not open there anyway), so it changes nobody's identity; it is counted and
logged as a *detection*. Device cookies and deletions are only ever sent on
non-GET responses, which caches do not store. One case stays unprotected: a
login by GET from a browser without a device cookie (warned once per
process); start logins with a POST.

A bad, tampered, expired or revoked cookie never raises into the app: the
app runs without a session, a GET sets nothing, and a non-GET deletes the
cookie.

With ``registry=`` (a :class:`sesame.Registry`, ``docs/REGISTRY.md``) the
middleware also keeps the server-side list of sessions: it registers each
login, records each refresh, judges the presented token on every request in
``"every_request"`` mode, and ends the session in the store on ``logout()``.
The tokens come from the core (``sesame_request_token``), never from parsing
cookies here: the one the request's own session cookie presented, and the
one the response issues (``begin``'s refresh, or a login's after
``finish``). A refresh is one store round trip, before the app runs:
``refresh(presented, issued)``, whose verdict decides the request: LIVE
keeps the session and sends the new token, GRACE (another request refreshed
first; the browser has, or is getting, that token) keeps it without sending
the new one (``SESAME_ACTION_KEEP_UNREFRESHED``), anything else refuses it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ._flow import (
    Headers,
    OnDetection,
    OnTheft,
    RegistryCheck,
    RequestFlow,
    RevokedBefore,
    SetRevokedBefore,
    Settings,
    merge_headers,
)
from .cookies import CookieRules
from .keyring import Keyring
from .policy import Policy
from .registry import Registry
from .session import Session

__all__ = ["SessionMiddleware", "SessionHandle", "OnDetection", "OnTheft", "RegistryCheck", "merge_headers"]

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class SessionHandle(RequestFlow):
    """``environ["sesame.auth"]``: this request's session and what the app
    can do with it, before the response headers go out: at most one
    login(); a logout() or reject() before it is what a login does anyway."""

    _START = "start_response()"

    def __init__(self, mw: SessionMiddleware, environ: Environ, start_response: StartResponse) -> None:
        super().__init__(
            mw,
            environ,
            environ.get("REQUEST_METHOD") or "GET",
            environ.get("HTTP_COOKIE"),
            environ.get("HTTP_USER_AGENT"),
            environ.get("REMOTE_ADDR"),
        )
        self._environ = environ
        self._start = start_response
        environ["sesame.auth"] = self
        self.begin()  # publishes environ["sesame.session"]

    def _publish(self, session: Session | None) -> None:
        self._environ["sesame.session"] = session

    def _csrf_headers(self) -> tuple[str | None, str | None, str | None]:
        environ = self._environ
        return environ.get("HTTP_SEC_FETCH_SITE"), environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST")

    def _start_response(self, status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], object]:
        """The app's start_response: the app's headers are known and its
        decision is made, so the request is finished here and the server's
        start_response gets sesame's lines merged in. Nothing has gone out
        yet (servers send the headers with the first body chunk), and
        whatever the app returns, an iterable or a generator that calls this
        on its first step, reaches the server untouched. A second call (an
        error response with exc_info) gets the same lines; the server
        re-raises if the headers already went out."""
        lines = self.finish_lines()
        return self._start(status, merge_headers(headers, lines) if lines else headers, exc_info)


class SessionMiddleware(Settings):
    """Wraps a WSGI app with sesame sessions (see the module docstring).

    ``keyring``: the Keyring (shared by all threads). ``rules``: the
    :class:`sesame.CookieRules` (made from ``policy``, ``device_cookie_name``
    and ``session_cookie_prefix`` if not given; names default to the core's,
    and a framework's own name such as ``session`` raises
    :class:`sesame.InvalidCookieName`). ``revoked_before``: ``user_id ->
    cut-off or None``, the app's "log out everywhere" store, and
    ``set_revoked_before(user_id, cutoff)`` writes it. ``login_lifetime`` and
    ``remember_me_lifetime``: a token's own lifetime in seconds (None: the
    policy's limits). ``on_detection(environ, foreign_sessions)``: called for
    each request carrying other browsers' session cookies. ``clock``: unix
    seconds (tests).

    ``registry``: a :class:`sesame.Registry`, or a store URL
    (``"sqlite:///path"``, ``"redis://host:port/db"``) opened with this
    policy's limits (None: stateless, as without it). Logins are registered (device: ``HTTP_USER_AGENT``, ip:
    ``REMOTE_ADDR``, kind from ``remember_me``), refreshes recorded,
    logouts final in the store, and ``environ["sesame.auth"]`` gains
    :meth:`SessionHandle.sessions`, :meth:`~SessionHandle.revoke` and
    :meth:`~SessionHandle.logout_others`. ``registry_check``:

    * ``"on_refresh"`` (default): no store call on a request whose token is
      not due for a refresh. When it is due, the refresh is recorded
      before the app runs, in one round trip (``refresh(presented,
      issued)``), whose verdict judges the presented token: LIVE sends the
      new token, GRACE serves without it. A revocation, eviction or
      theft takes effect at the session's next refresh, so within the
      policy's ``refresh_after`` (15 min by default). Logout is still
      final: it ends the session in the store at once and deletes the
      cookie, and a copy of the logged-out token is refused at its next
      refresh (REVOKED, or UNKNOWN once the tombstone is gone), so it can
      never be extended.
    * ``"every_request"``: ``check`` of the presented token on every
      request with a session not due for a refresh, ``refresh`` as above
      on one that is (one round trip either way): revocations take effect
      on the next request.

    A store error refuses the session (logged; fail closed) unless
    ``registry_fail_open``, which serves on the token alone. ``on_theft(environ,
    session)``: called (after a WARNING log) when the registry detects a
    superseded token used after its successor; the session is revoked.
    """

    def __init__(
        self,
        app: WSGIApp,
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
        super().__init__(
            keyring,
            policy=policy,
            rules=rules,
            device_cookie_name=device_cookie_name,
            session_cookie_prefix=session_cookie_prefix,
            revoked_before=revoked_before,
            set_revoked_before=set_revoked_before,
            login_lifetime=login_lifetime,
            remember_me_lifetime=remember_me_lifetime,
            on_detection=on_detection,
            registry=registry,
            registry_check=registry_check,
            registry_fail_open=registry_fail_open,
            on_theft=on_theft,
            clock=clock,
        )
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, SessionHandle(self, environ, start_response)._start_response)
