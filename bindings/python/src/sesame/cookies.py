"""CookieRules: the core's cache-proof cookie rules (``docs/COOKIES.md``).

The rules decide which cookies a response sets or deletes and which cache
headers it carries; they are written once, in the Rust core, and reached
through ``sesame_cookie_rules_new`` and ``sesame_request_begin`` /
``sesame_request_finish``. :class:`sesame.wsgi.SessionMiddleware` uses them;
another framework's middleware can too.
"""

from __future__ import annotations

from typing import Any

from . import _native
from ._errors import raise_for
from ._native import NULL, ffi
from .policy import Policy

__all__ = ["CookieRules"]

_lib = _native.lib


def _free_rules(rules: Any, _free: Any = _lib.sesame_cookie_rules_free) -> None:
    """The rules' destructor (``ffi.gc``): runs once the last reference (the
    CookieRules', or a call's in flight) is gone, as the keyring's."""
    try:
        _free(rules)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


def _name(value: str | None, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    # Non-ASCII becomes '?', which the library refuses as InvalidCookieName.
    return value.encode("ascii", "replace")


class CookieRules:
    """One app's cookie rules: the policy sessions are opened under (copied),
    the device cookie name and the session cookie prefix (None: the core's
    ``__Host-sesame-device`` and ``__Host-sesame-s-``), and a counter of
    detections. Raises :class:`sesame.InvalidCookieName` for a name that is
    not an RFC 6265 token or that collides with a framework's own cookie
    (``session``, ``sessionid``, ``csrftoken``, ...). Shared by all threads;
    freed with :meth:`close` or when garbage-collected, once no call uses it.
    """

    __slots__ = ("_rules", "policy", "device_name", "session_prefix", "__weakref__")

    _rules: Any  # a ``sesame_cookie_rules *`` owned through ffi.gc, or NULL once closed

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        device_name: str | None = None,
        session_prefix: str | None = None,
    ) -> None:
        self._rules = NULL
        if policy is None:
            policy = Policy.default()
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a sesame.Policy, not {type(policy).__name__}")
        device = _name(device_name, "device_name")
        prefix = _name(session_prefix, "session_prefix")
        out = ffi.new("sesame_cookie_rules **")
        rc = _lib.sesame_cookie_rules_new(
            policy._c,
            NULL if device is None else device,
            0 if device is None else len(device),
            NULL if prefix is None else prefix,
            0 if prefix is None else len(prefix),
            out,
        )
        if rc:
            raise_for(rc)
        rules = self._rules = ffi.gc(out[0], _free_rules)
        self.policy = policy
        # The names the core settled on (its defaults where none were given).
        device_at, prefix_at = ffi.new("char **"), ffi.new("char **")
        device_len, prefix_len = ffi.new("size_t *"), ffi.new("size_t *")
        rc = _lib.sesame_cookie_rules_names(rules, device_at, device_len, prefix_at, prefix_len)
        if rc:
            raise_for(rc)
        self.device_name: str = ffi.unpack(device_at[0], device_len[0]).decode()
        self.session_prefix: str = ffi.unpack(prefix_at[0], prefix_len[0]).decode()

    @property
    def detections(self) -> int:
        """How many requests so far carried other browsers' session cookies:
        evidence that a shared cache replays responses. Alert on its rate;
        never act on a single one (a client can forge it)."""
        total = ffi.new("uint64_t *")
        rc = _lib.sesame_cookie_rules_detections(self._rules, total)
        if rc:
            raise_for(rc)
        return int(total[0])

    def close(self) -> None:
        """Drops the native rules (freed once no call is using them); any
        later use raises :class:`sesame.NullArgument`."""
        self._rules = NULL

    def __enter__(self) -> CookieRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._rules is NULL else f"detections={self.detections}"
        return f"CookieRules(device_name={self.device_name!r}, session_prefix={self.session_prefix!r}, {state})"
