"""Flask integration: sesame sessions for the login, Flask's own ``session``
for everything else (flash messages, carts), which never carries a login.

::

    from flask import Flask
    from sesame.flask import Sesame, current_session

    app = Flask(__name__)
    app.config["SESAME_KEYSET"] = os.environ["SESAME_KEYSET"]
    app.config["SESAME_REGISTRY"] = "sqlite:///var/lib/app/sessions.db"
    Sesame(app)                                   # wraps app.wsgi_app

    @app.post("/login")
    def login():
        user = check_password(...)
        current_session.login(user.id, remember_me="remember" in request.form)

The extension wraps ``app.wsgi_app`` (never ``app`` itself, which would
hide Flask's methods) in :class:`sesame.wsgi.SessionMiddleware`, so every
cookie rule is the core's. ``current_session`` is the request's
``environ["sesame.auth"]``. With Flask-Login, :meth:`Sesame.use_flask_login`
(or ``Sesame(app)`` after ``LoginManager(app)``) makes ``current_user``
come from the sesame session only, and ``login_user``/``logout_user`` log in
and out through it: the user ID, ``_fresh`` and the remember flag never stay
in Flask's cookie, and Flask-Login's ``remember_token`` cookie is never set
nor read.

CSRF (``SESAME_CSRF``, default on): every POST, PUT, PATCH and DELETE must
carry ``csrf_token()`` (a template global; form field ``csrf_token`` or
header ``X-CSRFToken``), masked from the device secret the core derives per
browser, or, from a browser without a device cookie yet, pass the core's
Fetch-Metadata/Origin rule. Nothing of it lives in Flask's ``session``, so a
replayed ``session`` cookie cannot break anyone's next POST. This replaces
Flask-WTF's ``CSRFProtect``: set ``WTF_CSRF_ENABLED = False`` and put
``{{ csrf_token() }}`` in forms (see :class:`SesameFormCSRF` for FlaskForm).
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar, cast

from flask import Flask, abort, current_app, request, session
from werkzeug.local import LocalProxy

from . import _frameworks
from .registry import Entry
from .session import Session
from .wsgi import SessionHandle, SessionMiddleware

__all__ = [
    "Sesame",
    "current_session",
    "login",
    "logout",
    "logout_others",
    "logout_everywhere",
    "sessions",
    "revoke",
    "csrf_token",
    "csrf_exempt",
]

F = TypeVar("F", bound=Callable[..., Any])
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")
_EXEMPT_ATTR = "_sesame_csrf_exempt"


def _auth() -> SessionHandle:
    handle = request.environ.get("sesame.auth")
    if handle is None:
        raise RuntimeError("sesame: the app is not wrapped by Sesame(app) (app.wsgi_app)")
    return handle  # type: ignore[no-any-return]


#: The request's sesame handle (``environ["sesame.auth"]``): ``login(uid,
#: data=None, remember_me=False)``, ``logout()``, ``logout_others()``,
#: ``logout_everywhere()``, ``sessions()``, ``revoke(id)``, ``session``, ``user_id``.
current_session = cast(SessionHandle, LocalProxy(_auth))


def login(user_id: int, *, remember_me: bool = False, data: bytes | None = None) -> Session:
    """Logs ``user_id`` in on this response (use a POST)."""
    return _auth().login(user_id, data=data, remember_me=remember_me)


def logout() -> None:
    """Ends the session, finally with a registry (use a POST)."""
    _auth().logout()


def logout_others() -> int:
    """Ends every other session of this user; returns how many."""
    return _auth().logout_others()


def logout_everywhere() -> int:
    """Ends every session of this user, this one included."""
    return _auth().logout_everywhere()


def sessions() -> list[Entry]:
    """This user's live sessions, newest first (``Entry.current`` marks this one)."""
    return _auth().sessions()


def revoke(session_id: str) -> bool:
    """Ends one of this user's own sessions by its ID."""
    return _auth().revoke(session_id)


def csrf_token() -> str:
    """A form token for this browser (the core's: the device secret under
    a fresh mask; after a login or logout, the new device's). Empty before
    the browser has a device cookie: its first POST is judged by the
    Fetch-Metadata/Origin rule instead, and gets the device."""
    return _auth().csrf_token or ""


def csrf_exempt(view: F) -> F:
    """Marks a view the CSRF check skips (a webhook with its own signature)."""
    setattr(view, _EXEMPT_ATTR, True)
    return view


