"""An ASGI session middleware (Starlette, FastAPI, any ASGI 3 app) on the
core's cache-proof cookie rules: the WSGI middleware's behaviour, over the
same request flow (``sesame._flow``).

::

    from sesame import Keyring
    from sesame.asgi import SessionMiddleware

    app = SessionMiddleware(app, Keyring.from_env(), registry=sesame.Registry(url))
    # or, in Starlette/FastAPI: app.add_middleware(SessionMiddleware, keyring=...)

    # in an endpoint:
    session = request.state.sesame_session       # a sesame.Session, or None
    auth = request.state.sesame_auth
    await auth.login(user.id)                    # on a POST
    await auth.logout()                          # on a POST

The same objects are in the scope as ``scope["sesame.session"]`` and
``scope["sesame.auth"]`` (the WSGI middleware's environ keys), and in
``scope["state"]`` as ``sesame_session`` and ``sesame_auth`` (which
Starlette's ``request.state`` reads).

Per HTTP request, ``sesame_request_begin`` reads the method and the
``Cookie`` header(s), the app runs, and when it sends
``http.response.start`` the request is finished (``sesame_request_finish``)
and sesame's header lines are merged into the app's. Everything the WSGI
middleware's docstring says about caches, bad cookies and the registry holds
here: it is the same code. Calls that may block, the registry's store round
trips and the app's ``revoked_before`` / ``set_revoked_before`` callbacks,
run in a worker thread (``anyio.to_thread``, or ``asyncio.to_thread``
without anyio), never on the event loop; without them nothing is
offloaded (the core's calls take about a microsecond). Lifespan and
websocket scopes pass through untouched.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable, MutableMapping, TypeVar

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
from .keyring import Bytes, Keyring
from .policy import Policy
from .registry import Entry, Registry
from .session import Session

__all__ = ["SessionMiddleware", "AsyncSessionHandle"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")


async def _in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a worker thread (it may block)."""
    call = functools.partial(function, *args, **kwargs)
    try:
        import anyio.to_thread
    except ImportError:  # no anyio: asyncio only
        return await asyncio.to_thread(call)
    return await anyio.to_thread.run_sync(call)


def _header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


class _ScopeFlow(RequestFlow):
    """The request flow, publishing the session where an ASGI app reads it."""

    def __init__(self, mw: SessionMiddleware, scope: Scope) -> None:
        headers = scope.get("headers") or []
        # HTTP/2 may split the Cookie header: one header again, as RFC 9113 says.
        cookie = b"; ".join(_header_values(headers, b"cookie")) or None
        agent = _header_values(headers, b"user-agent")
        client = scope.get("client")
        super().__init__(
            mw,
            scope,
            scope.get("method") or "GET",
            cookie,
            agent[0].decode("latin-1") if agent else None,
            str(client[0]) if client else None,
        )
        self._scope = scope
        self._state = scope.setdefault("state", {})

    def _publish(self, session: Session | None) -> None:
        self._scope["sesame.session"] = session
        self._state["sesame_session"] = session

    def _csrf_headers(self) -> tuple[str | None, str | None, str | None]:
        headers = self._scope.get("headers") or []
        found = [_header_values(headers, name) for name in (b"sec-fetch-site", b"origin", b"host")]
        return tuple(values[0].decode("latin-1") if values else None for values in found)  # type: ignore[return-value]


