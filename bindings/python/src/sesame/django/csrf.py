"""Django's CSRF check with the browser's device secret as its secret.

Django keeps its CSRF secret in a ``csrftoken`` cookie set on GET
responses; a shared cache that replays one hands it to another browser,
whose next POST then fails with a 403. Here the secret is the one the core
derives from the device ID (never set on a GET response), in Django's own
format, so ``{% csrf_token %}``, ``get_token`` and the masked-token check
are Django's, unchanged; no ``csrftoken`` cookie is ever set. A browser
without a device cookie (a login form on a first visit) has no secret: its
unsafe requests are judged by the core's Fetch-Metadata/Origin rule, and
its first POST response gives it a device.

Use it instead of ``django.middleware.csrf.CsrfViewMiddleware``, after
``sesame.django.middleware.SesameMiddleware``.
"""

from __future__ import annotations

from typing import Any

from django.middleware import csrf as django_csrf

from .. import _frameworks

REASON_CROSS_ORIGIN = "Cross-origin request from a browser without a sesame device."


def django_secret(secret: bytes) -> str:
    """A device secret as a Django CSRF secret (CSRF_SECRET_LENGTH
    characters of CSRF_ALLOWED_CHARS)."""
    chars = django_csrf.CSRF_ALLOWED_CHARS
    return "".join(chars[byte % len(chars)] for byte in secret[: django_csrf.CSRF_SECRET_LENGTH])


class CsrfViewMiddleware(django_csrf.CsrfViewMiddleware):
    def _get_secret(self, request: Any) -> str | None:
        secret = _frameworks.device_csrf_secret(request.META)
        return None if secret is None else django_secret(secret)

    def _set_csrf_cookie(self, request: Any, response: Any) -> None:
        """Never: the secret lives in the device cookie the core sets."""

    def process_view(self, request: Any, callback: Any, callback_args: Any, callback_kwargs: Any) -> Any:
        if (
            request.method not in _frameworks.SAFE_METHODS
            and not getattr(request, "csrf_processing_done", False)
            and not getattr(callback, "csrf_exempt", False)
            and not getattr(request, "_dont_enforce_csrf_checks", False)
            and _frameworks.device_csrf_secret(request.META) is None
        ):
            if _frameworks.origin_allowed(request.META):
                return self._accept(request)
            return self._reject(request, REASON_CROSS_ORIGIN)
        return super().process_view(request, callback, callback_args, callback_kwargs)
