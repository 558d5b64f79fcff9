"""The README's code runs as written (package-smoke.sh runs the quick start
against an installed package; this runs it against the package under test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(info: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{re.escape(info)}\n(.*?)^```$", text, flags=re.S | re.M)


def test_quickstart_runs(tmp_path: Path) -> None:
    found = blocks("python quickstart")
    assert len(found) == 1
    script = tmp_path / "quickstart.py"
    script.write_text(found[0], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "user 42" in result.stdout and "rejected:" in result.stdout and "line 2" in result.stdout


def test_wsgi_example_serves_a_login(tmp_path: Path) -> None:
    (app,) = [block for block in blocks("python") if "SessionMiddleware(view" in block]
    (tmp_path / "readme_app.py").write_text(app, encoding="utf-8")
    probe = """
import wsgiref.util
import readme_app

jar = {}

def call(method, path):
    environ = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ["REQUEST_METHOD"] = method
    environ["PATH_INFO"] = path
    if jar:
        environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    seen = {}
    def start_response(status, headers, exc_info=None):
        seen["headers"] = headers
    body = b"".join(readme_app.app(environ, start_response))
    for name, value in seen["headers"]:
        if name == "Set-Cookie":
            key, _, rest = value.partition("=")
            if "Max-Age=0;" in rest:
                jar.pop(key, None)
            else:
                jar[key] = rest.split(";")[0]
    return body.split(b"\\n")[0]

assert call("GET", "/") == b"user: None"
assert call("POST", "/login") == b"user: 42", jar
assert call("GET", "/") == b"user: 42"
assert call("GET", "/login") == b"user: 42"  # a GET does nothing here
assert call("POST", "/logout-everywhere") == b"user: None"
assert readme_app.cutoffs and call("GET", "/") == b"user: None"
assert call("POST", "/login") == b"user: 42"
assert call("POST", "/logout") == b"user: None"
assert call("GET", "/") == b"user: None"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_wsgi_registry_example_lists_and_revokes(tmp_path: Path) -> None:
    (app,) = blocks("python wsgi-registry")
    (tmp_path / "readme_registry_app.py").write_text(app, encoding="utf-8")
    probe = """
import io
import re
import wsgiref.util
from sesame.wsgi import SessionMiddleware
import readme_registry_app as m

def login_view(environ, start_response):
    environ["sesame.auth"].login(42)
    start_response("200 OK", [])
    return [b""]

login_app = SessionMiddleware(login_view, m.ring, registry=m.app.registry, registry_check="every_request")

def call(app, jar, method, agent, body=b""):
    environ = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, HTTP_USER_AGENT=agent, REMOTE_ADDR="127.0.0.1", CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    if jar:
        environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    seen = {}
    def start_response(status, headers, exc_info=None):
        seen["headers"] = headers
    out = b"".join(app(environ, start_response)).decode()
    for name, value in seen["headers"]:
        if name == "Set-Cookie":
            key, _, rest = value.partition("=")
            if "Max-Age=0;" in rest:
                jar.pop(key, None)
            else:
                jar[key] = rest.split(";")[0]
    return out

laptop, phone = {}, {}
call(login_app, laptop, "POST", "Laptop")
call(login_app, phone, "POST", "Phone")
page = call(m.app, laptop, "GET", "Laptop")
assert page.count("<li>") == 2 and "Laptop (127.0.0.1)" in page and "(this browser)" in page, page
other = re.search(r'<li>Phone.*?value="([0-9a-f]{32})"', page).group(1)
assert "<li>" in call(m.app, phone, "GET", "Phone")
page = call(m.app, laptop, "POST", "Laptop", f"revoke={other}".encode())
assert page.count("<li>") == 1, page
assert "Not logged in" in call(m.app, phone, "GET", "Phone")  # every_request: at once
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
