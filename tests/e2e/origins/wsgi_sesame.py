"""sesame's WSGI middleware behind the e2e cache (tests/e2e/run.py --origins all).

Written against the rewritten middleware (cookie rules from the core)::

    sesame.wsgi.SessionMiddleware(app, keyring, policy=...)
    environ["sesame.auth"].login(user_id) / .logout(), environ["sesame.session"]

Needs SESAME_KEYSET (a keyset's text) and SESAME_LIB (libsesame.so);
SESAME_REFRESH_AFTER (default 1 s) makes GETs refresh. SESAME_REGISTRY, if
set, is a session registry URL (e.g. sqlite:///tmp/e2e-sessions.db) and
SESAME_REGISTRY_CHECK its mode (on_refresh, the default, or every_request);
unset (the default), the middleware is stateless as before. Run::

    gunicorn -b 127.0.0.1:PORT -w 1 -k gthread --threads 4 \
        --chdir tests/e2e/origins wsgi_sesame:application
"""

from __future__ import annotations

import logging
import os
import sys
from urllib.parse import parse_qs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bindings", "python", "src"))

import sesame  # noqa: E402
import sesame.wsgi  # noqa: E402

logging.basicConfig(stream=sys.stderr, level=logging.INFO)

REFRESH_AFTER = int(os.environ.get("SESAME_REFRESH_AFTER", "1"))


def _text(start_response, status: str, body: str, cache_control: str):
    data = body.encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", cache_control),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


def _whoami(session) -> str:
    return f"user {session.user_id}\n" if session is not None else "anonymous\n"


def _form_user(environ) -> int | None:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "user" not in query:
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), 1024)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length).decode("latin-1") if length else ""
        query = parse_qs(body)
    try:
        user = int(query.get("user", [""])[0])
    except ValueError:
        return None
    return user if user > 0 else None


def _detections(environ) -> int:
    """The middleware's detection counter if it exposes one; -1 tells the
    harness to count the detection lines in the log instead."""
    counter = environ.get("sesame.detections")
    if callable(counter):
        counter = counter()
    return counter if isinstance(counter, int) else -1


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    auth = environ["sesame.auth"]
    if method == "POST" and path == "/login":
        user = _form_user(environ)
        if user is None:
            return _text(start_response, "400 Bad Request", "bad request\n", "no-store")
        auth.login(user)
        return _text(start_response, "200 OK", f"user {user}\n", "no-store")
    if method == "POST" and path == "/logout":
        auth.logout()
        return _text(start_response, "200 OK", "anonymous\n", "no-store")
    if method == "GET" and path == "/page":
        return _text(start_response, "200 OK", _whoami(environ["sesame.session"]), "public, max-age=60")
    if method == "GET" and path == "/whoami":
        return _text(start_response, "200 OK", _whoami(environ["sesame.session"]), "no-store")
    if method == "GET" and path == "/metrics":
        return _text(start_response, "200 OK", f"sesame_detections_total {_detections(environ)}\n", "no-store")
    return _text(start_response, "404 Not Found", "not found\n", "no-store")


REGISTRY_URL = os.environ.get("SESAME_REGISTRY")

application = sesame.wsgi.SessionMiddleware(
    app,
    sesame.Keyring.from_env(),
    policy=sesame.Policy(refresh_after=REFRESH_AFTER),
    registry=sesame.Registry(REGISTRY_URL) if REGISTRY_URL else None,
    registry_check=os.environ.get("SESAME_REGISTRY_CHECK", "on_refresh"),
)
