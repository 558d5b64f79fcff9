"""The Django integration through django.test.Client, on the example project."""

from __future__ import annotations

import os
import re
import tempfile
import time
from typing import Any, Iterator

import pytest

pytest.importorskip("django")

_db = tempfile.NamedTemporaryFile(prefix="sesame-django-", suffix=".sqlite3", delete=False)
_db.close()
os.environ["EXAMPLE_DB"] = _db.name
os.environ["DJANGO_SETTINGS_MODULE"] = "exampleproject.settings"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]*)"')


@pytest.fixture(scope="module", autouse=True)
def database() -> Iterator[None]:
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])  # tests only
    fast.enable()
    call_command("migrate", verbosity=0)
    users = get_user_model()
    users.objects.create_user("alice", password="alice-password", pk=1)
    users.objects.create_user("bob", password="bob-password", pk=2)
    yield
    fast.disable()
    os.unlink(_db.name)


@pytest.fixture(autouse=True)
def empty_registry() -> None:
    registry = settings.SESAME["REGISTRY"]
    for uid in (1, 2):
        registry.revoke_all(uid)


def browser(agent: str = "Test browser") -> Client:
    return Client(enforce_csrf_checks=True, HTTP_USER_AGENT=agent)


def token(client: Client, path: str = "/") -> str:
    found = TOKEN.search(client.get(path).content.decode())
    assert found is not None
    return found.group(1)


def login(client: Client, name: str = "alice", password: str | None = None, remember: bool = False) -> Any:
    data = {"username": name, "password": password or f"{name}-password", "csrfmiddlewaretoken": token(client)}
    if remember:
        data["remember"] = "1"
    return client.post("/login/", data)


def who(client: Client) -> str:
    return client.get("/whoami").content.decode()


def sesame_cookies(client: Client) -> dict[str, str]:
    return {k: m.value for k, m in client.cookies.items() if k.startswith("__Host-sesame-") and m.value}


def django_session(client: Client) -> dict[str, Any]:
    morsel = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return {}
    return dict(SessionStore(session_key=morsel.value).load())


def set_cookie_names(response: Any) -> list[str]:
    return [name for name, morsel in response.cookies.items() if morsel.value]


def test_login_is_a_sesame_session_and_django_session_carries_none() -> None:
    client = browser()
    assert who(client) == "anonymous"
    response = login(client, remember=True)
    assert response.status_code == 302, response.content
    names = set_cookie_names(response)
    assert "__Host-sesame-device" in names and any(n.startswith("__Host-sesame-s-") for n in names)
    assert "csrftoken" not in client.cookies
    assert "private, no-store" in response["Cache-Control"]
    assert who(client) == "user 1"
    page = client.get("/").content.decode()
    assert "Welcome, alice" in page and 'id="who">user 1' in page
    assert not {SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY} & set(django_session(client))
    assert "csrftoken" not in client.cookies
    (entry,) = settings.SESAME["REGISTRY"].list(1)
    assert entry.kind == "remember_me" and entry.device == "Test browser"
    user = get_user_model().objects.get(pk=1)
    assert user.last_login is not None  # user_logged_in was sent


def test_djangos_own_login_view_moves_into_sesame() -> None:
    client = browser()
    form = client.get("/django-login/").content.decode()
    csrf = TOKEN.search(form)
    assert csrf is not None
    response = client.post(
        "/django-login/", {"username": "bob", "password": "bob-password", "csrfmiddlewaretoken": csrf.group(1)}
    )
    assert response.status_code == 302, response.content
    response = client.get("/whoami")
    assert response.content == b"user 2"
    assert not {SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY} & set(django_session(client))
    assert len(settings.SESAME["REGISTRY"].list(2)) == 1
    # The backend answers the sesame session's user for a credential-less authenticate().
    from sesame.django.backends import SesameBackend

    assert SesameBackend().authenticate(response.wsgi_request).pk == 2
    assert SesameBackend().authenticate(response.wsgi_request, username="bob", password="wrong") is None
    kept = sesame_cookies(client)
    # Django's own LogoutView: final through the receiver.
    assert client.post("/django-logout/", {"csrfmiddlewaretoken": token(client)}).status_code == 302
    assert who(client) == "anonymous"
    for name, value in kept.items():
        client.cookies[name] = value
    assert who(client) == "anonymous"
    assert settings.SESAME["REGISTRY"].list(2) == []


def test_logout_is_final() -> None:
    client = browser()
    login(client)
    kept = sesame_cookies(client)
    response = client.post("/account/logout/", {"csrfmiddlewaretoken": token(client)})
    assert response.status_code == 302
    assert who(client) == "anonymous"
    for name, value in kept.items():  # the logged-out token, replayed
        client.cookies[name] = value
    assert who(client) == "anonymous"
    assert client.get("/account/logout/").status_code == 405


