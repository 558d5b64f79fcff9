"""Django integration: sesame sessions carry the login; Django's own session
(``django.contrib.sessions``), if kept, carries only non-login data
(messages, carts), and Django's CSRF secret is the browser's device secret
instead of a ``csrftoken`` cookie.

Settings::

    INSTALLED_APPS = [..., "django.contrib.auth", "sesame.django"]
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",  # optional: messages
        "sesame.django.middleware.SesameMiddleware",       # replaces AuthenticationMiddleware
        "sesame.django.csrf.CsrfViewMiddleware",           # replaces Django's
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    SESAME = {"KEYSET": os.environ["SESAME_KEYSET"], "REGISTRY": "sqlite:///var/lib/app/sessions.db"}
    AUTH_PASSWORD_VALIDATORS = [..., {"NAME": "sesame.django.password.EndSessionsOnPasswordChange"}]

In views: ``request.user`` (from the sesame session), ``request.sesame``
(the request's :class:`sesame.wsgi.SessionHandle`), and
:func:`login` / :func:`logout` / :func:`update_session_auth_hash` from here.
Django's own ``django.contrib.auth.login``/``logout`` (the admin's, say)
work too: signal receivers turn them into sesame logins and final logouts.
"""

from __future__ import annotations

from .auth import login, logout, update_session_auth_hash

__all__ = ["login", "logout", "update_session_auth_hash"]
