"""The ASGI middleware (sesame.asgi) with the example Starlette app
(examples/asgi_app.py): in process through Starlette's TestClient (browsers
with cookie jars, on https so the __Host- cookies are kept), with and
without a session registry, and once over HTTP against a real uvicorn that
the test starts on 127.0.0.1 and stops by its PID."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import sesame
import sesame.asgi
from sesame import Keyring, Policy, Registry

from .conftest import REPO
from .test_wsgi import DEVICE, PREFIX, Clock

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

EXAMPLES = REPO / "bindings" / "python" / "examples"
sys.path.insert(0, str(EXAMPLES))
import asgi_app  # noqa: E402

REFRESH = 600
AGENT = {"User-Agent": "asgi-test-browser"}


def client(app: Any) -> TestClient:
    return TestClient(app, base_url="https://testserver", headers=AGENT)


def session_cookies(response: Any) -> dict[str, str]:
    """name -> the rest of each Set-Cookie line of a session cookie."""
    out = {}
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        if name.startswith(PREFIX):
            out[name] = rest
    return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_login_refresh_logout_without_a_registry(ring: Keyring, clock: Clock) -> None:
    app = asgi_app.create_app(ring, policy=Policy(refresh_after=REFRESH), registry=None, clock=clock)
    with client(app) as browser:
        first = browser.get("/page")
        assert first.text == "anonymous\n" and not first.headers.get_list("set-cookie")
        assert first.headers["cache-control"] == "public, max-age=60"  # nothing to protect: the app's own

        login = browser.post("/login", data={"user": "42"})
        assert login.status_code == 200 and login.text == "user 42\n"
        names = {line.partition("=")[0] for line in login.headers.get_list("set-cookie")}
        assert DEVICE in names and any(name.startswith(PREFIX) for name in names)
        assert login.headers["cache-control"] == "private, no-store"
        assert "Cookie" in login.headers["vary"]
        assert browser.get("/").text == "user 42\n"

        clock.advance(REFRESH)  # due: the cookie is re-issued, on a cacheable page too
        refreshed = browser.get("/page")
        assert refreshed.text == "user 42\n" and session_cookies(refreshed)
        assert refreshed.headers["cache-control"] == "private, no-store"  # the app's public one replaced
        assert DEVICE not in {line.partition("=")[0] for line in refreshed.headers.get_list("set-cookie")}
        assert browser.get("/").text == "user 42\n"

        out = browser.post("/logout")
        deleted = session_cookies(out)
        assert deleted and all("Max-Age=0" in rest for rest in deleted.values())
        assert browser.get("/").text == "anonymous\n"


def test_another_browsers_cookie_gives_nobody_a_session(ring: Keyring, clock: Clock) -> None:
    """A session cookie replayed into another browser (what a shared cache
    does with a stored Set-Cookie) opens nothing there and is counted."""
    seen: list[tuple[bool, int | None]] = []

    def on_detection(scope: Any, foreign: int) -> None:
        session = scope["sesame.session"]
        seen.append(("sesame.auth" in scope, session.user_id if session else None))

    app = asgi_app.create_app(
        ring, policy=Policy(refresh_after=REFRESH), registry=None, clock=clock, on_detection=on_detection
    )
    with client(app) as alice, client(app) as bob:
        alice.post("/login", data={"user": "1"})
        bob.post("/login", data={"user": "2"})
        stolen = {name: value for name, value in alice.cookies.items() if name.startswith(PREFIX)}
        assert stolen
        for name, value in stolen.items():
            bob.cookies.set(name, value, domain="testserver.local", path="/")
        assert bob.get("/whoami").text == "user 2\n"
        assert int(bob.get("/metrics").text.split()[1]) >= 1
        assert app.detections >= 1
        assert seen and seen[0] == (True, 2)  # the callback sees the request's own session


def test_remember_me_and_the_device_csrf_secret(ring: Keyring, clock: Clock) -> None:
    secrets: list[bytes | None] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        auth = scope["state"]["sesame_auth"]
        secrets.append(auth.csrf_secret)
        if scope["path"] == "/login":
            session = await auth.login(8, remember_me=scope["query_string"] == b"remember=1")
            assert session.remember_me == (scope["query_string"] == b"remember=1")
        body = f"user={auth.user_id}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    app = sesame.asgi.SessionMiddleware(inner, ring, clock=clock)
    remembered, plain = client(app), client(app)
    remembered.get("/")
    login = remembered.post("/login?remember=1")
    assert "Max-Age=2592000;" in next(iter(session_cookies(login).values()))  # the remember-me lifetime
    plain.post("/login")
    clock.advance(3 * 86_400)  # past the browser idle timeout (24 h)
    assert remembered.get("/").text == "user=8"
    assert plain.get("/").text == "user=None"
    # The device's secret: none before its first POST, then stable for the
    # device and different per browser.
    assert secrets[0] is None and secrets[1] is None
    assert len(secrets[3] or b"") == 32 and secrets[3] != secrets[4]
    assert remembered.get("/").text == "user=8" and secrets[-1] == secrets[3]


def test_csrf_tokens_and_the_rule_through_the_asgi_handle(ring: Keyring, clock: Clock) -> None:
    """The core's CSRF rule on the ASGI handle: a device-less POST is judged
    by its origin headers, a POST with a device needs one of its tokens."""
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        auth = scope["sesame.auth"]
        query = dict(pair.split("=", 1) for pair in scope["query_string"].decode().split("&") if "=" in pair)
        seen["allowed"] = auth.csrf_allows(query.get("token"))
        seen["token"] = auth.csrf_token
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = sesame.asgi.SessionMiddleware(inner, ring, clock=clock)
    browser = client(app)
    browser.post("/", headers={"Sec-Fetch-Site": "cross-site"})
    # No device: the origin decides. The token is for the device this
    # response issues, so a form re-rendered in it checks next time.
    assert seen["allowed"] is False
    first_token = seen["token"]
    assert isinstance(first_token, str) and len(first_token) == 86
    other = client(app)
    other.post("/", headers={"Sec-Fetch-Site": "same-origin"})
    assert seen["allowed"] is True
    # The first POST's response issued a device: from now on a token is needed.
    browser.post("/", headers={"Sec-Fetch-Site": "same-origin"})
    assert seen["allowed"] is False
    browser.post(f"/?token={first_token}")
    assert seen["allowed"] is True
    browser.get("/")
    token = seen["token"]
    assert isinstance(token, str) and len(token) == 86
    browser.post(f"/?token={token}")
    assert seen["allowed"] is True
    browser.post("/?token=" + "A" * 86)
    assert seen["allowed"] is False


def test_csrf_origin_rule_is_the_cores() -> None:
    assert sesame.csrf_origin_allowed("GET", "cross-site")
    assert not sesame.csrf_origin_allowed("POST", "cross-site", "https://a.test", "a.test")
    assert sesame.csrf_origin_allowed("POST", None, "https://a.test", "a.test")
    assert not sesame.csrf_origin_allowed("POST", None, "https://evil.test", "a.test")
    assert sesame.csrf_origin_allowed("POST", b"same-origin", None, None)


@pytest.fixture(params=["memory", "sqlite"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    url = "memory://?capacity=64" if request.param == "memory" else f"sqlite://{tmp_path / 'sessions.db'}"
    try:
        registry = Registry(url, grace=30)
    except sesame.InvalidRegistryUrl:
        pytest.skip(f"libsesame was built without the {request.param} store")
    yield registry
    registry.close()


def test_sessions_list_revoke_and_a_final_logout(ring: Keyring, clock: Clock, registry: Registry) -> None:
    app = asgi_app.create_app(
        ring, policy=Policy(refresh_after=REFRESH), registry=registry, registry_check="every_request", clock=clock
    )
    with client(app) as laptop, client(app) as phone, client(app) as tablet:
        for browser in (laptop, phone, tablet):
            assert browser.post("/login", data={"user": "7"}).text == "user 7\n"
        listed = laptop.get("/sessions").json()
        assert len(listed) == 3 and [e["current"] for e in listed].count(True) == 1
        assert {e["device"] for e in listed} == {AGENT["User-Agent"]}
        mine = next(e["id"] for e in listed if e["current"])

        phones = phone.get("/sessions").json()
        phone_id = next(e["id"] for e in phones if e["current"])
        assert phone_id != mine
        assert laptop.post("/sessions/revoke", data={"id": phone_id}).text == "revoked true\n"
        assert phone.get("/").text == "anonymous\n"  # every_request: at once
        assert [e["id"] for e in laptop.get("/sessions").json()].count(phone_id) == 0

        assert laptop.post("/logout-others").text == "ended 1\n"  # the tablet
        assert tablet.get("/").text == "anonymous\n"
        assert [e["id"] for e in laptop.get("/sessions").json()] == [mine]

        clock.advance(REFRESH)  # a refresh goes through the store
        refreshed = laptop.get("/")
        assert refreshed.text == "user 7\n" and session_cookies(refreshed)
        assert laptop.get("/").text == "user 7\n"

        kept = dict(laptop.cookies.items())
        assert laptop.post("/logout").text == "anonymous\n"
        # Logout is final: the logged-out cookies, replayed, open nothing.
        for name, value in kept.items():
            laptop.cookies.set(name, value, domain="testserver.local", path="/")
        assert laptop.get("/").text == "anonymous\n"
        assert laptop.get("/sessions").status_code == 401


def test_blocking_calls_run_off_the_event_loop(ring: Keyring, clock: Clock, registry: Registry) -> None:
    """The registry's calls and the app's revocation store may block: they
    run in a worker thread, never on the loop's thread."""
    seen: list[int] = []
    loop_threads: list[int] = []

    def revoked_before(user_id: int) -> int | None:
        seen.append(threading.get_ident())
        return None

    inner = asgi_app.create_app(
        ring, policy=Policy(refresh_after=REFRESH), registry=registry, revoked_before=revoked_before, clock=clock
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            loop_threads.append(threading.get_ident())
        await inner(scope, receive, send)

    with client(app) as browser:
        browser.post("/login", data={"user": "3"})
        assert browser.get("/").text == "user 3\n"
        assert len(browser.get("/sessions").json()) == 1
    assert seen and loop_threads
    assert not set(seen) & set(loop_threads)


def test_lifespan_and_non_http_scopes_pass_through(ring: Keyring) -> None:
    calls: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])
        assert "sesame.auth" not in scope
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            await send({"type": "lifespan.shutdown.complete"})

    app = sesame.asgi.SessionMiddleware(inner, ring)
    with TestClient(app):
        pass
    assert calls == ["lifespan"]