class Sesame:
    """The extension. ``Sesame(app)`` or ``Sesame().init_app(app)``.

    Config (``app.config``): ``SESAME_KEYSET`` (default ``$SESAME_KEYSET``)
    or ``SESAME_KEYRING``; ``SESAME_REGISTRY`` (URL or ``sesame.Registry``;
    needed for sessions(), revoke() and logout_others());
    ``SESAME_REGISTRY_CHECK``; ``SESAME_POLICY`` (a ``sesame.Policy`` or a
    dict of its fields); ``SESAME_LOGIN_LIFETIME``,
    ``SESAME_REMEMBER_ME_LIFETIME``; ``SESAME_CSRF`` (default True).
    Keyword arguments go to :class:`sesame.wsgi.SessionMiddleware`."""

    def __init__(self, app: Flask | None = None, **middleware_options: Any) -> None:
        self.middleware_options = middleware_options
        self.middleware: SessionMiddleware | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        config = app.config
        self.middleware = _frameworks.build_middleware(
            app.wsgi_app, lambda name, default: config.get(f"SESAME_{name}", default), **self.middleware_options
        )
        # Flask's own wsgi_app, not the app: the Flask object stays the app.
        setattr(app, "wsgi_app", self.middleware)
        app.extensions["sesame"] = self
        if config.get("SESAME_CSRF", True):
            app.before_request(_check_csrf)
            app.jinja_env.globals["csrf_token"] = csrf_token
        login_manager = getattr(app, "login_manager", None)
        if login_manager is not None:
            self.use_flask_login(login_manager, app)

    def use_flask_login(self, login_manager: Any, app: Flask) -> None:
        """Makes Flask-Login read and write sesame sessions only.

        ``current_user`` is ``user_loader(str(user_id))`` of the sesame
        session (Flask's ``session`` and the ``remember_token`` cookie are
        not consulted: a replayed one logs nobody in). ``login_user(user,
        remember=...)`` logs in through sesame (``remember`` picks a
        remember-me session; ``user.get_id()`` must be an integer) and
        ``logout_user()`` logs out, finally. Session protection is sesame's
        device binding, so Flask-Login's own is turned off.

        Migration: until ``SESAME_MIGRATE_UNTIL`` (unix seconds), a login
        Flask-Login left in Flask's session (``_user_id``) is honoured when
        the request has no sesame session: read-only on a GET, and turned
        into a sesame session on the first other request (its keys leave
        Flask's session). After that time it is ignored."""
        import flask_login

        login_manager.session_protection = None

        def load_user() -> Any:
            auth = request.environ.get("sesame.auth")
            user = None
            if auth is not None and auth.user_id is not None and login_manager._user_callback is not None:
                user = login_manager._user_callback(str(auth.user_id))
            elif auth is not None and _migrating(app):
                user = _old_login(login_manager)  # read-only on a GET
            return login_manager._update_request_context_with_user(user)

        def migrate() -> None:
            if request.method in _frameworks.SAFE_METHODS or not _migrating(app):
                return
            auth = request.environ.get("sesame.auth")
            if auth is None or auth.user_id is not None:
                return
            user = _old_login(login_manager)
            if user is not None:
                auth.login(int(user.get_id()))
                _strip_login_keys()

        login_manager._load_user = load_user
        app.before_request(migrate)
        # Only this app's logins: another app in the process keeps its own.
        flask_login.user_logged_in.connect(_on_login, app, weak=False)
        flask_login.user_logged_out.connect(_on_logout, app, weak=False)


def _migrating(app: Flask) -> bool:
    until = app.config.get("SESAME_MIGRATE_UNTIL")
    return until is not None and time.time() < float(until)


def _old_login(login_manager: Any) -> Any:
    """The user of a Flask-Login login still in Flask's session (before the
    switch to sesame), or None."""
    user_id = session.get("_user_id")
    if user_id is None or login_manager._user_callback is None:
        return None
    return login_manager._user_callback(user_id)


def _strip_login_keys() -> str | None:
    """Flask-Login's keys out of Flask's session (which must carry no
    login); returns the remember flag it had set."""
    remember = session.get("_remember")
    for key in _LOGIN_KEYS:
        session.pop(key, None)
    return remember if isinstance(remember, str) else None


def _on_login(sender: Any, user: Any = None, **_: Any) -> None:
    remember = _strip_login_keys() == "set"
    user_id = user.get_id() if user is not None else None
    try:
        uid = int(user_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"sesame: user.get_id() must be an integer for a sesame session, not {user_id!r}") from None
    _auth().login(uid, remember_me=remember)


def _on_logout(sender: Any, user: Any = None, **_: Any) -> None:
    _strip_login_keys()
    _auth().logout()


def _check_csrf() -> None:
    if request.method in _frameworks.SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _EXEMPT_ATTR, False):
        return
    token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
    if not _auth().csrf_allows(token):
        abort(403, description="CSRF token missing or incorrect, or a cross-origin request")


try:
    from wtforms.csrf.core import CSRF as _WTFormsCSRF
    from wtforms.validators import ValidationError
except ImportError:  # WTForms is optional
    pass
else:

    class SesameFormCSRF(_WTFormsCSRF):
        """WTForms/Flask-WTF CSRF from the device secret: ``class
        Meta: csrf = True; csrf_class = SesameFormCSRF`` on a form
        (Flask's ``session`` is not used). The request-wide check
        (``SESAME_CSRF``) already refuses a bad token; this gives forms
        their hidden ``csrf_token`` field and a form error too."""

        def generate_csrf_token(self, csrf_token_field: Any) -> str:
            return csrf_token()

        def validate_csrf_token(self, form: Any, field: Any) -> None:
            if request.method in _frameworks.SAFE_METHODS:
                return
            if not _auth().csrf_allows(field.data):
                raise ValidationError("CSRF token missing or incorrect, or a cross-origin request")

    __all__.append("SesameFormCSRF")
