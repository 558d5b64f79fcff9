"""A Django app on sesame.django behind the e2e cache
(tests/e2e/run.py --origins django).

Its cached GET /page also sets Django's own ``sessionid`` (signed-cookie
sessions: a visit counter) and asks for a CSRF token, which with Django's
own CSRF middleware would set a ``csrftoken`` cookie there. Replayed to
another browser, nothing may log anyone in or out, and no POST may fail
its CSRF check: the login lives in sesame's cookies and Django's CSRF
secret is the device's. Every POST carries the ``csrfmiddlewaretoken`` of
GET /form (uncached).

Needs SESAME_KEYSET and SESAME_LIB; SESAME_REFRESH_AFTER (default 1 s).
"""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bindings", "python", "src"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

logging.basicConfig(stream=sys.stderr, level=logging.INFO)

settings.configure(
    DEBUG=False,
    SECRET_KEY="e2e-django-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "sesame.django"],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "sesame.django.middleware.SesameMiddleware",
        "sesame.django.csrf.CsrfViewMiddleware",
    ],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    AUTHENTICATION_BACKENDS=[f"{__name__}.Backend"],
    SESAME={
        "POLICY": {"refresh_after": int(os.environ.get("SESAME_REFRESH_AFTER", "1"))},
        "REGISTRY": os.environ.get("SESAME_REGISTRY") or None,
    },
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.contrib.auth.signals import user_logged_in  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

import sesame.django  # noqa: E402

# The harness's users are not in a database: no last_login to update.
user_logged_in.disconnect(dispatch_uid="update_last_login")


class User:
    """A user without a database row (the harness logs in any number)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, pk: int) -> None:
        self.pk = self.id = pk


class Backend:
    def get_user(self, user_id: int) -> User:
        return User(int(user_id))


def text(body: str, cache_control: str = "no-store") -> HttpResponse:
    response = HttpResponse(body + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = cache_control
    return response


def whoami(request) -> str:
    return f"user {request.user.pk}" if request.user.is_authenticated else "anonymous"


def page(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    get_token(request)  # Django's own CSRF middleware would set csrftoken here
    return text(whoami(request), "public, max-age=60")


def probe(request):
    return text(whoami(request))


def form(request):
    return text(f"csrf csrfmiddlewaretoken {get_token(request)}")


@require_POST
def login(request):
    try:
        user = int(request.POST.get("user", ""))
    except ValueError:
        return HttpResponse("bad request\n", status=400)
    sesame.django.login(request, User(user), remember_me=True)
    return text(f"user {user}")


@require_POST
def logout(request):
    sesame.django.logout(request)
    return text("anonymous")


@require_POST
def note(request):
    request.session["note"] = request.POST.get("text", "")[:64]
    return text("noted")


def metrics(request):
    return text(f"sesame_detections_total {request.sesame_middleware.detections}")


urlpatterns = [
    path("page", page),
    path("whoami", probe),
    path("form", form),
    path("login", login),
    path("logout", logout),
    path("note", note),
    path("metrics", metrics),
]

application = get_wsgi_application()
