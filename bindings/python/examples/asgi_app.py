"""A Starlette app with sesame sessions and the session registry: log in,
stay logged in across refreshes, list your sessions, revoke one, log the
others out, and log out for good. Also the ``asgi`` origin of the CDN
end-to-end harness (tests/e2e).

Run it (uvicorn and starlette from PyPI; the binding installed, or its
``src`` on PYTHONPATH with SESAME_LIB set)::

    export SESAME_KEYSET="$(sesame keyset new)"
    uvicorn --factory --app-dir bindings/python/examples asgi_app:from_env

Environment: SESAME_KEYSET (required), SESAME_REGISTRY (a registry URL,
default ``memory://``; ``none`` for no registry), SESAME_REGISTRY_CHECK
(``on_refresh`` or ``every_request``), SESAME_REFRESH_AFTER (seconds, default
900: a session's cookie is re-issued once it is that old).

Routes (every state change is a POST, as the cookie rules want):

- ``GET /`` and ``GET /whoami``: ``user N`` or ``anonymous`` (not cacheable)
- ``GET /page``: the same text, but cacheable (``public, max-age=60``): the
  response a shared cache may store; sesame keeps cookies off it
- ``POST /login`` with ``user=N`` (form or query; ``remember=1``)
- ``POST /logout``: ends the session in the registry too (final)
- ``GET /sessions``: this user's sessions, as JSON
- ``POST /sessions/revoke`` with ``id=<session id>``; ``POST /logout-others``
- ``GET /metrics``: ``sesame_detections_total N``
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

try:
    import sesame
except ImportError:  # run from a checkout: the binding's source next door
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import sesame
from sesame.asgi import SessionMiddleware

NO_STORE = {"Cache-Control": "no-store"}


def _whoami(request: Request) -> str:
    session = request.state.sesame_session
    return f"user {session.user_id}\n" if session is not None else "anonymous\n"


async def _form(request: Request) -> dict[str, str]:
    """The query and an urlencoded body, first value of each field (no
    multipart parser needed)."""
    fields = {k: v[0] for k, v in parse_qs(request.url.query).items()}
    body = (await request.body())[:4096].decode("latin-1")
    fields.update({k: v[0] for k, v in parse_qs(body).items()})
    return fields


async def whoami(request: Request) -> Response:
    return PlainTextResponse(_whoami(request), headers=NO_STORE)


async def page(request: Request) -> Response:
    return PlainTextResponse(_whoami(request), headers={"Cache-Control": "public, max-age=60"})


async def login(request: Request) -> Response:
    fields = await _form(request)
    try:
        user = int(fields.get("user", ""))
    except ValueError:
        user = 0
    if user <= 0:
        return PlainTextResponse("bad request\n", status_code=400, headers=NO_STORE)
    await request.state.sesame_auth.login(user, remember_me=fields.get("remember") == "1")
    return PlainTextResponse(f"user {user}\n", headers=NO_STORE)


async def logout(request: Request) -> Response:
    await request.state.sesame_auth.logout()
    return PlainTextResponse("anonymous\n", headers=NO_STORE)


async def sessions(request: Request) -> Response:
    if request.state.sesame_session is None:
        return JSONResponse({"error": "not logged in"}, status_code=401, headers=NO_STORE)
    entries = await request.state.sesame_auth.sessions()
    return JSONResponse(
        [
            {
                "id": e.session_id,
                "current": e.current,
                "kind": e.kind,
                "device": e.device,
                "ip": e.ip,
                "created_at": e.created_at.isoformat(),
                "last_seen_at": e.last_seen_at.isoformat(),
            }
            for e in entries
        ],
        headers=NO_STORE,
    )


async def revoke(request: Request) -> Response:
    if request.state.sesame_session is None:
        return PlainTextResponse("not logged in\n", status_code=401, headers=NO_STORE)
    revoked = await request.state.sesame_auth.revoke((await _form(request)).get("id", ""))
    return PlainTextResponse(f"revoked {str(revoked).lower()}\n", headers=NO_STORE)


async def logout_others(request: Request) -> Response:
    if request.state.sesame_session is None:
        return PlainTextResponse("not logged in\n", status_code=401, headers=NO_STORE)
    ended = await request.state.sesame_auth.logout_others()
    return PlainTextResponse(f"ended {ended}\n", headers=NO_STORE)


def create_app(keyring: sesame.Keyring, **options: Any) -> SessionMiddleware:
    """The app wrapped in sesame's middleware; ``options`` are the
    middleware's (policy=, registry=, clock=, ...)."""
    holder: list[SessionMiddleware] = []

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(f"sesame_detections_total {holder[0].detections}\n", headers=NO_STORE)

    routes: list[Route] = [
        Route("/", whoami),
        Route("/whoami", whoami),
        Route("/page", page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/sessions", sessions),
        Route("/sessions/revoke", revoke, methods=["POST"]),
        Route("/logout-others", logout_others, methods=["POST"]),
        Route("/metrics", metrics),
    ]
    app = SessionMiddleware(Starlette(routes=routes), keyring, **options)
    holder.append(app)
    return app


def from_env() -> Callable[..., Any]:
    """The app as configured by the environment (uvicorn --factory)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    url = os.environ.get("SESAME_REGISTRY", "memory://")
    return create_app(
        sesame.Keyring.from_env(),
        policy=sesame.Policy(refresh_after=int(os.environ.get("SESAME_REFRESH_AFTER", "900"))),
        registry=None if url == "none" else sesame.Registry(url),
        registry_check=os.environ.get("SESAME_REGISTRY_CHECK", "on_refresh"),
    )
