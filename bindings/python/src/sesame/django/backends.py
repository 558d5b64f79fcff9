"""An authentication backend for sesame sessions.

``authenticate(request)`` with no credentials answers the user of the
request's sesame session (for code that re-authenticates a request, such as
a REST framework's session authentication); with credentials it is Django's
``ModelBackend``. ``get_user`` is ``ModelBackend``'s, which the middleware
uses for ``request.user``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend


class SesameBackend(ModelBackend):
    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kwargs: Any) -> Any:
        if username is None and password is None and not kwargs and request is not None:
            handle = request.META.get("sesame.auth")
            if handle is None or handle.user_id is None:
                return None
            user = self.get_user(handle.user_id)
            return user if user is not None and self.user_can_authenticate(user) else None
        return super().authenticate(request, username=username, password=password, **kwargs)
