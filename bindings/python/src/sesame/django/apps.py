"""The app config: templates, and the receivers that turn Django's own
login/logout (the admin's, ``django.contrib.auth.views``) into sesame's."""

from __future__ import annotations

from django.apps import AppConfig


class SesameConfig(AppConfig):
    name = "sesame.django"
    label = "sesame"
    verbose_name = "sesame sessions"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from . import auth

        user_logged_in.connect(auth.on_django_login, dispatch_uid="sesame.django.login")
        user_logged_out.connect(auth.on_django_logout, dispatch_uid="sesame.django.logout")
