"""login, logout and the password-change hook, on sesame sessions."""

from __future__ import annotations

import logging
from typing import Any

from .settings import current_request, handle, registry

log = logging.getLogger("sesame")

_LOGIN_DONE = "_sesame_login_done"
_LOGOUT_DONE = "_sesame_logout_done"


def _strip_django_login(request: Any) -> None:
    """Django's auth keys out of its session, which must carry no login."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = getattr(request, "session", None)
    if session is not None:
        for key in (SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY):
            session.pop(key, None)


def _user_id(user: Any) -> int:
    try:
        return int(user.pk)
    except (TypeError, ValueError):
        raise ValueError(f"sesame: a user's pk must be an integer for a sesame session, not {user.pk!r}") from None


def login(request: Any, user: Any, *, remember_me: bool = False, backend: str | None = None) -> None:
    """Logs ``user`` in with a new sesame session (use a POST; the device ID
    rotates, and with it the CSRF secret). Sends ``user_logged_in`` as
    Django's login does (``last_login`` is updated)."""
    from django.contrib.auth.signals import user_logged_in

    handle(request).login(_user_id(user), remember_me=remember_me)
    setattr(request, _LOGIN_DONE, True)
    _strip_django_login(request)
    if backend is not None:
        user.backend = backend
    request.user = user
    user_logged_in.send(sender=user.__class__, request=request, user=user)


def logout(request: Any) -> None:
    """Ends the session, finally (the registry refuses every copy of its
    token), and flushes Django's own session (use a POST)."""
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.auth.signals import user_logged_out

    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        user = None
    setattr(request, _LOGOUT_DONE, True)
    user_logged_out.send(sender=user.__class__ if user is not None else None, request=request, user=user)
    handle(request).logout()
    session = getattr(request, "session", None)
    if session is not None:
        session.flush()
    request.user = AnonymousUser()


def on_django_login(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """``django.contrib.auth.login`` (the admin's login view, say) wrote the
    login into Django's session: it moves into a sesame session."""
    if request is None or user is None or getattr(request, _LOGIN_DONE, False):
        return
    if request.META.get("sesame.auth") is None:
        return
    handle(request).login(_user_id(user), remember_me=bool(getattr(request, "sesame_remember_me", False)))
    setattr(request, _LOGIN_DONE, True)
    _strip_django_login(request)


def on_django_logout(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    if request is None or getattr(request, _LOGOUT_DONE, False) or request.META.get("sesame.auth") is None:
        return
    setattr(request, _LOGOUT_DONE, True)
    handle(request).logout()


def end_other_sessions(user: Any) -> int:
    """After a password change: every session of ``user`` ends, except the
    one of the request that changed it (if it is that user's). Returns how
    many ended; 0 without a registry (logged)."""
    request = current_request.get()
    uid = _user_id(user)
    auth = request.META.get("sesame.auth") if request is not None else None
    if auth is not None and auth.user_id == uid and registry() is not None:
        return int(auth.logout_others())
    store = registry()
    if store is None:
        log.warning("sesame: a password changed but SESAME has no REGISTRY: other sessions stay valid")
        return 0
    return int(store.revoke_all(uid))


def update_session_auth_hash(request: Any, user: Any) -> None:
    """Django's ``update_session_auth_hash`` for sesame: after ``user``
    changed their password in this request, their other sessions end and
    this one stays (idempotent with the password validator's hook)."""
    end_other_sessions(user)
