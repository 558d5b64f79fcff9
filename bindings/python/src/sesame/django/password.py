"""Ending a user's other sessions when the password changes.

Django calls every validator's ``password_changed(password, user)`` from
``user.save()`` after ``set_password``: in the password-change view, the
admin and ``manage.py changepassword`` alike. Listed in
``AUTH_PASSWORD_VALIDATORS``, this one ends every other session of the user
in the registry (all of them when the change was not made by the user's own
request), which is what ``update_session_auth_hash`` does for Django's
session cookie.
"""

from __future__ import annotations

from typing import Any

from .auth import end_other_sessions


class EndSessionsOnPasswordChange:
    def validate(self, password: str, user: Any = None) -> None:
        """Accepts every password: this validator only hooks the change."""

    def password_changed(self, password: str, user: Any = None) -> None:
        if user is not None and user.pk is not None:
            end_other_sessions(user)

    def get_help_text(self) -> str:
        return ""
