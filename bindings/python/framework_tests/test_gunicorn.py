"""Both example apps under a real gunicorn on 127.0.0.1 (started here,
stopped by its PID), driven over HTTP by browsers with their own cookie
jars: log in, refresh, list and revoke sessions, log out finally."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import EXAMPLES

GUNICORN = Path(sys.executable).with_name("gunicorn")
LIB = os.environ.get("SESAME_LIB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """A cookie jar (Secure cookies kept on 127.0.0.1, as browsers keep
    them on localhost; Max-Age<=0 deletes) and the forms' CSRF field."""

    def __init__(self, port: int, field: str, agent: str) -> None:
        self.port, self.field, self.agent = port, field, agent
        self.jar: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"User-Agent": self.agent, "Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}
        body = None
        if form is not None:
            form = {**form, self.field: self.token}
            body = "&".join(f"{k}={v}" for k, v in form.items())
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Sec-Fetch-Site"] = "same-origin"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        set_cookies = response.msg.get_all("Set-Cookie") or []
        for line in set_cookies:
            name, _, rest = line.strip().partition("=")
            value = rest.split(";", 1)[0]
            if re.search(r"(?i)max-age=(0|-\d+)", line) or re.search(r"(?i)expires=[^;]*1970", line):
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        found = re.search(rf'name="{self.field}" value="([^"]*)"', text)
        if found:
            self.token = found.group(1)
        return response.status, text, set_cookies

    def who(self) -> str:
        return self.request("GET", "/whoami")[1].strip()


def start(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"gunicorn did not listen: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sesame-gunicorn-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def environment(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SESAME_REFRESH_AFTER"] = "1"
    env["SESAME_REGISTRY"] = f"sqlite://{workdir}/sessions.db"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    if LIB:
        env["SESAME_LIB"] = LIB
    return env


def scenario(port: int, field: str, login_path: str, sessions_path: str, logout_path: str, status: str) -> None:
    laptop, phone = Browser(port, field, "Laptop"), Browser(port, field, "Phone")
    for b in (laptop, phone):
        b.request("GET", "/")
        code, _, cookies = b.request("POST", login_path, {"username": "alice", "password": "alice-password"})
        assert code == 302, (code, cookies)
        assert any(c.startswith("__Host-sesame-device=") for c in cookies)
        assert not [c for c in cookies if c.startswith(("remember_token=", "csrftoken="))]
        assert b.who() == "user 1"
    time.sleep(1.1)  # past refresh_after (1 s, whole seconds): the next GET refreshes
    code, text, cookies = laptop.request("GET", "/whoami")
    assert text.strip() == "user 1"
    assert any(c.strip().startswith("__Host-sesame-s-") for c in cookies), cookies
    code, page, _ = laptop.request("GET", sessions_path)
    assert code == 200 and "Phone" in page and "(this browser)" in page
    phone_id = re.search(r'Phone \(127\.0\.0\.1\).*?name="revoke" value="([0-9a-f]{32})"', page, re.S)
    assert phone_id is not None, page
    code, _, _ = laptop.request("POST", sessions_path, {"revoke": phone_id.group(1)})
    assert code == 302
    assert phone.who() == "anonymous" and laptop.who() == "user 1"
    kept = dict(laptop.jar)
    code, _, _ = laptop.request("POST", logout_path, {})
    assert code == 302
    assert laptop.who() == "anonymous"
    laptop.jar = kept  # the logged-out cookies, replayed
    assert laptop.who() == "anonymous"
    assert status  # which app ran (for the assertion message)


@pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed in this venv")
def test_flask_example_under_gunicorn(workdir: Path) -> None:
    pytest.importorskip("flask_login")
    port = free_port()
    argv = [str(GUNICORN), "-b", f"127.0.0.1:{port}", "-w", "2", "-k", "gthread", "--threads", "2", "--no-control-socket",
            "--chdir", str(EXAMPLES / "flask_app"), "app:app"]  # fmt: skip
    env = environment(workdir)
    env["FLASK_SECRET_KEY"] = "gunicorn-test"  # both workers sign Flask's session alike
    proc = start(argv, env, port, workdir / "gunicorn.log")
    try:
        scenario(port, "csrf_token", "/login", "/sessions", "/logout", "flask")
    finally:
        stop(proc)
    assert proc.returncode == 0, (workdir / "gunicorn.log").read_text()[-2000:]


@pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed in this venv")
def test_django_example_under_gunicorn(workdir: Path) -> None:
    pytest.importorskip("django")
    env = environment(workdir)
    env["EXAMPLE_DB"] = str(workdir / "example.sqlite3")
    env["DJANGO_SETTINGS_MODULE"] = "exampleproject.settings"
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user('alice', password='alice-password', pk=1)\n"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, cwd=EXAMPLES / "django_app", check=True, timeout=120)
    port = free_port()
    argv = [str(GUNICORN), "-b", f"127.0.0.1:{port}", "-w", "2", "-k", "gthread", "--threads", "2", "--no-control-socket",
            "--chdir", str(EXAMPLES / "django_app"), "exampleproject.wsgi:application"]  # fmt: skip
    proc = start(argv, env, port, workdir / "gunicorn.log")
    try:
        scenario(port, "csrfmiddlewaretoken", "/login/", "/account/sessions/", "/account/logout/", "django")
    finally:
        stop(proc)
    assert proc.returncode == 0, (workdir / "gunicorn.log").read_text()[-2000:]
