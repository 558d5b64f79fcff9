"""A Flask + Flask-Login app on sesame.flask behind the e2e cache
(tests/e2e/run.py --origins flask).

Its cached GET /page also sets Flask's own cookies the way real apps do:
``session`` (a visit counter and the last page's flash) and, for a
logged-in browser, Flask-Login's ``remember_token`` for its user. Replayed
to another browser, neither may log anyone in or out, and no POST may fail
its CSRF check: the login lives in sesame's cookies and the CSRF secret is
the device's. Every POST carries the token of GET /form (uncached).

Needs SESAME_KEYSET and SESAME_LIB; SESAME_REFRESH_AFTER (default 1 s).
"""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bindings", "python", "src"))

from flask import Flask, request, session  # noqa: E402
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user  # noqa: E402
from flask_login.utils import encode_cookie  # noqa: E402

from sesame.flask import Sesame, csrf_token  # noqa: E402

logging.basicConfig(stream=sys.stderr, level=logging.INFO)


class User(UserMixin):
    def __init__(self, user_id: int) -> None:
        self.id = user_id


app = Flask(__name__)
app.config.update(
    SECRET_KEY="e2e-flask-secret",
    SESAME_POLICY={"refresh_after": int(os.environ.get("SESAME_REFRESH_AFTER", "1"))},
    SESAME_REGISTRY=os.environ.get("SESAME_REGISTRY") or None,
)
login_manager = LoginManager(app)
login_manager.user_loader(lambda user_id: User(int(user_id)))
sesame_ext = Sesame(app)


def text(body: str, cache_control: str = "no-store"):
    return body + "\n", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": cache_control}


def whoami() -> str:
    return f"user {current_user.id}" if current_user.is_authenticated else "anonymous"


@app.get("/page")
def page():
    session["visits"] = session.get("visits", 0) + 1
    body, status, headers = text(whoami(), "public, max-age=60")
    response = app.make_response((body, status, headers))
    if current_user.is_authenticated:
        response.set_cookie("remember_token", encode_cookie(str(current_user.id)), max_age=86400, httponly=True)
    return response


@app.get("/whoami")
def probe():
    return text(whoami())


@app.get("/form")
def form():
    return text(f"csrf csrf_token {csrf_token()}")


@app.post("/login")
def login():
    try:
        user = int(request.form.get("user", ""))
    except ValueError:
        return "bad request\n", 400
    login_user(User(user), remember=True)  # through sesame: no remember_token, nothing in session
    return text(f"user {user}")


@app.post("/logout")
def logout():
    logout_user()
    return text("anonymous")


@app.post("/note")
def note():
    session["note"] = request.form.get("text", "")[:64]
    return text("noted")


@app.get("/metrics")
def metrics():
    return text(f"sesame_detections_total {sesame_ext.middleware.detections if sesame_ext.middleware else -1}")


application = app
