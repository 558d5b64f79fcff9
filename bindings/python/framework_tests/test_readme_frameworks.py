"""The README's Flask quick start runs as written, and its Django settings
are the example project's (which test_django.py tests)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def block(info: str) -> str:
    found = re.findall(rf"^```{re.escape(info)}\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(found) == 1, info
    return str(found[0])


def test_flask_quickstart(tmp_path: Path) -> None:
    pytest.importorskip("flask_login")
    path = tmp_path / "readme_flask_app.py"
    path.write_text(block("python flask-quickstart"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("readme_flask_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_flask_app"] = module
    spec.loader.exec_module(module)
    app = module.app

    def token(client: Any, path: str = "/") -> str:
        found = re.search(r'name="csrf_token" value="([^"]*)"', client.get(path).get_data(as_text=True))
        assert found is not None
        return found.group(1)

    laptop, phone = app.test_client(), app.test_client()
    assert laptop.get("/").get_data(as_text=True).startswith("anonymous")
    for client, agent in ((laptop, "Laptop"), (phone, "Phone")):
        response = client.post("/login", data={"csrf_token": token(client), "remember": "1"}, headers={"User-Agent": agent})
        assert response.status_code == 302
        assert client.get("/").get_data(as_text=True).startswith("user 42")
    page = laptop.get("/sessions").get_data(as_text=True)
    assert "Phone" in page and "(this browser)" in page
    phone_id = re.search(r'Phone \(.*?name="revoke" value="([0-9a-f]{32})"', page, re.S)
    assert phone_id is not None
    laptop.post("/sessions", data={"csrf_token": token(laptop, "/sessions"), "revoke": phone_id.group(1)})
    assert phone.get("/").get_data(as_text=True).startswith("anonymous")
    assert laptop.post("/logout", data={"csrf_token": token(laptop)}).status_code == 302
    assert laptop.get("/").get_data(as_text=True).startswith("anonymous")


def test_django_settings_are_the_example_projects() -> None:
    pytest.importorskip("django")
    readme: dict[str, Any] = {}
    exec(block("python django-settings"), readme)  # noqa: S102 - the README's own text
    import exampleproject.settings as example

    for name in ("INSTALLED_APPS", "MIDDLEWARE", "AUTHENTICATION_BACKENDS", "AUTH_PASSWORD_VALIDATORS"):
        assert readme[name] == getattr(example, name), name
    assert set(readme["SESAME"]) <= {"KEYSET", "REGISTRY", "MIGRATE_UNTIL", "POLICY"}
