"""``path("account/", include("sesame.django.urls"))``: ``sessions/`` and ``logout/``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("sessions/", views.sessions, name="sesame-sessions"),
    path("logout/", views.logout, name="sesame-logout"),
]
