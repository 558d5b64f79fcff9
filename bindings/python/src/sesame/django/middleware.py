"""The Django middleware: the request runs inside
:class:`sesame.wsgi.SessionMiddleware` (one implementation of the cookie
rules, the core's), driven with the request's WSGI environ, and the header
lines it adds are copied onto Django's response.

It replaces ``django.contrib.auth.middleware.AuthenticationMiddleware``
(and subclasses it, so the admin's checks accept it): ``request.user`` is
the user of the sesame session, loaded by the first of
``AUTHENTICATION_BACKENDS`` (or ``SESAME["BACKEND"]``).

Migration from Django's session cookie: until ``SESAME["MIGRATE_UNTIL"]``
(unix seconds), a request without a sesame session whose ``sessionid``
holds a valid Django login (``_auth_user_id`` and a verified auth hash) is
served as that user; on a GET read-only (nothing is set), and on any other
method it is turned into a sesame session (the browser gets its device and
session cookies on that non-GET response, and the login keys leave
Django's session). After that time old logins are ignored.
"""

from __future__ import annotations

import time
from http.cookies import Morsel
from typing import Any, Callable, Iterable

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.utils.functional import SimpleLazyObject

from .. import _frameworks
from ..wsgi import SessionMiddleware
from . import settings as sesame_settings
from .auth import _strip_django_login

_REQUEST = "sesame.django.request"
_RESPONSE = "_sesame_response"
_HEADERS = "_sesame_headers"


class _RawMorsel(Morsel):  # type: ignore[type-arg]
    """A Set-Cookie line from the core, sent as it is (Django sends
    ``response.cookies`` with ``OutputString``); name and value are kept
    for Django's test client."""

    def __init__(self, line: str) -> None:
        super().__init__()
        pair, _, attrs = line.partition(";")
        name, _, value = pair.partition("=")
        self.set(name.strip(), value.strip(), value.strip())
        for attr in attrs.split(";"):
            key, _, val = attr.strip().partition("=")
            if key.lower() == "max-age":
                self["max-age"] = val
        self._line = line

    def OutputString(self, attrs: Any = None) -> str:  # noqa: N802 - Morsel's name
        return self._line


def _noop_write(data: bytes) -> None:
    raise RuntimeError("sesame: the Django middleware takes no write()")


class SesameMiddleware(AuthenticationMiddleware):
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        super().__init__(get_response)
        self.wsgi = _frameworks.build_middleware(self._app, sesame_settings.setting)
        sesame_settings.use_registry(self.wsgi.registry)
        self.migrate_until = sesame_settings.setting("MIGRATE_UNTIL")

    def __call__(self, request: Any) -> Any:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["headers"] = headers
            return _noop_write

        request.META[_REQUEST] = request
        token = sesame_settings.current_request.set(request)
        try:
            self.wsgi(request.META, start_response)
        finally:
            sesame_settings.current_request.reset(token)
            request.META.pop(_REQUEST, None)
        response = getattr(request, _RESPONSE)
        self._apply(response, captured.get("headers", []))
        return response

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = environ[_REQUEST]
        handle = sesame_settings.handle(request)
        request.sesame = handle
        request.sesame_middleware = self.wsgi  # its detections counter, for metrics
        # The request's own device secret, before a migration can log in.
        _frameworks.device_csrf_secret(environ)
        if handle.user_id is None and self._migrating() and request.method not in _frameworks.SAFE_METHODS:
            self._migrate(request)
        request.user = SimpleLazyObject(lambda: self._user(request))
        response = self.get_response(request)
        setattr(request, _RESPONSE, response)
        headers = list(response.items())
        setattr(request, _HEADERS, headers)
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return ()

    def _apply(self, response: Any, merged: list[tuple[str, str]]) -> None:
        """Copies what the core added (Set-Cookie lines, cache headers,
        Vary) onto the response; no ``csrftoken`` cookie ever leaves (the
        CSRF secret is the device's)."""
        from django.conf import settings

        response.cookies.pop(settings.CSRF_COOKIE_NAME, None)
        for name, value in merged:
            if name.lower() == "set-cookie":
                morsel = _RawMorsel(value)
                response.cookies[morsel.key] = morsel
            elif response.get(name) != value:
                response[name] = value

    def _backend(self) -> Any:
        from django.conf import settings
        from django.contrib.auth import load_backend

        path = sesame_settings.setting("BACKEND") or settings.AUTHENTICATION_BACKENDS[0]
        return load_backend(path)

    def _user(self, request: Any) -> Any:
        from django.contrib.auth.models import AnonymousUser

        handle = request.sesame
        if handle.user_id is not None:
            user = self._backend().get_user(handle.user_id)
            return user if user is not None else AnonymousUser()
        if self._migrating() and hasattr(request, "session"):
            from django.contrib.auth import get_user

            return get_user(request)  # read-only: Django's own check of its session
        return AnonymousUser()

    def _migrating(self) -> bool:
        return self.migrate_until is not None and time.time() < float(self.migrate_until)

    def _migrate(self, request: Any) -> None:
        """A non-GET with a valid old Django login: a sesame session now."""
        if not hasattr(request, "session"):
            return
        from django.contrib.auth import get_user

        user = get_user(request)
        if getattr(user, "is_authenticated", False):
            request.sesame.login(int(user.pk))
            _strip_django_login(request)
