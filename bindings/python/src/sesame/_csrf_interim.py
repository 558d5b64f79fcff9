"""Interim stand-ins for the core's CSRF calls until this branch carries
them (``sesame_request_csrf_secret``, ``sesame_csrf_origin_allowed``).
Deleted once the binding exposes ``SessionHandle.csrf_secret`` and
``sesame.csrf_origin_allowed``."""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie
from typing import Any, Mapping
from urllib.parse import urlsplit

_DEVICE = "__Host-sesame-device"


def csrf_secret(environ: Mapping[str, Any]) -> bytes | None:
    cookie = SimpleCookie()
    try:
        cookie.load(environ.get("HTTP_COOKIE") or "")
    except Exception:  # noqa: BLE001 - a bad header: no device
        return None
    morsel = cookie.get(_DEVICE)
    if morsel is None or len(morsel.value) < 16:
        return None
    return hmac.new(b"sesame interim csrf", morsel.value.encode(), hashlib.sha256).digest()


def csrf_origin_allowed(method: str, sec_fetch_site: str | None, origin: str | None, host: str | None) -> bool:
    if method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return True
    if sec_fetch_site is not None:
        return sec_fetch_site in ("same-origin", "none")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (host or "").lower()