class AsyncSessionHandle:
    """``request.state.sesame_auth`` (``scope["sesame.auth"]``): this
    request's session and what the app can do with it, as the WSGI
    middleware's ``environ["sesame.auth"]`` (:class:`sesame.wsgi.SessionHandle`),
    with ``await`` on each decision: they run in a worker thread when the
    middleware has a registry or revocation callbacks. Decide before the
    response starts: at most one login(); logout() or reject() before it."""

    __slots__ = ("_flow", "_offload")

    def __init__(self, flow: RequestFlow, offload: bool) -> None:
        self._flow = flow
        self._offload = offload

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._offload:
            return await _in_thread(function, *args, **kwargs)
        return function(*args, **kwargs)

    @property
    def session(self) -> Session | None:
        """The current session (after login/logout: the new state)."""
        return self._flow.session

    @property
    def user_id(self) -> int | None:
        return self._flow.user_id

    @property
    def now(self) -> int:
        """The request's time (unix seconds), as the middleware saw it."""
        return self._flow.now

    @property
    def refreshed(self) -> bool:
        """Whether the session cookie is re-issued on this response."""
        return self._flow.refreshed

    @property
    def csrf_secret(self) -> bytes | None:
        """The device's CSRF secret (32 bytes) or None without a device
        (then judge by :func:`sesame.csrf_origin_allowed`); see
        ``SessionHandle.csrf_secret``. Read it before deciding."""
        return self._flow.csrf_secret

    @property
    def csrf_token(self) -> str | None:
        """A CSRF token for this browser's forms (see ``SessionHandle.csrf_token``)."""
        return self._flow.csrf_token

    def csrf_allows(self, token: str | None) -> bool:
        """The core's CSRF rule for this request and the token it carried
        (see ``SessionHandle.csrf_allows``)."""
        return self._flow.csrf_allows(token)

    @property
    def foreign_sessions(self) -> int:
        """Session cookies of other browsers this request carried (a detection)."""
        return self._flow.foreign_sessions

    async def login(self, user_id: int, data: Bytes | None = None, remember_me: bool = False) -> Session:
        """A new session for ``user_id`` (see ``SessionHandle.login``)."""
        return await self._call(self._flow.login, user_id, data, remember_me)

    async def logout(self) -> None:
        """Ends the session (final in the registry); on a non-GET request the
        response deletes the session cookie. Log out with a POST."""
        await self._call(self._flow.logout)

    async def reject(self) -> None:
        """Refuses a session that opened: the app runs without it."""
        await self._call(self._flow.reject)

    async def logout_everywhere(self, *, stay_logged_in: bool = False) -> int:
        """Ends every session of this user issued before now (see
        ``SessionHandle.logout_everywhere``)."""
        return await self._call(self._flow.logout_everywhere, stay_logged_in=stay_logged_in)

    async def sessions(self) -> list[Entry]:
        """This user's live sessions, newest first. Needs ``registry=``."""
        return await self._call(self._flow.sessions)

    async def revoke(self, session_id: str | bytes) -> bool:
        """Ends one of this user's sessions at once. Needs ``registry=``."""
        return await self._call(self._flow.revoke, session_id)

    async def logout_others(self) -> int:
        """Ends every other session of this user. Needs ``registry=``."""
        return await self._call(self._flow.logout_others)


def _raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _merged(app_headers: Any, lines: Headers) -> list[tuple[bytes, bytes]]:
    """The app's raw ASGI headers with sesame's lines merged in, by the same
    rules as the WSGI middleware (``merge_headers``)."""
    ours = [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in app_headers or []]
    return _raw_headers(merge_headers(ours, lines))


class SessionMiddleware(Settings):
    """Wraps an ASGI app with sesame sessions (see the module docstring).
    Takes the WSGI ``SessionMiddleware``'s arguments, with the same
    meanings; callbacks get the ASGI scope where the WSGI ones get the
    environ."""

    def __init__(
        self,
        app: ASGIApp,
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
        # What may block: the store, and the app's own revocation store.
        self._offload = registry is not None or revoked_before is not None or set_revoked_before is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        flow = _ScopeFlow(self, scope)
        auth = AsyncSessionHandle(flow, self._offload)
        scope["sesame.auth"] = scope["state"]["sesame_auth"] = auth
        # begin publishes the session (scope and state) before any callback.
        if self._offload:
            await _in_thread(flow.begin)
        else:
            flow.begin()

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                lines = flow.finish_lines()
                if lines:
                    message = dict(message)
                    message["headers"] = _merged(message.get("headers"), lines)
            await send(message)

        await self.app(scope, receive, send_with_session)
