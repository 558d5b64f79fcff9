"""The WSGI middleware with a session registry (registry=, docs/REGISTRY.md):
real WSGI round trips through browsers with cookie jars, on memory:// and
on a real SQLite file (a second Registry on the same file stands for
another worker process), and a real redis-server for the store going down."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest

import sesame
from sesame import Keyring, Policy, Registry, Verdict
from sesame.wsgi import SessionMiddleware

from .test_registry import RedisServer, open_or_skip
from .test_wsgi import PREFIX, Browser, Clock

REFRESH = 600
Thefts = list[tuple[str, int]]


def make_app() -> Callable[..., Iterable[bytes]]:
    """/login?user=N[&remember=1], /logout, /logout-everywhere[?stay=1],
    /logout-others, /sessions (one line per session: id, current, device),
    /revoke?id=..., /reject; anything else says who is logged in."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        auth = environ["sesame.auth"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        path = environ["PATH_INFO"]
        body = ""
        if path == "/login":
            auth.login(int(query["user"][0]), remember_me="remember" in query)
        elif path == "/logout":
            auth.logout()
        elif path == "/logout-everywhere":
            body = f"ended={auth.logout_everywhere(stay_logged_in='stay' in query)}\n"
        elif path == "/logout-others":
            body = f"ended={auth.logout_others()}\n"
        elif path == "/sessions":
            body = "".join(
                f"{e.session_id} {'current' if e.current else '-'} {e.kind} {e.device} {e.ip}\n"
                for e in auth.sessions()
            )
        elif path == "/revoke":
            body = f"revoked={auth.revoke(query['id'][0])}\n"
        session = environ["sesame.session"]
        body += f"user={session.user_id if session else 'anonymous'}"
        data = body.encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        return [data]

    return app


