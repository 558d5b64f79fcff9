"""A Django project on sesame sessions: the login lives in sesame's
cookies, Django's session keeps only messages, and CSRF's secret is the
device's (no ``csrftoken`` cookie).

Environment: SESAME_KEYSET (required), SESAME_REGISTRY (default memory://;
sqlite:///path for several processes), EXAMPLE_DB (the SQLite file),
SESAME_MIGRATE_UNTIL (unix seconds: until then old Django logins are
honoured and moved over), SESAME_REFRESH_AFTER (seconds; default 15 min)."""

import os
from pathlib import Path

import sesame

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "sesame.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",  # messages only
    "sesame.django.middleware.SesameMiddleware",  # request.user from the sesame session
    "sesame.django.csrf.CsrfViewMiddleware",  # CSRF secret = the device's
    "django.contrib.messages.middleware.MessageMiddleware",
]

SESAME = {
    # One Registry object per process, shared by every request (and by
    # Django's test clients).
    "REGISTRY": sesame.Registry(os.environ.get("SESAME_REGISTRY", "memory://")),
    "POLICY": {"refresh_after": int(os.environ["SESAME_REFRESH_AFTER"])} if os.environ.get("SESAME_REFRESH_AFTER") else None,
    "MIGRATE_UNTIL": float(os.environ["SESAME_MIGRATE_UNTIL"]) if os.environ.get("SESAME_MIGRATE_UNTIL") else None,
}

AUTHENTICATION_BACKENDS = ["sesame.django.backends.SesameBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "sesame.django.password.EndSessionsOnPasswordChange"},
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

ROOT_URLCONF = "exampleproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", str(BASE_DIR / "example.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
WSGI_APPLICATION = "exampleproject.wsgi.application"
