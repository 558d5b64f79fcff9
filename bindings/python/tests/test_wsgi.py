"""The WSGI middleware with a real WSGI app: in-process through wsgiref's
testing environ, and over HTTP through wsgiref's server on 127.0.0.1."""

from __future__ import annotations

import http.client
import logging
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import pytest

import sesame
from sesame import Keyring, Policy
from sesame.wsgi import SessionMiddleware, device_context, parse_cookies

from .conftest import K1, K2, NOW

DAY = 86400


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds


def make_app(cutoffs: dict[int, int]) -> Callable[..., Iterable[bytes]]:
    """A small app: /login?user=N[&remember=1], /logout, /logout-everywhere,
    anything else shows who is logged in. It sets a public Cache-Control on
    every response, which the middleware must override whenever it sets or
    clears the session cookie."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handle = environ["sesame"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        path = environ["PATH_INFO"]
        if path == "/login":
            handle.login(int(query["user"][0]), data=b"app-data", remember_me="remember" in query)
        elif path == "/logout":
            handle.logout()
        elif path == "/logout-everywhere":
            user = handle.user_id
            assert user is not None
            cutoffs[user] = handle.now  # the app's store
            handle.login(user)  # this browser stays logged in, afresh
        elif path == "/boom":
            raise RuntimeError("app error")
        session = environ["sesame.session"]
        assert session is handle.session
        body = f"user={session.user_id if session else 'anonymous'}".encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Cache-Control", "public, max-age=600"),
                ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("CDN-Cache-Control", "max-age=600"),
                ("Surrogate-Control", "max-age=600"),
                ("Vary", "Accept-Encoding"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return app


@dataclass
class Response:
    status: str
    headers: list[tuple[str, str]]
    body: str

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def one(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    def set_cookie(self, name: str) -> str | None:
        for value in self.all("Set-Cookie"):
            if value.startswith(name + "="):
                return value
        return None


def check_cache_headers(response: Response, cookie_name: str = "session") -> None:
    """The rule of the incident: any response that sets or clears the session
    cookie is private and not storable, whatever the app said."""
    if response.set_cookie(cookie_name) is None and response.set_cookie("sesame_device") is None:
        return
    assert response.all("Cache-Control") == ["private, no-store"], response.headers
    assert response.all("Expires") == []
    assert response.all("CDN-Cache-Control") == [] and response.all("Surrogate-Control") == []
    vary = ",".join(response.all("Vary")).lower()
    assert "cookie" in [part.strip() for part in vary.split(",")], response.headers


@dataclass
class Browser:
    """A cookie jar and a WSGI caller (in-process)."""

    app: Callable[..., Iterable[bytes]]
    cookies: dict[str, str] = field(default_factory=dict)
    log: list[Response] = field(default_factory=list)

    def get(self, path: str) -> Response:
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        setup_testing_defaults(environ)
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, start_response))
        response = Response(captured["status"], captured["headers"], body.decode())
        check_cache_headers(response)
        self.store(response)
        self.log.append(response)
        return response

    def store(self, response: Response) -> None:
        for value in response.all("Set-Cookie"):
            pair, *attributes = [part.strip() for part in value.split(";")]
            name, _, cookie = pair.partition("=")
            if "Max-Age=0" in attributes or not cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cutoffs() -> dict[int, int]:
    return {}


@pytest.fixture
def app(ring: Keyring, clock: Clock, cutoffs: dict[int, int]) -> SessionMiddleware:
    return SessionMiddleware(make_app(cutoffs), ring, clock=clock, revoked_before=cutoffs.get)


def test_anonymous_requests_are_left_alone(app: SessionMiddleware) -> None:
    browser = Browser(app)
    response = browser.get("/")
    assert response.body == "user=anonymous"
    assert response.all("Set-Cookie") == []
    assert response.one("Cache-Control") == "public, max-age=600"  # untouched
    assert response.one("Vary") == "Accept-Encoding"


def test_login_request_logout(app: SessionMiddleware, clock: Clock) -> None:
    browser = Browser(app)
    response = browser.get("/login?user=42")
    assert response.body == "user=42"
    cookie = response.set_cookie("session")
    assert cookie is not None
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    assert attributes == ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"]  # no Max-Age: a browser-session cookie
    device = response.set_cookie("sesame_device")
    assert device is not None and "Max-Age=34560000" in device and "HttpOnly" in device
    assert response.one("Vary") == "Accept-Encoding, Cookie"
    assert len(browser.cookies["sesame_device"]) == 43

    clock.advance(60)
    response = browser.get("/")
    assert response.body == "user=42"
    assert response.all("Set-Cookie") == []  # not due for a refresh
    assert response.one("Cache-Control") == "public, max-age=600"
    assert response.one("Vary") == "Accept-Encoding, Cookie"  # the request carried a session

    response = browser.get("/logout")
    assert response.body == "user=anonymous"
    cleared = response.set_cookie("session")
    assert cleared is not None and cleared.startswith("session=;") and "Max-Age=0" in cleared
    assert "session" not in browser.cookies
    assert browser.get("/").body == "user=anonymous"


def test_session_data_reaches_the_app(app: SessionMiddleware, ring: Keyring) -> None:
    browser = Browser(app)
    browser.get("/login?user=7")
    context = device_context(browser.cookies["sesame_device"])
    session = ring.open(browser.cookies["session"], context=context, now=NOW)
    assert session.data == b"app-data" and session.user_id == 7 and session.lifetime is None


def test_refresh_when_due(app: SessionMiddleware, clock: Clock, ring: Keyring) -> None:
    browser = Browser(app)
    browser.get("/login?user=42")
    first = browser.cookies["session"]
    clock.advance(899)
    assert browser.get("/").all("Set-Cookie") == []
    clock.advance(1)  # 900 s: due
    response = browser.get("/")
    assert response.body == "user=42"
    assert response.set_cookie("session") is not None
    assert response.all("Cache-Control") == ["private, no-store"]
    second = browser.cookies["session"]
    assert second != first
    context = device_context(browser.cookies["sesame_device"])
    old = ring.open(first, context=context, now=clock.now)
    new = ring.open(second, context=context, now=clock.now)
    assert new.session_id == old.session_id and new.issued_at == old.issued_at
    assert new.refreshed_at_unix == clock.now


def test_idle_expiry(app: SessionMiddleware, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    browser = Browser(app)
    browser.get("/login?user=42")
    clock.advance(DAY - 1)
    assert browser.get("/").body == "user=42"  # refreshed: the idle clock starts again
    clock.advance(DAY - 1)
    assert browser.get("/").body == "user=42"
    clock.advance(DAY)
    with caplog.at_level(logging.INFO, logger="sesame.wsgi"):
        response = browser.get("/")
    assert response.body == "user=anonymous"
    assert response.set_cookie("session") is not None and "session" not in browser.cookies
    assert "SESAME_IDLE_EXPIRED" in caplog.text
    assert browser.cookies.get("sesame_device")  # the device cookie stays


def test_absolute_expiry(app: SessionMiddleware, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    browser = Browser(app)
    browser.get("/login?user=42")
    for _ in range(27):  # active every 12 hours: refreshed each time
        clock.advance(DAY // 2)
        assert browser.get("/").body == "user=42"
    clock.advance(DAY // 2)  # 14 days since login
    with caplog.at_level(logging.INFO, logger="sesame.wsgi"):
        response = browser.get("/")
    assert response.body == "user=anonymous"
    assert "SESAME_LIFETIME_EXPIRED" in caplog.text
    assert "session" not in browser.cookies


def test_remember_me(app: SessionMiddleware, clock: Clock) -> None:
    browser = Browser(app)
    response = browser.get("/login?user=5&remember=1")
    cookie = response.set_cookie("session")
    assert cookie is not None and f"Max-Age={14 * DAY}" in cookie  # the policy's absolute lifetime
    clock.advance(DAY // 2)
    response = browser.get("/")
    cookie = response.set_cookie("session")
    assert cookie is not None and f"Max-Age={14 * DAY - DAY // 2}" in cookie  # what is left


def test_tampered_and_junk_cookies(app: SessionMiddleware, caplog: pytest.LogCaptureFixture) -> None:
    browser = Browser(app)
    browser.get("/login?user=42")
    token = browser.cookies["session"]
    middle = len(token) // 2
    junk = [
        token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :],
        "garbage",
        "%%%",
        '"quoted"',
        "A" * 5000,
        "é" * 100,
        token + token,
    ]
    for value in junk:
        browser.cookies["session"] = value
        with caplog.at_level(logging.INFO, logger="sesame.wsgi"):
            response = browser.get("/")
        assert response.status == "200 OK" and response.body == "user=anonymous"
        assert response.set_cookie("session") is not None  # cleared
        assert token not in caplog.text  # never log a token
    assert "SESAME_AUTH_FAILED" in caplog.text and "SESAME_MALFORMED" in caplog.text
    assert "SESAME_TOO_LONG" in caplog.text
    # a mangled Cookie header as a whole
    browser.cookies = {"sesame_device": "x;;;=;", "session": "=;="}
    assert browser.get("/").status == "200 OK"


def test_device_binding(app: SessionMiddleware, caplog: pytest.LogCaptureFixture) -> None:
    alice, bob = Browser(app), Browser(app)
    alice.get("/login?user=1")
    bob.get("/login?user=2")
    assert alice.cookies["sesame_device"] != bob.cookies["sesame_device"]
    # Alice's session cookie in Bob's browser (swapped, or stolen): rejected.
    bob.cookies["session"] = alice.cookies["session"]
    with caplog.at_level(logging.INFO, logger="sesame.wsgi"):
        response = bob.get("/")
    assert response.body == "user=anonymous" and "SESAME_AUTH_FAILED" in caplog.text
    # ... and in a browser without any device cookie.
    thief = Browser(app, cookies={"session": alice.cookies["session"]})
    assert thief.get("/").body == "user=anonymous"
    # Alice is unaffected.
    assert alice.get("/").body == "user=1"


def test_login_keeps_an_existing_device_id(app: SessionMiddleware) -> None:
    browser = Browser(app)
    browser.get("/login?user=1")
    device = browser.cookies["sesame_device"]
    browser.get("/logout")
    response = browser.get("/login?user=2")
    assert browser.cookies["sesame_device"] == device
    assert response.set_cookie("sesame_device") is not None  # re-sent: its Max-Age starts again
    assert browser.get("/").body == "user=2"


def test_logout_everywhere(app: SessionMiddleware, clock: Clock, cutoffs: dict[int, int]) -> None:
    laptop, phone, other_user = Browser(app), Browser(app), Browser(app)
    laptop.get("/login?user=9")
    phone.get("/login?user=9")
    other_user.get("/login?user=10")
    clock.advance(30)
    response = phone.get("/logout-everywhere")
    assert response.body == "user=9" and cutoffs == {9: clock.now}
    assert phone.get("/").body == "user=9"  # logged in afresh at the cut-off: kept
    assert laptop.get("/").body == "user=anonymous"  # issued before the cut-off: revoked
    assert "session" not in laptop.cookies
    assert other_user.get("/").body == "user=10"
    # the callback may return a datetime as well
    cutoffs[10] = datetime.fromtimestamp(clock.now + 1, timezone.utc)  # type: ignore[assignment]
    assert other_user.get("/").body == "user=anonymous"


def test_key_rotation_through_the_middleware(app: SessionMiddleware, ring: Keyring, clock: Clock) -> None:
    browser = Browser(app)
    browser.get("/login?user=3")
    ring.add_key(2, K2)
    ring.promote(2)
    clock.advance(1000)
    response = browser.get("/")  # due: refreshed under key 2
    assert response.body == "user=3" and response.set_cookie("session") is not None
    ring.retire(1)
    assert browser.get("/").body == "user=3"
    ring.add_key(1, K1)
    ring.promote(1)
    ring.retire(2)
    assert browser.get("/").body == "user=anonymous"  # its key is gone


def test_login_after_start_response_is_refused(ring: Keyring) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        with pytest.raises(RuntimeError):
            environ["sesame"].login(1)
        with pytest.raises(RuntimeError):
            environ["sesame"].logout()
        return [b"ok"]

    assert Browser(SessionMiddleware(app, ring)).get("/").body == "ok"


def test_app_errors_propagate(app: SessionMiddleware, ring: Keyring, clock: Clock) -> None:
    with pytest.raises(RuntimeError, match="app error"):
        Browser(app).get("/boom")

    def broken_store(user_id: int) -> int:
        raise LookupError("the store is down")

    browser = Browser(app)
    browser.get("/login?user=1")
    strict = SessionMiddleware(make_app({}), ring, clock=clock, revoked_before=broken_store)
    browser.app = strict
    with pytest.raises(LookupError):  # the app's failure, not the cookie's: nobody is logged in by it
        browser.get("/")


def test_without_device_binding(ring: Keyring, clock: Clock, cutoffs: dict[int, int]) -> None:
    app = SessionMiddleware(
        make_app(cutoffs), ring, clock=clock, bind_to_device=False, cookie_name="sid", secure=False
    )
    browser = Browser(app)
    response = browser.get("/login?user=8")
    cookie = response.set_cookie("sid")
    assert cookie is not None and "Secure" not in cookie and response.set_cookie("sesame_device") is None
    assert response.all("Cache-Control") == ["private, no-store"]
    assert ring.open(browser.cookies["sid"], now=NOW).user_id == 8  # not bound
    assert browser.get("/").body == "user=8"


def test_middleware_options_are_checked(ring: Keyring) -> None:
    with pytest.raises(ValueError):
        SessionMiddleware(make_app({}), ring, cookie_name="bad name")
    with pytest.raises(ValueError):
        SessionMiddleware(make_app({}), ring, same_site="None", secure=False)
    custom = SessionMiddleware(make_app({}), ring, policy=Policy(absolute_lifetime=None), remember_me_lifetime=None)
    assert custom.remember_me_lifetime == 30 * DAY


def test_parse_cookies() -> None:
    assert parse_cookies("a=1; b=2;c=3") == {"a": "1", "b": "2", "c": "3"}
    assert parse_cookies('a="x"; a=2; junk; =; b') == {"a": "x"}
    assert parse_cookies("") == {}


def test_two_users_many_threads_in_process(ring: Keyring, clock: Clock, cutoffs: dict[int, int]) -> None:
    """Two users hammer the same path from several threads each; with a
    refresh on every request every response carries a Set-Cookie, which must
    always be the requester's own (and never cacheable)."""
    app = SessionMiddleware(make_app(cutoffs), ring, clock=clock, policy=Policy(refresh_after=0))
    errors: list[BaseException] = []

    def user(user_id: int) -> None:
        try:
            browser = Browser(app)
            browser.get(f"/login?user={user_id}")
            for _ in range(150):
                response = browser.get("/dashboard")
                assert response.body == f"user={user_id}", response.body
                assert response.set_cookie("session") is not None
                context = device_context(browser.cookies["sesame_device"])
                assert ring.open(browser.cookies["session"], context=context, now=clock.now).user_id == user_id
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=user, args=(1 + i % 2,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_two_users_hammering_over_http(ring: Keyring, cutoffs: dict[int, int]) -> None:
    """The incident's reproduction, against a real threaded HTTP server on
    127.0.0.1: two users, several threads each, the same URL; every response
    must name its own user, and every Set-Cookie must be the requester's own
    session and marked private, no-store."""
    app = SessionMiddleware(make_app(cutoffs), ring, policy=Policy(refresh_after=0), secure=False)
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    errors: list[BaseException] = []

    def request(connection: http.client.HTTPConnection, path: str, cookies: dict[str, str]) -> Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        connection.request("GET", path, headers=headers)
        raw = connection.getresponse()
        body = raw.read().decode()
        response = Response(f"{raw.status} {raw.reason}", raw.getheaders(), body)
        check_cache_headers(response)
        return response

    def user(user_id: int) -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            jar = Browser(app)  # only for its cookie handling
            jar.store(request(connection, f"/login?user={user_id}", {}))
            for _ in range(60):
                response = request(connection, "/account", jar.cookies)
                assert response.body == f"user={user_id}", response.body
                assert response.set_cookie("session") is not None
                jar.store(response)
                context = device_context(jar.cookies["sesame_device"])
                assert ring.open(jar.cookies["session"], context=context).user_id == user_id
            connection.close()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    try:
        threads = [threading.Thread(target=user, args=(100 + i % 2,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
