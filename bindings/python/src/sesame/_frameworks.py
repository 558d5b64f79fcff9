"""What the Flask and Django integrations share: the middleware built from a
framework's settings, and the two CSRF inputs the core gives per request.

The CSRF rule (``docs/COOKIES.md``) is the core's: a request from a browser
with a device cookie carries a CSRF token masked from the device's secret
(``sesame_request_csrf_secret``); a request without one (a login form on a
first visit) is judged by the Fetch-Metadata/Origin rule
(``sesame_csrf_origin_allowed``). No CSRF secret ever lives in a cookie set
on a GET response, so a shared cache that replays one cannot break another
browser's next POST. :func:`device_csrf_secret` and :func:`origin_allowed`
are the only places the integrations read those two answers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .csrf import csrf_origin_allowed
from .keyring import Keyring
from .policy import Policy
from .wsgi import SessionHandle, SessionMiddleware, WSGIApp

__all__ = ["build_middleware", "device_csrf_secret", "origin_allowed"]

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
_SECRET_KEY = "sesame.csrf_secret"


def _handle(environ: Mapping[str, Any]) -> SessionHandle:
    handle = environ.get("sesame.auth")
    if handle is None:
        raise RuntimeError("sesame: this request did not pass through sesame's middleware")
    return handle  # type: ignore[no-any-return]


def device_csrf_secret(environ: dict[str, Any]) -> bytes | None:
    """The 32-byte CSRF secret the core derives from the device the
    request carried (``SessionHandle.csrf_secret``), or None without one
    (then :func:`origin_allowed` judges the request). Read once, before
    anything can log in, and kept in the environ: Django checks the posted
    token against it after the middleware may have logged a migrating
    user in (a new device), and asks again after ``start_response``."""
    try:
        return environ[_SECRET_KEY]  # type: ignore[no-any-return]
    except KeyError:
        pass
    secret = _handle(environ).csrf_secret
    environ[_SECRET_KEY] = secret
    return secret


def origin_allowed(environ: Mapping[str, Any]) -> bool:
    """The core's Fetch-Metadata/Origin rule for a request without a device."""
    return csrf_origin_allowed(
        environ.get("REQUEST_METHOD") or "GET",
        environ.get("HTTP_SEC_FETCH_SITE"),
        environ.get("HTTP_ORIGIN"),
        environ.get("HTTP_HOST"),
    )


def _policy(value: Any) -> Policy | None:
    if value is None or isinstance(value, Policy):
        return value
    if isinstance(value, Mapping):
        return Policy(**dict(value))
    raise TypeError(f"sesame: the policy setting must be a sesame.Policy or a dict, not {type(value).__name__}")


def build_middleware(app: WSGIApp, setting: Callable[[str, Any], Any], **overrides: Any) -> SessionMiddleware:
    """A :class:`SessionMiddleware` around ``app`` from a framework's
    settings: ``setting(name, default)`` reads ``KEYSET`` (a keyset's text;
    default: ``$SESAME_KEYSET``), ``KEYRING`` (a ready Keyring instead),
    ``REGISTRY`` (a URL or a Registry), ``REGISTRY_CHECK`` (default
    ``every_request`` with a registry: a revoked session is out on its next
    request), ``POLICY`` (a Policy or its fields as a dict),
    ``LOGIN_LIFETIME``, ``REMEMBER_ME_LIFETIME``, ``REGISTRY_FAIL_OPEN``.
    ``overrides`` are passed to the middleware as they are."""
    keyring = setting("KEYRING", None)
    if keyring is None:
        keyset = setting("KEYSET", None)
        keyring = Keyring.from_keyset(keyset) if keyset else Keyring.from_env()
    # A URL is opened by the middleware, with its policy's limits.
    registry = setting("REGISTRY", None)
    options: dict[str, Any] = {
        "policy": _policy(setting("POLICY", None)),
        "registry": registry,
        "registry_check": setting("REGISTRY_CHECK", "every_request" if registry is not None else "on_refresh"),
        "registry_fail_open": bool(setting("REGISTRY_FAIL_OPEN", False)),
        "login_lifetime": setting("LOGIN_LIFETIME", None),
        "remember_me_lifetime": setting("REMEMBER_ME_LIFETIME", None),
    }
    options.update(overrides)
    return SessionMiddleware(app, keyring, **options)