def test_sessions_page_revoke_and_logout_others() -> None:
    laptop, phone, tablet = browser("Laptop"), browser("Phone"), browser("Tablet")
    for client in (laptop, phone, tablet):
        login(client)
    page = laptop.get("/account/sessions/").content.decode()
    assert page.count('name="revoke"') == 3 and "(this browser)" in page and "Phone" in page
    phone_id = next(e.session_id for e in settings.SESAME["REGISTRY"].list(1) if e.device == "Phone")
    csrf = token(laptop, "/account/sessions/")
    assert laptop.post("/account/sessions/", {"revoke": phone_id, "csrfmiddlewaretoken": csrf}).status_code == 302
    assert who(phone) == "anonymous" and who(tablet) == "user 1"
    csrf = token(laptop, "/account/sessions/")
    assert laptop.post("/account/sessions/", {"revoke": "not-hex", "csrfmiddlewaretoken": csrf}).status_code == 400
    other_users = settings.SESAME["REGISTRY"]
    bob = browser()
    login(bob, "bob")
    (bobs,) = other_users.list(2)
    csrf = token(laptop, "/account/sessions/")
    laptop.post("/account/sessions/", {"revoke": bobs.session_id, "csrfmiddlewaretoken": csrf})
    assert who(bob) == "user 2"  # another user's session: untouched
    csrf = token(laptop, "/account/sessions/")
    laptop.post("/account/sessions/", {"others": "1", "csrfmiddlewaretoken": csrf})
    assert who(tablet) == "anonymous" and who(laptop) == "user 1"
    anonymous = browser()
    assert anonymous.get("/account/sessions/").status_code == 302  # to LOGIN_URL


def test_password_change_ends_the_other_sessions() -> None:
    here, there = browser("Here"), browser("There")
    login(here, "bob")
    login(there, "bob")
    csrf = token(here, "/password/")
    response = here.post(
        "/password/",
        {
            "old_password": "bob-password",
            "new_password1": "bob-new-password",
            "new_password2": "bob-new-password",
            "csrfmiddlewaretoken": csrf,
        },
    )
    assert response.status_code == 302, response.content
    assert who(there) == "anonymous"
    assert who(here) == "user 2"
    user = get_user_model().objects.get(pk=2)
    user.set_password("bob-password")  # outside any request (as manage.py changepassword)
    user.save()
    assert who(here) == "anonymous"


def test_replayed_framework_cookies_carry_no_login_and_break_no_post() -> None:
    alice, bob, stranger = browser(), browser(), browser()
    login(alice)
    login(bob, "bob")
    bob_token = token(bob, "/account/sessions/")  # the form bob has open
    response = alice.get("/")  # a GET that sets Django's own session cookie
    assert settings.SESSION_COOKIE_NAME in set_cookie_names(response)
    assert "csrftoken" not in set_cookie_names(response)
    replayed = alice.cookies[settings.SESSION_COOKIE_NAME].value
    for victim in (bob, stranger):  # a shared cache hands alice's cookies over
        victim.cookies[settings.SESSION_COOKIE_NAME] = replayed
        victim.cookies["csrftoken"] = "A" * 32
    assert who(bob) == "user 2" and who(stranger) == "anonymous"
    response = bob.post("/account/sessions/", {"others": "1", "csrfmiddlewaretoken": bob_token})
    assert response.status_code == 302, response.content
    assert who(bob) == "user 2"


def test_csrf_is_bound_to_the_device() -> None:
    alice, bob = browser(), browser()
    login(alice)
    login(bob, "bob")
    assert alice.post("/account/sessions/", {"others": "1"}).status_code == 403
    assert alice.post("/account/sessions/", {"others": "1", "csrfmiddlewaretoken": token(bob)}).status_code == 403
    good = token(alice)
    assert alice.post("/account/sessions/", {"others": "1"}, HTTP_X_CSRFTOKEN=good).status_code == 302
    # No device yet: the Fetch-Metadata/Origin rule.
    data = {"username": "alice", "password": "alice-password"}
    assert browser().post("/login/", data, HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert browser().post("/login/", data, HTTP_ORIGIN="https://evil.example").status_code == 403
    fresh = browser()
    assert fresh.post("/login/", data, HTTP_SEC_FETCH_SITE="same-origin").status_code == 302
    assert who(fresh) == "user 1"


def _old_django_login(pk: int) -> str:
    user = get_user_model().objects.get(pk=pk)
    store = SessionStore()
    store[SESSION_KEY] = str(pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return str(store.session_key)


def test_migration_from_djangos_session_cookie() -> None:
    old = _old_django_login(1)
    with override_settings(SESAME={**settings.SESAME, "MIGRATE_UNTIL": time.time() + 3600}):
        client = browser()
        client.cookies[settings.SESSION_COOKIE_NAME] = old
        response = client.get("/whoami")
        assert response.content == b"user 1"  # honoured, read-only:
        assert not [n for n in set_cookie_names(response) if n.startswith("__Host-sesame-")]
        assert SESSION_KEY in django_session(client)
        response = client.post("/account/sessions/", {"others": "1"})  # the first non-GET moves it over
        assert response.status_code == 302, response.content
        assert "__Host-sesame-device" in set_cookie_names(response)
        assert SESSION_KEY not in django_session(client)
        assert who(client) == "user 1"
        assert len(settings.SESAME["REGISTRY"].list(1)) == 1
    late = browser()
    late.cookies[settings.SESSION_COOKIE_NAME] = _old_django_login(2)
    assert who(late) == "anonymous"  # after the window: ignored
    with override_settings(SESAME={**settings.SESAME, "MIGRATE_UNTIL": time.time() - 1}):
        assert who(late) == "anonymous"