class Agent(Browser):
    """A browser with a user agent."""

    agent = "test-browser"

    def request(self, method: str, path: str) -> Any:
        original = self.app

        def with_agent(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            environ["HTTP_USER_AGENT"] = self.agent
            environ["REMOTE_ADDR"] = "192.0.2.7"
            return original(environ, start_response)

        self.app = with_agent
        try:
            return super().request(method, path)
        finally:
            self.app = original


def browser(app: SessionMiddleware, agent: str = "test-browser") -> Agent:
    b = Agent(app)
    b.agent = agent
    return b


def login(app: SessionMiddleware, user: int, agent: str = "test-browser") -> Agent:
    b = browser(app, agent)
    assert b.post(f"/login?user={user}").body == f"user={user}"
    return b


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://?capacity=256"
    return f"sqlite://{tmp_path / 'sessions.db'}"


@pytest.fixture
def registry(url: str) -> Iterator[Registry]:
    registry = open_or_skip(url, "registry-sqlite", grace=30)
    yield registry
    registry.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def thefts() -> Thefts:
    return []


def middleware(ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts, check: str, **options: Any) -> SessionMiddleware:
    return SessionMiddleware(
        make_app(),
        ring,
        policy=Policy(refresh_after=REFRESH),
        clock=clock,
        registry=registry,
        registry_check=check,  # type: ignore[arg-type]
        on_theft=lambda environ, session: thefts.append((environ["PATH_INFO"], session.user_id)),
        **options,
    )


@pytest.fixture(params=["on_refresh", "every_request"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts, mode: str) -> SessionMiddleware:
    return middleware(ring, registry, clock, thefts, mode)


def session_ids(b: Browser) -> list[tuple[str, str]]:
    lines = b.get("/sessions").body.splitlines()[:-1]
    return [(line.split()[0], line.split()[1]) for line in lines]


# -- logins, refreshes and logout ---------------------------------------------


def test_login_registers_the_session_with_device_ip_and_kind(app: SessionMiddleware, registry: Registry) -> None:
    a = login(app, 7, agent="Firefox on Linux")
    b = browser(app, agent="Safari on iPhone")
    b.post("/login?user=7&remember=1")
    entries = registry.list(7, now=app.clock())
    assert sorted((e.device, e.ip, e.kind) for e in entries) == [
        ("Firefox on Linux", "192.0.2.7", "browser"),
        ("Safari on iPhone", "192.0.2.7", "remember_me"),
    ]
    listed = a.get("/sessions").body.splitlines()
    assert len(listed) == 3 and listed[-1] == "user=7"
    assert sum(" current " in line for line in listed) == 1
    current = next(line for line in listed if " current " in line)
    assert "Firefox on Linux" in current
    assert b.get("/").body == "user=7"


def test_logout_is_final_a_replayed_cookie_is_refused(
    app: SessionMiddleware, registry: Registry, clock: Clock, mode: str
) -> None:
    a = login(app, 7)
    stolen = dict(a.cookies)
    assert a.post("/logout").body == "user=anonymous"
    assert a.session_cookies() == {}
    copy = Agent(app, dict(stolen))
    if mode == "every_request":
        assert copy.get("/").body == "user=anonymous"  # at once
    else:
        # Not due for a refresh: the token still opens locally (documented
        # latency), but it can never be extended: its refresh is refused.
        assert copy.get("/").body == "user=7"
    clock.advance(REFRESH + 1)
    response = copy.get("/")
    assert response.body == "user=anonymous"
    assert not response.sessions()  # no new token for a logged-out session
    assert copy.post("/").body == "user=anonymous"
    assert copy.session_cookies() == {}  # a non-GET deletes it


def test_refreshes_are_recorded_and_the_session_lives_on(
    app: SessionMiddleware, registry: Registry, clock: Clock, thefts: Thefts
) -> None:
    a = login(app, 7)
    for _ in range(3):
        (before,) = a.session_cookies().values()
        clock.advance(REFRESH + 1)
        assert a.get("/").body == "user=7"
        (after,) = a.session_cookies().values()
        assert after != before
        assert a.get("/").body == "user=7"
    assert len(registry.list(7, now=clock.now)) == 1
    assert thefts == []


def test_grace_serves_but_does_not_send_the_new_token(
    app: SessionMiddleware, registry: Registry, clock: Clock, thefts: Thefts
) -> None:
    a = login(app, 7)
    old = dict(a.cookies)
    clock.advance(REFRESH + 1)
    assert a.get("/").body == "user=7"  # refreshed: a has the new token
    # A request that left with the old cookie, racing the refresh: served,
    # within the grace period, and not handed a second "current" token.
    racer = Agent(app, dict(old))
    response = racer.get("/")
    assert response.body == "user=7"
    assert response.sessions() == {}
    assert racer.cookies == old
    assert a.get("/").body == "user=7"
    assert thefts == []


def test_theft_is_rejected_and_reported(
    app: SessionMiddleware, clock: Clock, thefts: Thefts, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    victim = login(app, 7)
    thief = Agent(app, dict(victim.cookies))
    clock.advance(REFRESH + 1)
    assert victim.get("/").body == "user=7"  # refresh: the stolen token is superseded
    clock.advance(31)  # past the grace period
    assert victim.get("/").body == "user=7"
    if mode == "every_request":
        # The successor was seen (checked): the stolen token's next use is theft.
        pass
    else:
        # The registry sees tokens at refresh time only: by the victim's next
        # refresh, the stolen token is two generations old.
        clock.advance(REFRESH)
        assert victim.get("/").body == "user=7"
    with caplog.at_level(logging.WARNING, logger="sesame"):
        assert thief.get("/").body == "user=anonymous"
    assert thefts == [("/", 7)]
    assert any("stolen session token" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # Both parties are out: the session is revoked.
    clock.advance(REFRESH + 1)
    assert victim.get("/").body == "user=anonymous"


def test_the_presented_token_is_found_among_other_browsers_cookies(
    app: SessionMiddleware, clock: Clock, thefts: Thefts
) -> None:
    a = login(app, 7)
    b = login(app, 8)
    # A shared cache handed a's browser b's session cookie (a detection):
    # the registry judges a's own token, before and after b's in the header.
    a.cookies = {**b.session_cookies(), **a.cookies}
    assert a.get("/").body == "user=7"
    clock.advance(REFRESH + 1)
    assert a.get("/").body == "user=7"
    assert len(a.session_cookies()) == 2  # a GET deletes nothing
    assert a.post("/logout").body == "user=anonymous"
    assert a.session_cookies() == {}
    assert b.get("/").body == "user=8"
    assert thefts == []


class Spy(Registry):
    """A registry that logs its calls, with the token text each one got;
    the app logs ("app",) when it runs."""

    def __init__(self, url: str, **config: Any) -> None:
        super().__init__(url, **config)
        self.calls: list[tuple[str, ...]] = []

    def register(self, session: sesame.Session, token: str, **options: Any) -> int:
        self.calls.append(("register", token))
        return super().register(session, token, **options)

    def check(self, session: sesame.Session, token: str, now: Any = None) -> Verdict:
        self.calls.append(("check", token))
        return super().check(session, token, now=now)

    def refresh(self, session: sesame.Session, old_token: str, new_token: str, now: Any = None) -> Verdict:
        self.calls.append(("refresh", old_token, new_token))
        return super().refresh(session, old_token, new_token, now=now)

    def logout(self, session: sesame.Session, token: str, now: Any = None) -> Verdict:
        self.calls.append(("logout", token))
        return super().logout(session, token, now=now)


@pytest.fixture
def spy(url: str) -> Iterator[Spy]:
    try:
        registry = Spy(url, grace=30)
    except sesame.InvalidRegistryUrl:
        pytest.skip("built without registry-sqlite")
    yield registry
    registry.close()


def spied(ring: Keyring, spy: Spy, clock: Clock, thefts: Thefts, mode: str) -> SessionMiddleware:
    inner = make_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        spy.calls.append(("app",))
        return inner(environ, start_response)

    mw = middleware(ring, spy, clock, thefts, mode)
    mw.app = app
    return mw


def test_one_store_round_trip_per_request_with_the_tokens_the_browser_holds(
    ring: Keyring, spy: Spy, clock: Clock, thefts: Thefts, mode: str
) -> None:
    app = spied(ring, spy, clock, thefts, mode)
    every = mode == "every_request"

    def calls(b: Agent, method: str, path: str, body: str) -> list[tuple[str, ...]]:
        spy.calls.clear()
        assert b.request(method, path).body == body
        return list(spy.calls)

    b = browser(app)
    assert calls(b, "POST", "/login?user=7", "user=7") == [("app",), ("register", token(b))]
    t0 = token(b)
    assert calls(b, "GET", "/", "user=7") == ([("check", t0)] if every else []) + [("app",)]
    # Due for a refresh: one call, before the app, with the token the browser
    # sent and the one it gets.
    clock.advance(REFRESH + 1)
    seen = calls(b, "GET", "/", "user=7")
    t1 = token(b)
    assert t1 != t0 and seen == [("refresh", t0, t1), ("app",)]
    assert calls(b, "GET", "/", "user=7") == ([("check", t1)] if every else []) + [("app",)]
    # A refresh and a logout in one request: the logout ends the session by
    # the token the request presented (still accepted: no theft).
    clock.advance(REFRESH + 1)
    seen = calls(b, "POST", "/logout", "user=anonymous")
    (_, old, new), rest = seen[0], seen[1:]
    assert old == t1 and new != t1 and rest == [("app",), ("logout", t1)]
    assert b.session_cookies() == {}
    assert thefts == []


def test_a_login_over_a_session_ends_it_by_its_presented_token(
    ring: Keyring, spy: Spy, clock: Clock, thefts: Thefts, mode: str
) -> None:
    app = spied(ring, spy, clock, thefts, mode)
    b = login(app, 7)
    t0 = token(b)
    spy.calls.clear()
    assert b.post("/login?user=8").body == "user=8"
    t1 = token(b)
    assert t1 != t0
    assert spy.calls == ([("check", t0)] if mode == "every_request" else []) + [
        ("app",), ("logout", t0), ("register", t1)
    ]
    assert spy.list(7, now=clock.now) == []  # the replaced session ended
    assert len(spy.list(8, now=clock.now)) == 1


def test_a_refused_login_sets_no_cookie_even_if_the_app_carries_on(
    ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts
) -> None:
    seen: list[object] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            environ["sesame.auth"].login(9)
        except sesame.RegistryClosed:
            seen.append(environ["sesame.session"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"carried on"]

    b = Agent(SessionMiddleware(app, ring, clock=clock, registry=registry))
    registry.close()
    response = b.post("/")
    assert seen == [None] and response.body == "carried on"
    assert response.set_cookies() == {} and b.cookies == {}


def token(b: Browser) -> str:
    (value,) = b.session_cookies().values()
    return value


# -- your sessions: list, revoke, log out the others --------------------------


def test_logout_others_ends_the_other_browsers_session(app: SessionMiddleware, clock: Clock, mode: str) -> None:
    laptop = login(app, 7, "laptop")
    phone = login(app, 7, "phone")
    stranger = login(app, 8, "other user")
    assert laptop.post("/logout-others").body == "ended=1\nuser=7"
    if mode == "on_refresh":
        assert phone.get("/").body == "user=7"
        clock.advance(REFRESH + 1)
    assert phone.get("/").body == "user=anonymous"
    assert laptop.get("/").body == "user=7"
    assert stranger.get("/").body == "user=8"
    assert [c for _, c in session_ids(laptop)] == ["current"]


def test_revoke_from_the_list(app: SessionMiddleware, clock: Clock, mode: str) -> None:
    laptop = login(app, 7, "laptop")
    phone = login(app, 7, "phone")
    stranger = login(app, 8, "other user")
    listed = session_ids(laptop)
    assert sorted(c for _, c in listed) == ["-", "current"]
    (other,) = [sid for sid, c in listed if c == "-"]
    (strangers,) = [sid for sid, _ in session_ids(stranger)]
    # Another user's session ID ends nothing.
    assert laptop.post(f"/revoke?id={strangers}").body == "revoked=False\nuser=7"
    assert laptop.post(f"/revoke?id={other}").body == "revoked=True\nuser=7"
    if mode == "on_refresh":
        clock.advance(REFRESH + 1)
    assert phone.get("/").body == "user=anonymous"
    assert stranger.get("/").body == "user=8"
    assert [c for _, c in session_ids(laptop)] == ["current"]
    # Revoking the current session logs this browser out.
    (mine,) = [sid for sid, _ in session_ids(laptop)]
    assert laptop.post(f"/revoke?id={mine}").body == "revoked=True\nuser=anonymous"
    assert laptop.session_cookies() == {}


def test_logout_everywhere_with_a_registry(app: SessionMiddleware, clock: Clock, mode: str) -> None:
    laptop = login(app, 7, "laptop")
    phone = login(app, 7, "phone")
    assert laptop.post("/logout-everywhere?stay=1").body == "ended=2\nuser=7"
    if mode == "on_refresh":
        clock.advance(REFRESH + 1)
    assert phone.get("/").body == "user=anonymous"
    assert laptop.get("/").body == "user=7"
    assert [c for _, c in session_ids(laptop)] == ["current"]
    assert laptop.post("/logout-everywhere").body == "ended=1\nuser=anonymous"


# -- another process on the same SQLite file ----------------------------------


@pytest.mark.parametrize("check", ["every_request", "on_refresh"])
def test_a_revoke_by_another_registry_on_the_same_sqlite_file(
    ring: Keyring, tmp_path: Path, clock: Clock, thefts: Thefts, check: str
) -> None:
    url = f"sqlite://{tmp_path / 'shared.db'}"
    mine = open_or_skip(url, "registry-sqlite")
    other = open_or_skip(url, "registry-sqlite")  # another worker process's
    try:
        app = middleware(ring, mine, clock, thefts, check)
        a = login(app, 7)
        ((sid, _),) = session_ids(a)
        assert other.revoke(7, sid, now=clock.now)
        if check == "every_request":
            assert a.get("/").body == "user=anonymous"  # at once
        else:
            assert a.get("/").body == "user=7"  # until the next refresh
            clock.advance(REFRESH - 1)
            assert a.get("/").body == "user=7"
            clock.advance(2)
            assert a.get("/").body == "user=anonymous"
        assert a.post("/").body == "user=anonymous"
        assert a.session_cookies() == {}
    finally:
        mine.close()
        other.close()


# -- the store down ------------------------------------------------------------


def test_a_closed_registry_fails_closed(
    ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = middleware(ring, registry, clock, thefts, mode)
    a = login(app, 7)
    registry.close()
    if mode == "on_refresh":
        assert a.get("/").body == "user=7"  # no store call between refreshes
        clock.advance(REFRESH + 1)
    with caplog.at_level(logging.ERROR, logger="sesame"):
        response = a.get("/")
    assert response.body == "user=anonymous"
    assert response.sessions() == {}
    assert any("fail closed" in r.getMessage() for r in caplog.records)
    # A login cannot be registered: refused, and no session cookie is set.
    b = browser(app)
    with pytest.raises(sesame.RegistryClosed):
        b.post("/login?user=9")
    assert b.session_cookies() == {}


def test_a_store_error_refuses_the_request_but_keeps_the_cookie(
    ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts, mode: str
) -> None:
    """A store outage is not a logout: the request is refused, the cookie
    stays (a POST would otherwise delete it), and the session is judged
    again once the store answers."""
    app = middleware(ring, registry, clock, thefts, mode)
    a = login(app, 7)
    kept = a.session_cookies()
    registry.close()
    clock.advance(REFRESH + 1)
    response = a.post("/")
    assert response.body == "user=anonymous"
    assert response.sessions() == {} and a.session_cookies() == kept


def test_fail_open_serves_on_the_token_alone(ring: Keyring, registry: Registry, clock: Clock, thefts: Thefts) -> None:
    app = middleware(ring, registry, clock, thefts, "every_request", registry_fail_open=True)
    a = login(app, 7)
    (token,) = a.session_cookies().values()
    registry.close()
    assert a.get("/").body == "user=7"
    clock.advance(REFRESH + 1)
    response = a.get("/")
    assert response.body == "user=7"
    # The refresh could not be recorded: the browser keeps the token the
    # store knows.
    assert response.sessions() == {} and list(a.session_cookies().values()) == [token]


@pytest.mark.parametrize("check", ["every_request", "on_refresh"])
def test_a_stopped_redis_fails_closed(ring: Keyring, tmp_path: Path, clock: Clock, thefts: Thefts, check: str) -> None:
    server = RedisServer(tmp_path / "redis")
    try:
        registry = open_or_skip(server.url(timeout_ms=500), "registry-redis")
        app = middleware(ring, registry, clock, thefts, check)
        a = login(app, 7)
        assert a.get("/").body == "user=7"
        server.stop()
        clock.advance(REFRESH + 1)
        response = a.get("/")
        assert response.body == "user=anonymous"
        assert response.sessions() == {}
        registry.close()
    finally:
        server.stop()


def test_without_a_registry_the_auth_calls_say_so(ring: Keyring) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        auth = environ["sesame.auth"]
        if environ["PATH_INFO"] == "/login":
            auth.login(1)
        else:
            for call in (auth.sessions, auth.logout_others, lambda: auth.revoke("00" * 16)):
                with pytest.raises(RuntimeError, match="registry="):
                    call()
                seen.append("ok")
        start_response("200 OK", [])
        return [b""]

    b = Browser(SessionMiddleware(app, ring))
    b.post("/login")
    b.get("/")
    assert seen == ["ok"] * 3


def test_registry_options_are_checked(ring: Keyring) -> None:
    with pytest.raises(ValueError, match="registry_check"):
        SessionMiddleware(make_app(), ring, registry=Registry(), registry_check="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="registry"):
        SessionMiddleware(make_app(), ring, registry=b"memory://")  # type: ignore[arg-type]
    by_url = SessionMiddleware(make_app(), ring, registry="memory://")
    assert isinstance(by_url.registry, Registry)


def test_verdicts_admit_as_documented() -> None:
    assert [v.name for v in Verdict if v.admits] == ["LIVE", "GRACE"]
    assert PREFIX.startswith("__Host-")
