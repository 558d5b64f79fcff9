"""The Flask extension through Flask's test client, on the example app."""

from __future__ import annotations

import re
from typing import Any

import pytest

flask = pytest.importorskip("flask")
flask_login = pytest.importorskip("flask_login")

import sesame  # noqa: E402
from sesame.flask import Sesame, current_session  # noqa: E402

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def app() -> Any:
    from app import create_app  # examples/flask_app

    return create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SESAME_REGISTRY": sesame.Registry("memory://")})


def token(client: Any, path: str = "/") -> str:
    found = TOKEN.search(client.get(path).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def login(client: Any, name: str = "alice", remember: bool = False, **headers: str) -> Any:
    data = {"username": name, "password": f"{name}-password", "csrf_token": token(client)}
    if remember:
        data["remember"] = "1"
    return client.post("/login", data=data, headers=headers)


def who(client: Any) -> str:
    return client.get("/whoami").get_data(as_text=True)


def cookie(client: Any, name: str) -> str | None:
    found = client.get_cookie(name)
    return None if found is None else found.value


def sesame_cookies(client: Any) -> dict[str, str]:
    return {c.key: c.value for c in client._cookies.values() if c.key.startswith("__Host-sesame-")}


def flask_session(app: Any, client: Any) -> dict[str, Any]:
    value = cookie(client, app.config["SESSION_COOKIE_NAME"])
    if value is None:
        return {}
    return dict(app.session_interface.get_signing_serializer(app).loads(value))


def test_wraps_wsgi_app_and_keeps_the_flask_object(app: Any) -> None:
    assert isinstance(app, flask.Flask)
    assert isinstance(app.wsgi_app, sesame.wsgi.SessionMiddleware)
    assert app.extensions["sesame"].middleware is app.wsgi_app


def test_login_refresh_logout_final(app: Any) -> None:
    client = app.test_client()
    assert who(client) == "anonymous"
    response = login(client)
    assert response.status_code == 302
    set_cookies = response.headers.getlist("Set-Cookie")
    assert any(line.startswith("__Host-sesame-device=") for line in set_cookies)
    assert not any(line.startswith("remember_token=") for line in set_cookies)
    assert "private, no-store" in response.headers["Cache-Control"]
    assert who(client) == "user 1"
    # Flask's own session has the flash message and the counter, never the login.
    body = client.get("/").get_data(as_text=True)
    assert "Welcome, alice" in body and 'id="who">user 1' in body
    stored = flask_session(app, client)
    assert stored.get("visits", 0) >= 1
    assert not {"_user_id", "_fresh", "_id", "_remember"} & set(stored)

    # A refresh: the clock moves past refresh_after (15 min by default).
    mw = app.extensions["sesame"].middleware
    before = sesame_cookies(client)
    real = mw.clock
    mw.clock = lambda: real() + 20 * 60
    response = client.get("/whoami")
    assert response.get_data(as_text=True) == "user 1"
    assert any(line.startswith("__Host-sesame-s-") for line in response.headers.getlist("Set-Cookie"))
    after = sesame_cookies(client)
    assert after != before

    # Logout is final: the session's cookies replayed afterwards open nothing.
    response = client.post("/logout", data={"csrf_token": token(client)})
    assert response.status_code == 302
    assert who(client) == "anonymous"
    for name, value in after.items():
        client.set_cookie(name, value)
    assert who(client) == "anonymous"


def test_remember_me_is_a_remember_me_session_and_sets_no_remember_token(app: Any) -> None:
    client = app.test_client()
    response = login(client, remember=True)
    assert not any(line.startswith("remember_token=") for line in response.headers.getlist("Set-Cookie"))
    assert cookie(client, "remember_token") is None
    registry = app.extensions["sesame"].middleware.registry
    (entry,) = registry.list(1)
    assert entry.kind == "remember_me"
    assert who(client) == "user 1"


def test_replayed_framework_cookies_carry_no_login_and_break_no_post(app: Any) -> None:
    alice, bob, stranger = app.test_client(), app.test_client(), app.test_client()
    login(alice, remember=True)
    login(bob, "bob")
    bob_token = token(bob)  # bob's form, rendered before the replay
    alice.get("/")
    alice_flask = cookie(alice, "session")
    assert alice_flask is not None
    with app.test_request_context():
        remember = flask_login.utils.encode_cookie("1")  # what Flask-Login's remember cookie would hold
    for victim in (bob, stranger):  # a cache replays alice's GET response cookies
        victim.set_cookie("session", alice_flask)
        victim.set_cookie("remember_token", remember)
    assert who(bob) == "user 2"
    assert who(stranger) == "anonymous"
    # bob's next POST, with the token of the page he had: no CSRF failure.
    response = bob.post("/sessions", data={"csrf_token": bob_token, "others": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert who(bob) == "user 2"


def test_sessions_list_revoke_and_logout_others(app: Any) -> None:
    laptop, phone, tablet = app.test_client(), app.test_client(), app.test_client()
    login(laptop, **{"User-Agent": "Laptop browser"})
    login(phone, **{"User-Agent": "Phone browser"})
    login(tablet, **{"User-Agent": "Tablet browser"})
    page = laptop.get("/sessions").get_data(as_text=True)
    assert len(re.findall(r'name="revoke" value="[0-9a-f]{32}"', page)) == 3
    assert "Laptop browser" in page and "Phone browser" in page and "(this browser)" in page
    mw = app.extensions["sesame"].middleware
    phone_entry = next(e for e in mw.registry.list(1) if e.device == "Phone browser")
    # Revoke one other session: that browser is out on its next request.
    response = laptop.post("/sessions", data={"csrf_token": token(laptop, "/sessions"), "revoke": phone_entry.session_id})
    assert response.status_code == 302
    assert who(phone) == "anonymous"
    assert who(tablet) == "user 1"
    # Log out the others: the tablet is out, the laptop stays.
    laptop.post("/sessions", data={"csrf_token": token(laptop, "/sessions"), "others": "1"})
    assert who(tablet) == "anonymous"
    assert who(laptop) == "user 1"
    assert [e.device for e in mw.registry.list(1)] == ["Laptop browser"]
    # Revoking the current session logs this browser out.
    (own,) = mw.registry.list(1)
    laptop.post("/sessions", data={"csrf_token": token(laptop, "/sessions"), "revoke": own.session_id})
    assert who(laptop) == "anonymous"


def test_csrf(app: Any) -> None:
    client = app.test_client()
    login(client)
    assert client.post("/logout").status_code == 403  # no token
    assert client.post("/logout", data={"csrf_token": "x" * 86}).status_code == 403
    other = app.test_client()
    login(other, "bob")
    assert client.post("/logout", data={"csrf_token": token(other)}).status_code == 403  # bob's device's token
    assert who(client) == "user 1"
    assert client.post("/logout", headers={"X-CSRFToken": token(client)}).status_code == 302
    # A browser without a device: the Fetch-Metadata/Origin rule.
    # A browser without a device: the Fetch-Metadata/Origin rule (each
    # answer to a POST, refused or not, gives the browser its device).
    data = {"username": "alice", "password": "alice-password"}
    assert app.test_client().post("/login", data=data, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    refused = app.test_client().post("/login", data=data, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    fresh = app.test_client()
    assert fresh.post("/login", data=data, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 302
    assert who(fresh) == "user 1"


def test_plain_extension_without_flask_login() -> None:
    app = flask.Flask(__name__)
    app.config.update(SESAME_KEYSET=sesame_keyset(), SESAME_CSRF=False)
    ext = Sesame()
    ext.init_app(app)

    @app.post("/in")
    def log_in() -> str:
        current_session.login(7, data=b"role=admin")
        return "in"

    @app.get("/who")
    def show() -> str:
        s = current_session.session
        return "anonymous" if s is None else f"{s.user_id} {s.data!r}"

    @app.get("/list")
    def listing() -> str:
        try:
            current_session.sessions()
        except RuntimeError as error:
            return str(error)
        return "listed"

    client = app.test_client()
    assert client.post("/in").status_code == 200
    assert client.get("/who").get_data(as_text=True) == "7 b'role=admin'"
    assert "registry" in client.get("/list").get_data(as_text=True)


def sesame_keyset() -> str:
    import os

    return os.environ["SESAME_KEYSET"]


def test_flask_wtf_form_with_the_device_secret() -> None:
    flask_wtf = pytest.importorskip("flask_wtf")
    from wtforms import StringField

    from sesame.flask import SesameFormCSRF

    class NoteForm(flask_wtf.FlaskForm):  # type: ignore[misc]
        class Meta:
            csrf = True
            csrf_class = SesameFormCSRF

        text = StringField()

    app = flask.Flask(__name__)
    app.config.update(SESAME_KEYSET=sesame_keyset(), SECRET_KEY="x", WTF_CSRF_ENABLED=False, SESAME_CSRF=False)
    Sesame(app)

    @app.route("/note", methods=["GET", "POST"])
    def note() -> Any:
        form = NoteForm()
        if form.validate_on_submit():
            return "ok"
        if flask.request.method == "POST":
            return "refused", 400
        return flask.render_template_string("{{ form.csrf_token }}", form=form)

    client = app.test_client()
    # No device yet: judged by the Fetch-Metadata/Origin rule; the answer gives the device.
    assert client.post("/note", data={"text": "a"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 400
    assert client.post("/note", data={"text": "a"}).get_data(as_text=True) == "refused"  # has a device now
    field = re.search(r'value="([^"]+)"', client.get("/note").get_data(as_text=True))
    assert field is not None
    assert client.post("/note", data={"text": "a", "csrf_token": field.group(1)}).get_data(as_text=True) == "ok"
    assert "csrf_token" not in flask_session(app, client)  # nothing in Flask's session
    other = app.test_client()
    other.post("/note", data={"text": "a"})
    assert other.post("/note", data={"text": "a", "csrf_token": field.group(1)}).status_code == 400


def test_migration_from_flask_logins_session(app: Any) -> None:
    import time

    old = app.session_interface.get_signing_serializer(app).dumps({"_user_id": "1", "_fresh": True})
    unset = app.test_client()
    unset.set_cookie("session", old)
    assert who(unset) == "anonymous"  # no window: Flask's session never logs in
    app.config["SESAME_MIGRATE_UNTIL"] = time.time() + 3600
    client = app.test_client()
    client.set_cookie("session", old)
    response = client.get("/whoami")
    assert response.get_data(as_text=True) == "user 1"  # honoured, read-only:
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-sesame-")]
    response = client.post("/sessions", data={"others": "1"})  # the first non-GET moves it over
    assert response.status_code == 302
    assert any(c.startswith("__Host-sesame-device=") for c in response.headers.getlist("Set-Cookie"))
    assert "_user_id" not in flask_session(app, client)
    assert who(client) == "user 1"
    assert len(app.extensions["sesame"].middleware.registry.list(1)) == 1
    app.config["SESAME_MIGRATE_UNTIL"] = time.time() - 1  # after the window: ignored
    late = app.test_client()
    late.set_cookie("session", old)
    assert who(late) == "anonymous"


def test_csrf_token_after_a_login_in_the_same_request() -> None:
    app = flask.Flask(__name__)
    app.config.update(SESAME_KEYSET=sesame_keyset())
    Sesame(app)

    @app.post("/in")
    def log_in() -> str:
        current_session.login(7)  # decides the cookies; the secret was read before
        return flask.render_template_string("{{ csrf_token() }}")

    @app.get("/token")
    def form_token() -> str:
        return flask.render_template_string("{{ csrf_token() }}")

    client = app.test_client()
    assert client.post("/in", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200  # gets a device
    token = client.get("/token").get_data(as_text=True)
    response = client.post("/in", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and len(response.get_data(as_text=True)) == 86
