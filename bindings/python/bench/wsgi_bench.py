"""What the session middleware adds to a WSGI request, in one process.

Three stacks serve the same GET with a valid session that is not due for a
refresh (the common request):

- bare: the app alone (``start_response`` and a one-chunk body);
- itsdangerous: a minimal signed-cookie session middleware, as Flask's
  session cookie (``URLSafeTimedSerializer``, HMAC-SHA1, JSON payload,
  ``loads(max_age=...)``; a ``session`` cookie parsed from the header;
  ``environ["session"]``; sets no cookie when nothing changed);
- sesame: ``sesame.wsgi.SessionMiddleware`` with the default policy (one
  ``sesame_request_begin``: parse, open and check the token bound to the
  device; the app; one ``sesame_request_finish``: no header lines).

Each request is driven as a server would: a fresh copy of a prepared
environ, the middleware's call, the body iterated, ``close()`` if present.
Timing: ``--rounds`` (5) rounds of ``--requests`` (20,000) requests, the
stacks interleaved within each round, garbage collection off while timing
(as ``timeit``); the best round per stack, and the µs each middleware adds
over the bare app, by the wall clock and by the thread's CPU time (the
latter is the steadier on a machine that other work keeps busy).

    python bench/wsgi_bench.py [--rounds 5] [--requests 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from typing import Any, Callable, Iterable
from wsgiref.util import setup_testing_defaults

import sesame
from sesame.wsgi import SessionMiddleware

KEY = bytes(range(1, 33))
GOAL_US = 5.0

Environ = dict[str, Any]
App = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


def bare_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            name = name.strip()
            if name and name not in cookies:
                cookies[name] = value.strip()
    return cookies


class SignedCookieSessions:
    """A minimal Flask-style signed-cookie session middleware (itsdangerous)."""

    def __init__(self, app: App, secret: bytes, max_age: int = 14 * 24 * 3600) -> None:
        from itsdangerous import BadSignature, URLSafeTimedSerializer

        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="cookie-session")
        self.bad = BadSignature
        self.max_age = max_age

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        session = None
        header = environ.get("HTTP_COOKIE")
        if header:
            token = _parse_cookies(header).get("session")
            if token:
                try:
                    session = self.serializer.loads(token, max_age=self.max_age)
                except self.bad:
                    session = None
        environ["session"] = session
        return self.app(environ, start_response)

    def cookie_for(self, payload: dict[str, Any]) -> str:
        return "session=" + self.serializer.dumps(payload)


def environ_for(cookie: str | None) -> Environ:
    environ: Environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/account"}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    setup_testing_defaults(environ)
    return environ


def sesame_cookie(app: SessionMiddleware) -> str:
    """A browser's Cookie header after a login by POST."""
    jar: dict[str, str] = {}

    def login(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["sesame.auth"].login(123456)
        start_response("200 OK", [])
        return [b""]

    sesame_app = SessionMiddleware(login, app.keyring, rules=app.rules)
    environ = environ_for(None)
    environ["REQUEST_METHOD"] = "POST"
    headers: list[tuple[str, str]] = []
    list(sesame_app(environ, lambda status, h, exc_info=None: headers.extend(h)))
    for name, value in headers:
        if name == "Set-Cookie":
            key, _, rest = value.partition("=")
            jar[key] = rest.split(";")[0]
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def run(app: App, base: Environ, requests: int) -> tuple[float, float]:
    """Seconds for ``requests`` requests, as a server drives them: wall
    clock, and this thread's CPU time (which leaves out the time the thread
    was not running, e.g. on a machine that other work keeps busy)."""

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        return _write

    copy = base.copy
    cpu = time.thread_time()
    start = time.perf_counter()
    for _ in range(requests):
        result = app(copy(), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - start, time.thread_time() - cpu


def _write(data: bytes) -> None:
    pass


def check(app: App, base: Environ, key: str, expect: Any) -> None:
    environ = base.copy()
    headers: list[tuple[str, str]] = []
    body = b"".join(app(environ, lambda status, h, exc_info=None: headers.extend(h)))
    assert body == b"ok", body
    assert not any(name == "Set-Cookie" for name, _ in headers), headers
    got = environ.get(key)
    assert (got if key != "sesame.session" else got and got.user_id) == expect, (key, got)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    ring = sesame.Keyring()
    ring.add_key(1, KEY)
    sesame_app = SessionMiddleware(bare_app, ring)
    signed = SignedCookieSessions(bare_app, KEY)
    stacks: dict[str, tuple[App, Environ]] = {
        "bare app": (bare_app, environ_for(None)),
        "itsdangerous signed cookie": (signed, environ_for(signed.cookie_for({"user_id": 123456}))),
        "sesame SessionMiddleware": (sesame_app, environ_for(sesame_cookie(sesame_app))),
    }
    check(signed, stacks["itsdangerous signed cookie"][1], "session", {"user_id": 123456})
    check(sesame_app, stacks["sesame SessionMiddleware"][1], "sesame.session", 123456)

    for app, base in stacks.values():  # warm up
        run(app, base, 2_000)
    wall = {name: float("inf") for name in stacks}
    cpu = dict(wall)
    gc.disable()
    try:
        for _ in range(args.rounds):
            for name, (app, base) in stacks.items():
                seconds, cpu_seconds = run(app, base, args.requests)
                wall[name] = min(wall[name], seconds)
                cpu[name] = min(cpu[name], cpu_seconds)
    finally:
        gc.enable()

    per = {name: seconds / args.requests * 1e6 for name, seconds in wall.items()}
    per_cpu = {name: seconds / args.requests * 1e6 for name, seconds in cpu.items()}
    bare, bare_cpu = per["bare app"], per_cpu["bare app"]
    print(
        f"WSGI, GET with a valid session (no refresh), best of {args.rounds} x {args.requests:,} requests; "
        f"Python {platform.python_version()}, {platform.machine()}, libsesame {sesame.LIBRARY_VERSION}"
    )
    print()
    print("| stack | µs / request (wall) | added (wall) | µs / request (CPU) | added (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name in per:
        added = "—" if name == "bare app" else f"{per[name] - bare:.2f}"
        added_cpu = "—" if name == "bare app" else f"{per_cpu[name] - bare_cpu:.2f}"
        print(f"| {name} | {per[name]:.2f} | {added} | {per_cpu[name]:.2f} | {added_cpu} |")
    added = per["sesame SessionMiddleware"] - bare
    verdict = "meets" if added <= GOAL_US else "misses"
    print()
    print(f"sesame adds {added:.2f} µs per request (wall): {verdict} the goal of ≤ {GOAL_US:g} µs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            result = {"wall_us": per, "cpu_us": per_cpu, "added_wall_us": {k: v - bare for k, v in per.items()}}
            json.dump(result, out, indent=2)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
