"""A Flask app on sesame sessions, with Flask-Login: log in (remember me),
refresh, log out finally, "your sessions" (list, revoke, log out the
others). Flask's own ``session`` keeps a flash message and a visit counter,
never the login.

    SESAME_KEYSET="$(sesame keyset new)" flask --app app run   # or gunicorn app:app

Users: alice / alice-password (id 1), bob / bob-password (id 2).
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, flash, redirect, render_template_string, request, session
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from sesame.flask import Sesame, current_session


class User(UserMixin):
    def __init__(self, user_id: int, name: str, password: str) -> None:
        self.id = user_id
        self.name = name
        self.password = password


USERS = {1: User(1, "alice", "alice-password"), 2: User(2, "bob", "bob-password")}

PAGE = """<!doctype html><title>sesame + Flask</title>
{% for m in get_flashed_messages() %}<p class="flash">{{ m }}</p>{% endfor %}
<p>visits: {{ visits }}</p>
{% if current_user.is_authenticated %}
<p id="who">user {{ current_user.id }} ({{ current_user.name }})</p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}"><button>Log out</button></form>
<a href="/sessions">Your sessions</a>
{% else %}
<p id="who">anonymous</p>
<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input name="username"><input name="password" type="password">
<label><input type="checkbox" name="remember" value="1"> Remember me</label><button>Log in</button></form>
{% endif %}"""

SESSIONS = """<!doctype html><title>Your sessions</title><ul>
{% for s in sessions %}<li>{{ s.device or "Unknown device" }} ({{ s.ip or "unknown IP" }}), last seen
{{ s.last_seen_at.strftime("%Y-%m-%d %H:%M") }} UTC{% if s.current %} (this browser){% endif %}
<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button name="revoke" value="{{ s.session_id }}">Log out</button></form></li>{% endfor %}</ul>
<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button name="others" value="1">Log out my other sessions</button></form>"""


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY") or os.urandom(32)
    app.config["SESAME_REGISTRY"] = os.environ.get("SESAME_REGISTRY", "memory://")
    if os.environ.get("SESAME_REFRESH_AFTER"):  # seconds; the default is 15 min
        app.config["SESAME_POLICY"] = {"refresh_after": int(os.environ["SESAME_REFRESH_AFTER"])}
    app.config.update(config or {})
    login_manager = LoginManager(app)
    login_manager.user_loader(lambda user_id: USERS.get(int(user_id)))
    Sesame(app)  # after LoginManager(app): current_user comes from the sesame session

    @app.get("/")
    def index() -> str:
        session["visits"] = session.get("visits", 0) + 1  # Flask's own cookie: no login in it
        return render_template_string(PAGE, visits=session["visits"])

    @app.post("/login")
    def login() -> Any:
        user = next((u for u in USERS.values() if u.name == request.form.get("username")), None)
        password = request.form.get("password", "")
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            flash("Wrong user name or password")
            return redirect("/")
        login_user(user, remember=bool(request.form.get("remember")))
        flash(f"Welcome, {user.name}")
        return redirect("/")

    @app.post("/logout")
    def logout() -> Any:
        logout_user()  # final: the registry refuses every copy of the token
        return redirect("/")

    @app.route("/sessions", methods=["GET", "POST"])
    @login_required
    def your_sessions() -> Any:
        if request.method == "POST":
            if request.form.get("revoke"):
                try:
                    current_session.revoke(request.form["revoke"])  # only ever this user's own
                except ValueError:
                    return "not a session ID", 400
            elif request.form.get("others"):
                current_session.logout_others()
            return redirect("/sessions")
        return render_template_string(SESSIONS, sessions=current_session.sessions())

    @app.get("/whoami")
    def whoami() -> str:
        return f"user {current_user.id}" if current_user.is_authenticated else "anonymous"

    return app


app = create_app()  # keys from $SESAME_KEYSET