def test_a_decision_after_the_response_started_raises(ring: Keyring, clock: Clock) -> None:
    errors: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        try:
            await scope["sesame.auth"].login(5)
        except RuntimeError as error:
            errors.append(str(error))
        await send({"type": "http.response.body", "body": b"ok"})

    app = sesame.asgi.SessionMiddleware(inner, ring, clock=clock)
    response = client(app).post("/")  # no lifespan: the app only speaks http
    assert response.text == "ok" and not session_cookies(response)  # no login happened
    assert errors and "after the response started" in errors[0]


# -- a real uvicorn -------------------------------------------------------------

KEYSET = (
    "sesame-keyset/1;key id=3 status=primary created=1700000000 "
    "master=YSBsb25nIHJhbmRvbSBtYXN0ZXIgc2VjcmV0IGZyb20gdGhlIHZhdWx0 purpose=c2Vzc2lvbiBjb29raWUgMjAyNi0xMQ"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Jar:
    """Just enough of a browser over plain HTTP: keeps every cookie it is
    sent (Secure or not), drops the ones deleted, sends them all back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str = "") -> tuple[int, str, list[str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"User-Agent": "uvicorn-test", "Content-Type": "application/x-www-form-urlencoded"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body.encode(), headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            lines = response.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()
        for line in lines:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in rest:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.status, text, lines


def test_the_example_under_a_real_uvicorn(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    port = free_port()
    env = dict(
        os.environ,
        SESAME_KEYSET=KEYSET,
        SESAME_REGISTRY=f"sqlite://{tmp_path / 'sessions.db'}",
        SESAME_REFRESH_AFTER="1",
        PYTHONPATH=str(REPO / "bindings" / "python" / "src"),
    )
    log = open(tmp_path / "uvicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(EXAMPLES), "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "asgi_app:from_env"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "uvicorn.log").read_text()
                assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
                time.sleep(0.1)
        first, second = Jar(port), Jar(port)
        assert first.request("GET", "/whoami")[:2] == (200, "anonymous\n")
        status, text, lines = first.request("POST", "/login", "user=11")
        assert (status, text) == (200, "user 11\n") and any(line.startswith(PREFIX) for line in lines)
        assert second.request("POST", "/login", "user=11")[1] == "user 11\n"
        assert first.request("GET", "/whoami")[1] == "user 11\n"

        time.sleep(2.1)  # past refresh_after: the next request re-issues the cookie
        status, text, lines = first.request("GET", "/page")
        assert text == "user 11\n" and any(line.startswith(PREFIX) for line in lines)
        assert first.request("GET", "/whoami")[1] == "user 11\n"

        listed = json.loads(first.request("GET", "/sessions")[1])
        assert len(listed) == 2 and sum(e["current"] for e in listed) == 1
        other = next(e["id"] for e in listed if not e["current"])
        assert first.request("POST", "/sessions/revoke", f"id={other}")[1] == "revoked true\n"
        time.sleep(1.1)  # on_refresh mode: the revocation shows at the other's next refresh
        assert second.request("GET", "/whoami")[1] == "anonymous\n"

        kept = dict(first.cookies)
        assert first.request("POST", "/logout")[1] == "anonymous\n"
        first.cookies = kept  # replayed after the logout
        time.sleep(1.1)
        assert first.request("GET", "/whoami")[1] == "anonymous\n"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
