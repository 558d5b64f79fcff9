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
