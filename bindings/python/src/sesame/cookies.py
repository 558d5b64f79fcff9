"""CookieRules: the core's cache-proof cookie rules (``docs/COOKIES.md``).

The rules decide which cookies a response sets or deletes and which cache
headers it carries; they are written once, in the Rust core, and reached
through ``sesame_cookie_rules_new`` and ``sesame_request_begin`` /
``sesame_request_finish``. :class:`sesame.wsgi.SessionMiddleware` uses them;
another framework's middleware can too.
"""

from __future__ import annotations

import ctypes

from . import _native
from ._errors import raise_for
from .policy import Policy

__all__ = ["CookieRules"]

_lib = _native.lib


class _Rules(ctypes.c_void_p):
    """The address of one ``sesame_cookie_rules``, and its sole owner: freed
    when the last reference (the CookieRules', or a call's in flight) goes,
    as ``keyring._Ring``."""

    __slots__ = ()

    def __del__(self, _free: object = _lib.sesame_cookie_rules_free) -> None:
        address = self.value
        if address:
            self.value = None
            try:
                _free(address)  # type: ignore[operator]
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __reduce__(self) -> str:
        raise TypeError("sesame cookie rules cannot be copied or pickled")


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

    _rules: _Rules | None

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        device_name: str | None = None,
        session_prefix: str | None = None,
    ) -> None:
        self._rules = None
        if policy is None:
            policy = Policy.default()
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a sesame.Policy, not {type(policy).__name__}")
        device = _name(device_name, "device_name")
        prefix = _name(session_prefix, "session_prefix")
        rules = _Rules()
        rc = _lib.sesame_cookie_rules_new(
            ctypes.byref(policy._c),
            device,
            0 if device is None else len(device),
            prefix,
            0 if prefix is None else len(prefix),
            ctypes.byref(rules),
        )
        if rc:
            raise_for(rc)
        self._rules = rules
        self.policy = policy
        # The names the core settled on (its defaults where none were given).
        device_at, prefix_at = ctypes.c_void_p(), ctypes.c_void_p()
        device_len, prefix_len = ctypes.c_size_t(), ctypes.c_size_t()
        rc = _lib.sesame_cookie_rules_names(
            rules, ctypes.byref(device_at), ctypes.byref(device_len), ctypes.byref(prefix_at), ctypes.byref(prefix_len)
        )
        if rc:
            raise_for(rc)
        self.device_name: str = ctypes.string_at(device_at.value or 0, device_len.value).decode()
        self.session_prefix: str = ctypes.string_at(prefix_at.value or 0, prefix_len.value).decode()

    @property
    def detections(self) -> int:
        """How many requests so far carried other browsers' session cookies:
        evidence that a shared cache replays responses. Alert on its rate;
        never act on a single one (a client can forge it)."""
        total = ctypes.c_uint64()
        rc = _lib.sesame_cookie_rules_detections(self._rules, ctypes.byref(total))
        if rc:
            raise_for(rc)
        return int(total.value)

    def close(self) -> None:
        """Drops the native rules (freed once no call is using them); any
        later use raises :class:`sesame.NullArgument`."""
        self._rules = None

    def __enter__(self) -> CookieRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._rules is None else f"detections={self.detections}"
        return f"CookieRules(device_name={self.device_name!r}, session_prefix={self.session_prefix!r}, {state})"
