"""CSRF protection a shared cache cannot break (docs/COOKIES.md): a
request's device secret (``environ["sesame.auth"].csrf_secret``, also on the
ASGI handle) and the origin rule for requests that carry no device yet."""

from __future__ import annotations

from typing import Any

from . import _native
from ._errors import raise_for
from ._native import NULL, ffi

__all__ = ["csrf_origin_allowed"]


def _header(value: str | bytes | None) -> tuple[Any, int]:
    if value is None:
        return NULL, 0
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else bytes(value)
    return raw, len(raw)


def csrf_origin_allowed(
    method: str,
    sec_fetch_site: str | bytes | None = None,
    origin: str | bytes | None = None,
    host: str | bytes | None = None,
) -> bool:
    """Whether a state-changing request may proceed judged by where it came
    from (the core's rule, as Go's CrossOriginProtection): for requests
    without a device, whose CSRF token has no device secret to be checked
    against. Each header is its value, or None when absent."""
    m, m_len = _header(method)
    site, site_len = _header(sec_fetch_site)
    o, o_len = _header(origin)
    h, h_len = _header(host)
    allowed = ffi.new("int *")
    rc = _native.lib.sesame_csrf_origin_allowed(m, m_len, site, site_len, o, o_len, h, h_len, allowed)
    if rc:
        raise_for(rc)
    return bool(allowed[0] == 1)
