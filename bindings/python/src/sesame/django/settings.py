"""``settings.SESAME`` and the one middleware per process built from it."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from ..registry import Registry
from ..wsgi import SessionHandle

#: The request this thread is serving (for hooks that get no request, such
#: as a password validator's ``password_changed``).
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("sesame_django_request", default=None)

_lock = threading.Lock()
_registry: Registry | None = None


def setting(name: str, default: Any = None) -> Any:
    from django.conf import settings

    return getattr(settings, "SESAME", {}).get(name, default)


def use_registry(registry: Registry | None) -> None:
    """The registry the middleware made, for hooks outside a request."""
    global _registry
    with _lock:
        _registry = registry


def registry() -> Registry | None:
    """The middleware's registry, or one opened from ``SESAME["REGISTRY"]``
    (a management command such as ``changepassword`` runs no middleware)."""
    global _registry
    with _lock:
        if _registry is None:
            value = setting("REGISTRY")
            if isinstance(value, Registry):
                _registry = value
            elif value:
                _registry = Registry(value)
        return _registry


def handle(request: Any) -> SessionHandle:
    found = request.META.get("sesame.auth")
    if found is None:
        raise RuntimeError("sesame: add sesame.django.middleware.SesameMiddleware to MIDDLEWARE")
    return found  # type: ignore[no-any-return]


__all__ = ["current_request", "setting", "registry", "use_registry", "handle"]
