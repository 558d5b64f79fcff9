"""Stock Django behind the e2e cache: the control for the django origin
(tests/e2e/run.py --origins django-stock).

The same views as django_sesame.py on Django's own parts: the login in
Django's session (signed-cookie sessions, saved on every request, so every
cached GET /page carries a ``sessionid``) and Django's CsrfViewMiddleware,
whose ``csrftoken`` cookie the cached page sets too. It passes when the
harness sees CSRF failures: another browser's replayed ``csrftoken``
breaking a POST, which the django origin must never show.
"""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="e2e-django-stock-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.sessions"],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    SESSION_SAVE_EVERY_REQUEST=True,
    DATABASES={},
    USE_TZ=True,
    LOGGING={"version": 1, "disable_existing_loggers": False},
)
django.setup()

from django.http import HttpResponse  # noqa: E402
from django.middleware.csrf import get_token, rotate_token  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402


def text(body: str, cache_control: str = "no-store") -> HttpResponse:
    response = HttpResponse(body + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = cache_control
    return response


def whoami(request) -> str:
    user = request.session.get("uid")
    return f"user {user}" if user else "anonymous"


def page(request):
    get_token(request)
    return text(whoami(request), "public, max-age=60")


def form(request):
    return text(f"csrf csrfmiddlewaretoken {get_token(request)}")


@require_POST
def login(request):
    try:
        user = int(request.POST.get("user", ""))
    except ValueError:
        return HttpResponse("bad request\n", status=400)
    request.session.cycle_key()  # as django.contrib.auth.login does
    rotate_token(request)
    request.session["uid"] = user
    return text(f"user {user}")


@require_POST
def logout(request):
    request.session.flush()
    return text("anonymous")


@require_POST
def note(request):
    return text("noted")


urlpatterns = [
    path("page", page),
    path("whoami", lambda request: text(whoami(request))),
    path("form", form),
    path("login", login),
    path("logout", logout),
    path("note", note),
    path("metrics", lambda request: text("sesame_detections_total -1")),
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
