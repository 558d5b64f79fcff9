"""The WSGI middleware on the core's cookie rules (docs/COOKIES.md), with a
real WSGI app: in-process through wsgiref's testing environ, and over HTTP
through wsgiref's server on 127.0.0.1."""

from __future__ import annotations

import http.client
import logging
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import pytest

import sesame
from sesame import CookieRules, Keyring, Policy
from sesame import _flow
from sesame import wsgi as sesame_wsgi
from sesame.wsgi import SessionMiddleware

from .conftest import K2, NOW

DEVICE = "__Host-sesame-device"
PREFIX = "__Host-sesame-s-"
CACHE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "Pragma": "no-cache",
    "Surrogate-Control": "no-store",
    "CDN-Cache-Control": "no-store",
    "Cloudflare-CDN-Cache-Control": "no-store",
    "X-Accel-Expires": "0",
}


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds


def make_app(cutoffs: dict[int, int]) -> Callable[..., Iterable[bytes]]:
    """A small app: /login?user=N[&remember=1], /logout, /logout-everywhere,
    /reject; anything else shows who is logged in. Every response says
    public and cacheable, which the middleware must override whenever it
    sets or deletes a cookie."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        auth = environ["sesame.auth"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        path = environ["PATH_INFO"]
        if path == "/login":
            auth.login(int(query["user"][0]), data=b"app-data", remember_me="remember" in query)
        elif path == "/logout":
            auth.logout()
        elif path == "/logout-everywhere":
            auth.logout_everywhere(stay_logged_in="stay" in query)
        elif path == "/reject":
            auth.reject()
        elif path == "/boom":
            raise RuntimeError("app error")
        session = environ["sesame.session"]
        assert session is auth.session
        body = f"user={session.user_id if session else 'anonymous'}".encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Cache-Control", "public, max-age=600"),
                ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("CDN-Cache-Control", "max-age=600"),
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

    def set_cookies(self) -> dict[str, str]:
        """name -> the rest of its Set-Cookie line."""
        out = {}
        for value in self.all("Set-Cookie"):
            name, _, rest = value.partition("=")
            assert name not in out, value
            out[name] = rest
        return out

    def sessions(self) -> dict[str, str]:
        return {k: v for k, v in self.set_cookies().items() if k.startswith(PREFIX)}

    def deleted(self) -> list[str]:
        return [k for k, v in self.set_cookies().items() if v.startswith(";") and "Max-Age=0" in v]


def check_cache_headers(response: Response, method: str, had_device: bool = True) -> None:
    """The rules' response invariants: a response that touches a cookie
    carries every cache header (the app's replaced, Vary appended); a GET
    response never deletes a cookie and sets the device cookie only for a
    login from a browser without one (the GET login caveat)."""
    cookies = response.set_cookies()
    if not cookies:
        return
    for name, value in CACHE_HEADERS.items():
        assert response.all(name) == [value], (name, response.headers)
    (vary,) = response.all("Vary")
    assert vary in ("Cookie", "Accept-Encoding, Cookie"), vary
    for value in response.all("Set-Cookie"):
        assert value.endswith("; Path=/; Secure; HttpOnly; SameSite=Lax"), value
    if method in ("GET", "HEAD"):
        assert response.deleted() == [], response.headers
        assert DEVICE not in cookies or (not had_device and response.sessions()), response.headers


@dataclass
class Browser:
    """A cookie jar (Max-Age=0 deletes) and an in-process WSGI caller."""

    app: Callable[..., Iterable[bytes]]
    cookies: dict[str, str] = field(default_factory=dict)

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str) -> Response:
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": method}
        if self.cookies:
            environ["HTTP_COOKIE"] = self.header()
        setup_testing_defaults(environ)
        response = call(self.app, environ)
        check_cache_headers(response, method, DEVICE in self.cookies)
        self.store(response)
        return response

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str) -> Response:
        return self.request("POST", path)

    def store(self, response: Response) -> None:
        for value in response.all("Set-Cookie"):
            pair, *attributes = [part.strip() for part in value.split(";")]
            name, _, cookie = pair.partition("=")
            if "Max-Age=0" in attributes or not cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie

    def session_cookies(self) -> dict[str, str]:
        return {k: v for k, v in self.cookies.items() if k.startswith(PREFIX)}


def call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Response:
    captured: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and captured.get("sent"):
            raise exc_info[1].with_traceback(exc_info[2])
        if exc_info is None and "status" in captured:
            raise AssertionError("Headers already set!")  # as wsgiref's
        captured["status"], captured["headers"] = status, list(headers)
        return written.append

    result = app(environ, start_response)
    try:
        chunks = []
        for chunk in result:
            if chunk:
                assert "headers" in captured, "a body chunk before the headers"
                captured["sent"] = True
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Response(captured["status"], captured["headers"], (b"".join(written) + b"".join(chunks)).decode())


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    _flow._warned.clear()
    yield
    _flow._warned.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cutoffs() -> dict[int, int]:
    return {}


@pytest.fixture
def detections() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def app(ring: Keyring, clock: Clock, cutoffs: dict[int, int], detections: list[tuple[str, int]]) -> SessionMiddleware:
    return SessionMiddleware(
        make_app(cutoffs),
        ring,
        policy=Policy(refresh_after=600),
        clock=clock,
        revoked_before=cutoffs.get,
        set_revoked_before=cutoffs.__setitem__,
        on_detection=lambda environ, count: detections.append((environ["PATH_INFO"], count)),
    )


def logged_in(app: SessionMiddleware, user: int) -> Browser:
    browser = Browser(app)
    browser.post(f"/login?user={user}")
    return browser


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sesame" and r.levelno == logging.WARNING]


def test_anonymous_get_is_left_alone(app: SessionMiddleware) -> None:
    browser = Browser(app)
    response = browser.get("/")
    assert response.body == "user=anonymous" and response.set_cookies() == {}
    assert response.all("Vary") == ["Accept-Encoding"] and response.all("Expires") == ["Thu, 01 Jan 2099 00:00:00 GMT"]
    assert response.all("Cache-Control") == ["public, max-age=600"]


def test_login_by_post_sets_device_session_and_cache_headers(app: SessionMiddleware) -> None:
    browser = Browser(app)
    response = browser.post("/login?user=7")
    assert response.body == "user=7"
    cookies = response.set_cookies()
    assert list(cookies)[0] == DEVICE and len(cookies) == 2, cookies
    assert "Max-Age=34560000;" in cookies[DEVICE]
    ((name, value),) = response.sessions().items()
    assert len(name) == len(PREFIX) + 11 and "Max-Age=86400;" in value
    # The app's cache headers are gone, every other header is kept.
    assert response.all("Content-Type") == ["text/plain"] and response.all("Content-Length") == ["6"]
    assert response.all("CDN-Cache-Control") == ["no-store"] and response.all("Vary") == ["Accept-Encoding, Cookie"]
    # The session opens on later requests, which then set nothing.
    again = browser.get("/")
    assert again.body == "user=7" and again.set_cookies() == {}


def test_session_data_and_lifetimes_reach_the_app(ring: Keyring, clock: Clock) -> None:
    seen: list[sesame.Session] = []

    def view(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        auth = environ["sesame.auth"]
        if environ["PATH_INFO"] == "/login":
            returned = auth.login(5, data=bytearray(b"role=admin"), remember_me=True)
            assert returned is environ["sesame.session"] and auth.user_id == 5
        seen.append(environ["sesame.session"])
        start_response("200 OK", [])
        return [b""]

    app = SessionMiddleware(view, ring, clock=clock, remember_me_lifetime=3600, login_lifetime=60)
    browser = Browser(app)
    response = browser.post("/login")
    assert "Max-Age=3600;" in next(iter(response.sessions().values()))
    browser.get("/")
    login, later = seen
    assert later is not None and login is not None
    assert (later.user_id, later.data, later.lifetime) == (5, b"role=admin", 3600)
    assert later.session_id == login.session_id and later.issued_at_unix == NOW
    assert later.remember_me and later.kind == "remember_me"


def test_remember_me_outlives_the_browser_idle_timeout(ring: Keyring, clock: Clock) -> None:
    secrets: list[bytes | None] = []

    def view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        auth = environ["sesame.auth"]
        secrets.append(auth.csrf_secret)
        if environ["PATH_INFO"] == "/login":
            auth.login(8, remember_me="remember" in environ["QUERY_STRING"])
        user = auth.user_id
        start_response("200 OK", [])
        return [f"user={user}".encode()]

    app = SessionMiddleware(view, ring, clock=clock)
    remembered, plain = Browser(app), Browser(app)
    response = remembered.post("/login?remember=1")
    assert "Max-Age=2592000;" in next(iter(response.sessions().values()))
    plain.post("/login")
    clock.advance(3 * 86_400)  # past the browser idle timeout (24 h)
    assert remembered.get("/").body == "user=8"
    assert plain.get("/").body == "user=None"
    # The CSRF secret is the device's: none before the first POST, then
    # stable for the device and different per browser.
    assert secrets[0] is None and secrets[1] is None
    assert len(secrets[-2] or b"") == 32 and secrets[-2] != secrets[-1]


def test_csrf_tokens_come_from_the_device(ring: Keyring, clock: Clock) -> None:
    def view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        auth = environ["sesame.auth"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        path = environ["PATH_INFO"]
        if path == "/form":
            body = auth.csrf_token or ""
        elif path == "/submit":
            body = "accepted" if auth.csrf_allows(query.get("csrf", [None])[0]) else "refused"
        else:  # /login_and_form: a page rendered in the login's own response
            auth.login(3)
            body = auth.csrf_token or ""
        start_response("200 OK", [])
        return [body.encode()]

    app = SessionMiddleware(view, ring, clock=clock)
    a, b = Browser(app), Browser(app)
    assert a.get("/form").body == "", "no device yet: no token"
    assert a.post("/submit").body == "accepted", "a first visit without browser headers passes the origin rule"
    token = a.get("/form").body
    assert len(token) == 86 and a.get("/form").body != token
    assert a.post(f"/submit?csrf={token}").body == "accepted"
    assert a.post("/submit").body == "refused", "a device's POST needs its token"
    b.post("/submit")
    assert b.post(f"/submit?csrf={token}").body == "refused", "another browser's token"
    after_login = a.post("/login_and_form").body
    assert a.post(f"/submit?csrf={after_login}").body == "accepted"
    assert a.post(f"/submit?csrf={token}").body == "refused", "the old device's token"


def test_csrf_origin_rule() -> None:
    assert sesame.csrf_origin_allowed("GET", "cross-site")
    assert sesame.csrf_origin_allowed("POST", "same-origin")
    assert not sesame.csrf_origin_allowed("POST", "cross-site", "https://a.test", "a.test")
    assert sesame.csrf_origin_allowed("POST", None, "https://a.test", "a.test")
    assert not sesame.csrf_origin_allowed("POST", None, "https://evil.test", "a.test")
    assert sesame.csrf_origin_allowed("POST")


def test_refresh_on_get_sets_only_the_session_cookie(app: SessionMiddleware, clock: Clock, ring: Keyring) -> None:
    browser = logged_in(app, 7)
    (name, token), = browser.session_cookies().items()
    clock.advance(601)
    response = browser.get("/")
    assert response.body == "user=7"
    cookies = response.set_cookies()
    assert list(cookies) == [name], cookies  # no device cookie, no deletion
    assert response.deleted() == [] and not cookies[name].startswith(";")
    assert browser.session_cookies()[name] != token
    # Not due again right away.
    assert browser.get("/").set_cookies() == {}


def test_a_replayed_refresh_changes_nobody_and_is_detected(
    app: SessionMiddleware, clock: Clock, detections: list[tuple[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sesame")
    alice, bob = logged_in(app, 1), logged_in(app, 2)
    clock.advance(601)
    refresh = alice.get("/")
    assert refresh.sessions()
    # A shared cache hands Alice's response, Set-Cookie and all, to Bob.
    bob.store(refresh)
    assert len(bob.session_cookies()) == 2
    assert bob.get("/").body == "user=2"
    assert detections == [("/", 1)] and app.rules.detections == 1 == app.detections
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned
    for token in alice.session_cookies().values():
        assert token not in caplog.text
    assert all(token not in caplog.text for token in bob.cookies.values())
    # Counted every time, logged at most once a minute.
    assert bob.get("/again").body == "user=2"
    assert detections == [("/", 1), ("/again", 1)] and app.rules.detections == 2
    assert len(warnings_of(caplog)) == 1
    # Bob's next POST deletes the foreign cookie; Bob stays Bob.
    (alices_name,) = alice.session_cookies()
    post = bob.post("/")
    assert post.body == "user=2" and post.deleted() == [alices_name]
    assert alices_name not in bob.cookies and len(bob.session_cookies()) == 1
    assert bob.get("/").body == "user=2" and alice.get("/").body == "user=1"


def test_on_detection_errors_never_reach_the_app(ring: Keyring, caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], count: int) -> None:
        raise ValueError("callback bug")

    app = SessionMiddleware(make_app({}), ring, on_detection=broken)
    browser = logged_in(app, 3)
    browser.cookies[PREFIX + "AAAAAAAAAAA"] = "junk"
    assert browser.get("/").body == "user=3"
    assert "on_detection raised" in caplog.text


def test_logout_by_post_rotates_the_device_and_ends_the_session(app: SessionMiddleware) -> None:
    browser = logged_in(app, 7)
    device = browser.cookies[DEVICE]
    (name,) = browser.session_cookies()
    response = browser.post("/logout")
    assert response.body == "user=anonymous"
    assert response.deleted() == [name]
    assert browser.cookies[DEVICE] != device and browser.session_cookies() == {}
    assert browser.get("/").body == "user=anonymous"
    # A cached copy of the old session cookie is foreign from now on.
    old = logged_in(app, 7)
    old.post("/logout")
    assert old.get("/").body == "user=anonymous"


def test_logout_by_get_sets_nothing_and_warns_once(app: SessionMiddleware, caplog: pytest.LogCaptureFixture) -> None:
    browser = logged_in(app, 7)
    for _ in range(2):
        response = browser.get("/logout")
        assert response.body == "user=anonymous" and response.set_cookies() == {}
    (warning,) = warnings_of(caplog)
    assert "logout() on a GET" in warning
    assert browser.get("/").body == "user=7"  # the cookie could not be deleted


def test_login_by_get_without_a_device_warns_once(app: SessionMiddleware, caplog: pytest.LogCaptureFixture) -> None:
    response = Browser(app).get("/login?user=9")
    assert DEVICE in response.set_cookies() and response.sessions()
    Browser(app).get("/login?user=9")
    (warning,) = warnings_of(caplog)
    assert "login on a GET" in warning
    # With a device cookie (set by any POST), a GET login is protected.
    browser = Browser(app)
    browser.post("/")
    assert DEVICE in browser.cookies
    callback = browser.get("/login?user=9")
    assert DEVICE not in callback.set_cookies() and callback.sessions()
    assert browser.get("/").body == "user=9" and len(warnings_of(caplog)) == 1


def test_bad_cookies_on_get_set_nothing_and_on_post_are_deleted(
    app: SessionMiddleware, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sesame")
    browser = logged_in(app, 7)
    (name, token), = browser.session_cookies().items()
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "junk", "", "é"):
        browser.cookies[name] = bad
        response = browser.get("/")
        assert response.body == "user=anonymous" and response.set_cookies() == {}
    assert "session cookie rejected" in caplog.text and token not in caplog.text
    post = browser.post("/")
    assert post.body == "user=anonymous" and post.deleted() == [name]
    # Expired: idle timeout (24 h) passed.
    browser = logged_in(app, 8)
    (name,) = browser.session_cookies()
    clock.advance(86400)
    assert browser.get("/").set_cookies() == {} and name in browser.cookies
    assert browser.get("/").body == "user=anonymous"
    post = browser.post("/")
    assert post.deleted() == [name] and browser.session_cookies() == {}


def test_a_session_without_its_device_cookie_is_anonymous(app: SessionMiddleware) -> None:
    browser = logged_in(app, 7)
    del browser.cookies[DEVICE]
    assert browser.get("/").body == "user=anonymous"
    other = logged_in(app, 8)
    # Alice's cookies under Bob's device: still Bob.
    other.cookies.update(browser.session_cookies())
    assert other.get("/").body == "user=8"


def test_framework_cookie_names_are_refused(ring: Keyring) -> None:
    for kwargs in ({"device_cookie_name": "session"}, {"session_cookie_prefix": "session"}, {"device_cookie_name": "bad name"}):
        with pytest.raises(sesame.InvalidCookieName):
            SessionMiddleware(make_app({}), ring, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(sesame.InvalidCookieName):
        CookieRules(device_name="sessionid")
    with pytest.raises(ValueError):
        SessionMiddleware(make_app({}), ring, rules=CookieRules(), policy=Policy())
    rules = CookieRules(device_name="__Host-app-device", session_prefix="__Host-app-s-")
    browser = Browser(SessionMiddleware(make_app({}), ring, rules=rules))
    response = browser.post("/login?user=1")
    assert set(browser.cookies) == {"__Host-app-device", *[k for k in response.set_cookies() if k.startswith("__Host-app-s-")]}
    assert rules.detections == 0 and "detections=0" in repr(rules)
    rules.close()
    with pytest.raises(sesame.NullArgument):
        rules.detections


def test_revoked_before_and_logout_everywhere(app: SessionMiddleware, clock: Clock, cutoffs: dict[int, int]) -> None:
    laptop, phone = logged_in(app, 7), logged_in(app, 7)
    clock.advance(10)
    response = phone.post("/logout-everywhere?stay=1")
    assert response.body == "user=7" and cutoffs == {7: NOW + 10}
    assert phone.get("/").body == "user=7"
    assert laptop.get("/").body == "user=anonymous"  # GET: nothing deleted
    (name,) = laptop.session_cookies()
    assert laptop.post("/").deleted() == [name]
    clock.advance(10)
    assert phone.post("/logout-everywhere").body == "user=anonymous"
    assert phone.get("/").body == "user=anonymous" and cutoffs == {7: NOW + 20}
    # An app-side rejection of its own: the cookie goes on the next POST.
    browser = logged_in(app, 8)
    assert browser.post("/reject").body == "user=anonymous" and browser.session_cookies() == {}


def test_a_revoked_cookie_does_not_stop_a_login(app: SessionMiddleware, clock: Clock, cutoffs: dict[int, int]) -> None:
    browser = logged_in(app, 7)
    clock.advance(5)
    cutoffs[7] = clock.now
    assert browser.post("/login?user=7").body == "user=7"
    assert browser.get("/").body == "user=7"


def test_key_rotation_through_the_middleware(app: SessionMiddleware, ring: Keyring, clock: Clock) -> None:
    browser = logged_in(app, 7)
    ring.add_key(2, K2)
    ring.promote(2)
    assert browser.get("/").body == "user=7"
    clock.advance(601)
    browser.get("/")  # refreshed under key 2
    ring.retire(1)
    assert browser.get("/").body == "user=7"
    assert sesame.token_key_id(next(iter(browser.session_cookies().values()))) == 2


def test_generator_apps_write_and_error_responses(ring: Keyring, clock: Clock) -> None:
    def generator_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        yield b""  # allowed before start_response
        environ["sesame.auth"].login(4)
        start_response("200 OK", [("Cache-Control", "public")])
        yield b"hello"
        with pytest.raises(RuntimeError, match="after start_response"):
            environ["sesame.auth"].logout()
        yield b" world"

    browser = Browser(SessionMiddleware(generator_app, ring, clock=clock))
    response = browser.post("/")
    assert response.body == "hello world" and response.sessions() and response.all("Cache-Control") == ["private, no-store"]

    def write_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["sesame.auth"].login(5)
        write = start_response("200 OK", [])
        with pytest.raises(RuntimeError, match="after start_response"):
            environ["sesame.auth"].login(6)
        write(b"written")
        return []

    response = Browser(SessionMiddleware(write_app, ring, clock=clock)).post("/")
    assert response.body == "written" and response.sessions()

    def failing_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["sesame.auth"].login(6)
        start_response("200 OK", [("Cache-Control", "public")])
        try:
            raise ValueError("late")
        except ValueError:
            import sys

            start_response("500 Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"oops"]

    response = Browser(SessionMiddleware(failing_app, ring, clock=clock)).post("/")
    assert response.status == "500 Error" and response.sessions() and response.all("Content-Type") == ["text/plain"]

    def twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["sesame.auth"].login(1)
        with pytest.raises(RuntimeError, match="one login"):
            environ["sesame.auth"].login(2)
        with pytest.raises(ValueError):
            environ["sesame.auth"].login(-1)
        start_response("200 OK", [])
        with pytest.raises(AssertionError):
            start_response("200 OK", [])
        return [b"ok"]

    assert Browser(SessionMiddleware(twice, ring, clock=clock)).post("/").body == "ok"


def test_app_errors_propagate(app: SessionMiddleware) -> None:
    browser = logged_in(app, 7)
    with pytest.raises(RuntimeError, match="app error"):
        browser.get("/boom")
    assert browser.get("/").body == "user=7"


def test_two_users_many_threads_in_process(ring: Keyring, clock: Clock) -> None:
    """Two users hammer one path from several threads each, a refresh due
    on every request: every response is the requester's own."""
    app = SessionMiddleware(make_app({}), ring, clock=clock, policy=Policy(refresh_after=0))
    errors: list[BaseException] = []

    def user(user_id: int) -> None:
        try:
            browser = logged_in(app, user_id)
            for _ in range(150):
                response = browser.get("/dashboard")
                assert response.body == f"user={user_id}", response.body
                assert response.sessions()
                assert len(browser.session_cookies()) == 1
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


def test_two_users_over_http(ring: Keyring) -> None:
    """Over a real threaded HTTP server on 127.0.0.1: two users, several
    threads each, logging in by POST and then hammering one URL."""
    app = SessionMiddleware(make_app({}), ring, policy=Policy(refresh_after=0))
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    errors: list[BaseException] = []

    def request(connection: http.client.HTTPConnection, method: str, path: str, jar: Browser) -> Response:
        headers = {"Cookie": jar.header()} if jar.cookies else {}
        connection.request(method, path, headers=headers)
        raw = connection.getresponse()
        response = Response(f"{raw.status} {raw.reason}", raw.getheaders(), raw.read().decode())
        check_cache_headers(response, method)
        jar.store(response)
        return response

    def user(user_id: int) -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            jar = Browser(app)  # only for its cookie handling
            request(connection, "POST", f"/login?user={user_id}", jar)
            for _ in range(60):
                response = request(connection, "GET", "/account", jar)
                assert response.body == f"user={user_id}", response.body
                assert response.sessions()
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


def test_merge_headers() -> None:
    merge = sesame_wsgi.merge_headers
    app = [("Vary", "Accept"), ("Cache-Control", "public"), ("cache-control", "max-age=1"), ("X", "y")]
    assert merge(app, []) is app
    merged = merge(app, [("Set-Cookie", "a=b"), ("Cache-Control", "private, no-store"), ("Vary", "Cookie")])
    assert merged == [("Vary", "Accept, Cookie"), ("X", "y"), ("Set-Cookie", "a=b"), ("Cache-Control", "private, no-store")]
    assert merge([("Vary", "*")], [("Vary", "Cookie")]) == [("Vary", "*")]
    assert merge([("Vary", "cookie")], [("Vary", "Cookie")]) == [("Vary", "cookie")]
    assert merge([], [("Vary", "Cookie")]) == [("Vary", "Cookie")]


def test_app_mistakes_in_login_raise_in_the_app_and_the_response_still_goes_out(ring: Keyring) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        auth = environ["sesame.auth"]
        with pytest.raises(sesame.DataTooLong):
            auth.login(1, data=b"x" * (sesame.DATA_MAX + 1))
        with pytest.raises(TypeError):
            auth.login(1, data="text")  # type: ignore[arg-type]
        assert environ["sesame.session"] is None
        start_response("200 OK", [])
        return [b"ok"]

    browser = Browser(SessionMiddleware(app, ring))
    response = browser.post("/")
    assert response.body == "ok" and set(response.set_cookies()) == {DEVICE}  # any POST gets a device


def test_many_requests_reuse_native_memory_and_stay_correct(app: SessionMiddleware) -> None:
    """Requests that never finish (the app raised) and nested requests on
    one thread each get their own sesame_request."""
    alice, bob = logged_in(app, 1), logged_in(app, 2)

    def outer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        inner = bob.get("/")  # a nested request on the same thread, mid-request
        assert inner.body == "user=2"
        start_response("200 OK", [])
        return [f"user={environ['sesame.auth'].user_id}".encode()]

    nested = SessionMiddleware(outer, app.keyring, rules=app.rules, clock=app.clock)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            alice.get("/boom")
        assert Browser(nested, dict(alice.cookies)).get("/").body == "user=1"
        assert alice.post("/").body == "user=1" and bob.get("/").body == "user=2"
