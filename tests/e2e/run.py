#!/usr/bin/env python3
"""End-to-end: sesame's cookie rules behind a real misconfigured cache.

nginx plays the CDN of the incident (docs/COOKIES.md): its cache key is the
path alone (`proxy_cache_key $uri`), it ignores Cache-Control, Expires,
Set-Cookie, Vary and X-Accel-Expires, and keeps every 200 for 1 s. It caches
GET /page only; /whoami (the probe), /metrics and every POST go straight to
the origin. Browsers (threads, each with its own cookie jar written here)
log in by POST, hammer GET /page, and probe GET /whoami; then each logs out
by POST at a staggered moment and goes on hammering and probing.

Counted per origin:

* requests, cache hits (X-Cache: HIT, STALE, UPDATING or REVALIDATED);
* replayed foreign Set-Cookies: a Set-Cookie (name=value, deletions
  excluded) that browser B received on a cache hit, which the origin had
  issued on a response that went to another browser A (the first browser to
  receive that exact name=value on a response that did not come from the
  cache). Own replays: the same, with A == B.
* swaps: probes (GET /whoami, never cached) that answer "user X" for an X
  other than the browser's own user;
* involuntary logouts: probes answering "anonymous" or 4xx/5xx while the
  browser is logged in; resurrections: probes answering the browser's own
  user after it logged out;
* leftovers: session cookies (the origin's session prefix) still in a jar
  right after its POST /logout response (rule 5 and 6 delete them all);
* errors: 4xx/5xx on any request, transport failures;
* max Cookie: the longest Cookie header any browser sent (nginx and
  gunicorn refuse more than 8 KiB); max jar: the most cookies one jar held
  (foreign ones pile up between two POSTs, at most one per replayed
  refresh: the cache stores about one /page response per second);
* detections: the origin's counter (/metrics), else its log lines;
* others' pages: GET /page bodies naming another user. That is the cached
  page itself, which no cookie rule can protect (docs/COOKIES.md, "What is
  not protected"): informational only.

The framework origins (flask: Flask + Flask-Login on sesame.flask; django:
sesame.django) also set the frameworks' own cookies on the cached GET /page
(Flask's session and Flask-Login's remember_token; Django's sessionid, and
a CSRF token asked for there), and every POST carries the CSRF token of the
form the browser last fetched (GET /form, uncached), including a POST /note
every few dozen requests; CSRF fail/POSTs counts those answered 400/403.
django-stock, the same app on stock Django (its session and csrftoken
cookie), is their control: it passes when it shows CSRF failures. rails
(Rails 6.1 + Devise on sesame's Railtie, tests/rails/app) is a framework
origin too, its cached page asking for a CSRF token as well; rails_cookie,
the same app on Rails' CookieStore alone, its control (Rails answers a bad
CSRF token with 422).

A sesame origin passes with 0 swaps, 0 involuntary logouts, 0
resurrections, 0 leftovers, 0 errors (0 CSRF failures), a Cookie header under 8 KiB, ≥1 cache
hit, ≥1 replayed foreign Set-Cookie (the cache did replay) and ≥1 detection.
The BASELINE origin (Rack's cookie session) passes when it shows swaps: that
proves the harness catches the incident.

Python 3 standard library only. Every server binds 127.0.0.1, every loop is
bounded in time and count, every process is stopped by its PID on exit.

    tests/e2e/run.py --origins c,baseline --users 2 --duration 20 --crowd 20
"""

from __future__ import annotations

import argparse
import atexit
import email.utils
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CACHE_HITS = {"HIT", "STALE", "UPDATING", "REVALIDATED"}
CSRF_REFUSED = (400, 403, 422)  # Flask-WTF, Django, Rails
COOKIE_LIMIT = 8192
MAX_REQUESTS_PER_BROWSER = 200_000
HTTP_TIMEOUT = 10.0

# ---------------------------------------------------------------- processes

_procs: list[subprocess.Popen] = []


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def _stop_all() -> None:
    while _procs:
        _stop(_procs.pop())


def _on_signal(signum, _frame):
    _stop_all()
    sys.exit(128 + signum)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def spawn(argv: list[str], log: str, env: dict | None = None, cwd: str | None = None) -> subprocess.Popen:
    out = open(log, "ab")
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    finally:
        out.close()
    _procs.append(proc)
    return proc


def release(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    _stop(proc, sig)
    if proc in _procs:
        _procs.remove(proc)
    return proc.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, log: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / 0.1) + 1):
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(proc.args)} exited ({proc.returncode}); log:\n{tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return  # up (an app error shows as 5xx in the run)
        except OSError as e:
            last = e
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise RuntimeError(f"127.0.0.1:{port}{path} not ready after {timeout:.0f} s ({last}); log:\n{tail(log)}")


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- cookie jar


@dataclass
class Cookie:
    name: str
    value: str
    path: str
    expires: float | None  # monotonic deadline, None: session cookie
    created: int
    accessed: int


class Jar:
    """A browser's cookies for one host (127.0.0.1), as RFC 6265bis and
    browsers handle them: 127.0.0.1 counts as a secure context (as browsers
    treat localhost), so Secure and __Host- cookies are kept over http;
    __Host- needs Secure, Path=/ and no Domain, __Secure- needs Secure;
    Max-Age (winning over Expires) ≤ 0 or an Expires in the past deletes; at
    most 50 cookies, the least recently used evicted first."""

    LIMIT = 50

    def __init__(self) -> None:
        self.cookies: dict[tuple[str, str], Cookie] = {}
        self.clock = 0  # creation/access order
        self.evicted: list[str] = []
        self.rejected = 0

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _purge(self, now: float) -> None:
        for key in [k for k, c in self.cookies.items() if c.expires is not None and c.expires <= now]:
            del self.cookies[key]

    def set_cookie(self, header: str, request_path: str) -> tuple[str, str, bool] | None:
        """Stores one Set-Cookie; returns (name, value, is_deletion) or None if refused."""
        now = time.monotonic()
        parts = header.split(";")
        pair = parts[0].strip()
        if "=" not in pair:
            self.rejected += 1
            return None
        name, value = (s.strip() for s in pair.split("=", 1))
        if not name:
            self.rejected += 1
            return None
        attrs: dict[str, str] = {}
        for part in parts[1:]:
            k, _, v = part.strip().partition("=")
            attrs[k.strip().lower()] = v.strip()
        secure = "secure" in attrs
        path = attrs.get("path") or ""
        if not path.startswith("/"):
            path = request_path.rsplit("/", 1)[0] or "/"
        domain = attrs.get("domain", "").lstrip(".").lower()
        if domain and domain != "127.0.0.1":
            self.rejected += 1
            return None
        if name.startswith("__Host-") and not (secure and path == "/" and "domain" not in attrs):
            self.rejected += 1
            return None
        if name.startswith("__Secure-") and not secure:
            self.rejected += 1
            return None
        expires: float | None = None
        if "max-age" in attrs and re.fullmatch(r"-?\d+", attrs["max-age"]):
            expires = now + int(attrs["max-age"])
            if int(attrs["max-age"]) <= 0:
                expires = now - 1
        elif "expires" in attrs:
            try:
                when = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
                expires = now + (when - time.time())
            except (TypeError, ValueError, OverflowError):
                expires = None
        key = (name, path)
        if expires is not None and expires <= now:
            self.cookies.pop(key, None)
            return name, value, True
        old = self.cookies.get(key)
        tick = self._tick()
        self.cookies[key] = Cookie(name, value, path, expires, old.created if old else tick, tick)
        self._purge(now)
        while len(self.cookies) > self.LIMIT:
            victim = min(self.cookies.values(), key=lambda c: c.accessed)
            self.evicted.append(victim.name)
            del self.cookies[(victim.name, victim.path)]
        return name, value, False

    def header(self, request_path: str) -> str:
        self._purge(time.monotonic())
        chosen = [c for c in self.cookies.values() if request_path == c.path or request_path.startswith(c.path.rstrip("/") + "/")]
        chosen.sort(key=lambda c: (-len(c.path), c.created))
        tick = self._tick()
        for c in chosen:
            c.accessed = tick
        return "; ".join(f"{c.name}={c.value}" for c in chosen)

    def names(self) -> list[str]:
        self._purge(time.monotonic())
        return [c.name for c in self.cookies.values()]


# ---------------------------------------------------------------- the run


@dataclass
class Stats:
    requests: int = 0
    hits: int = 0
    set_cookies_on_hits: int = 0
    probes: int = 0
    swaps: int = 0
    logouts: int = 0
    resurrections: int = 0
    leftovers: int = 0
    errors: int = 0
    transport_retries: int = 0
    harness_errors: list[str] = field(default_factory=list)
    max_cookie: int = 0
    max_jar: int = 0
    pages_of_others: int = 0
    evictions: int = 0
    csrf_posts: int = 0  # framework origins: POSTs that carried a CSRF form token
    csrf_failures: int = 0  # ... answered 400/403
    swapped_browsers: int = 0
    logged_out_browsers: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, other: "Stats") -> None:
        for name in ("requests", "hits", "set_cookies_on_hits", "probes", "swaps", "logouts", "resurrections",
                     "leftovers", "errors", "transport_retries", "pages_of_others", "evictions",
                     "csrf_posts", "csrf_failures"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_cookie = max(self.max_cookie, other.max_cookie)
        self.max_jar = max(self.max_jar, other.max_jar)
        self.harness_errors += other.harness_errors
        self.swapped_browsers += 1 if other.swaps else 0
        self.logged_out_browsers += 1 if other.logouts else 0
        seen = {x.split(": ", 1)[1].split("'")[0] for x in self.samples}
        for sample in other.samples:
            if sample.split(": ", 1)[1].split("'")[0] not in seen and len(self.samples) < 6:
                self.samples.append(sample)


class Issuance:
    """Which browser the origin first gave each Set-Cookie name=value to
    (responses not from the cache), and what each browser got on hits.
    Resolved after the run, when every browser has recorded its misses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: dict[str, int] = {}
        self.on_hits: list[tuple[int, str]] = []

    def issued(self, browser: int, pair: str) -> None:
        with self.lock:
            self.owner.setdefault(pair, browser)

    def replayed(self, browser: int, pair: str) -> None:
        with self.lock:
            self.on_hits.append((browser, pair))

    def resolve(self) -> tuple[int, int, int]:
        foreign = own = unknown = 0
        for browser, pair in self.on_hits:
            owner = self.owner.get(pair)
            if owner is None:
                unknown += 1
            elif owner == browser:
                own += 1
            else:
                foreign += 1
        return foreign, own, unknown

    def foreign_with_prefix(self, prefix: str) -> int:
        """Replayed foreign Set-Cookies of session cookies (names starting
        with ``prefix``): each one lands in a browser's jar under a name its
        device does not read, and that browser's next request is a
        detection. A framework's own cookies replayed are not."""
        return sum(
            1
            for browser, pair in self.on_hits
            if pair.startswith(prefix) and self.owner.get(pair) not in (None, browser)
        )


class Browser:
    def __init__(self, index: int, user: int, port: int, issuance: Issuance, session_prefix: str | None,
                 csrf: bool = False) -> None:
        self.index, self.user, self.port = index, user, port
        # Framework origins (flask, django): every POST carries the CSRF
        # token of the form the browser last fetched (GET /form, uncached),
        # as a browser submitting a page's form does.
        self.csrf = csrf
        self.csrf_field = ""
        self.csrf_token = ""
        self.jar = Jar()
        self.issuance = issuance
        self.session_prefix = session_prefix
        self.conn: http.client.HTTPConnection | None = None
        self.stats = Stats()
        self.logged_in = False
        self.kinds: set[str] = set()

    def note(self, text: str, kind: str) -> None:
        """Keeps the first example of each kind of finding."""
        if kind not in self.kinds:
            self.kinds.add(kind)
            self.stats.samples.append(f"browser {self.index} (user {self.user}): {text}")

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, str]:
        headers = {"User-Agent": f"sesame-e2e/{self.index}"}
        cookie = self.jar.header(path)
        if cookie:
            headers["Cookie"] = cookie
            self.stats.max_cookie = max(self.stats.max_cookie, len(cookie))
        if self.csrf and method == "POST" and body is None:
            body = ""  # the form's token goes in the body
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if self.csrf:
                headers["Sec-Fetch-Site"] = "same-origin"
                if self.csrf_field:
                    body = (body + "&" if body else "") + f"{self.csrf_field}={self.csrf_token}"
        data = body.encode() if body is not None else None
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                break
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                self.stats.transport_retries += 1
                if attempt == 2:
                    raise RuntimeError(f"{method} {path}: {e!r}") from e
                time.sleep(0.05)
        self.stats.requests += 1
        cache = (resp.getheader("X-Cache") or "").upper()
        hit = cache in CACHE_HITS
        if hit:
            self.stats.hits += 1
        if resp.status >= 400:
            self.stats.errors += 1
            self.note(f"{method} {path} -> {resp.status}", "error")
        if self.csrf and method == "POST":
            self.stats.csrf_posts += 1
            if resp.status in CSRF_REFUSED:
                self.stats.csrf_failures += 1
                self.note(f"POST {path} -> {resp.status} (CSRF)", "csrf")
        before = len(self.jar.evicted)
        for line in resp.msg.get_all("Set-Cookie") or []:
            stored = self.jar.set_cookie(line, path)
            if stored is None or stored[2]:
                continue
            pair = f"{stored[0]}={stored[1]}"
            if hit:
                self.stats.set_cookies_on_hits += 1
                self.issuance.replayed(self.index, pair)
            else:
                self.issuance.issued(self.index, pair)
        self.stats.evictions += len(self.jar.evicted) - before
        self.stats.max_jar = max(self.stats.max_jar, len(self.jar.cookies))
        return resp.status, text.strip(), cache

    def fetch_form(self) -> None:
        """GET /form: 'csrf FIELD TOKEN' (TOKEN empty before the browser has a device)."""
        status, text, _ = self.request("GET", "/form")
        parts = text.split(" ")
        if status != 200 or len(parts) not in (2, 3) or parts[0] != "csrf":
            self.stats.harness_errors.append(f"browser {self.index}: /form -> {status} {text!r}")
            return
        self.csrf_field, self.csrf_token = parts[1], parts[2] if len(parts) == 3 else ""

    def note_post(self) -> None:
        """A POST that is not a login or logout, with the form's token."""
        status, text, _ = self.request("POST", "/note", "text=hello")
        if status == 200 and text != "noted":
            self.stats.harness_errors.append(f"browser {self.index}: /note -> {status} {text!r}")

    def probe(self) -> None:
        status, text, _ = self.request("GET", "/whoami")
        self.stats.probes += 1
        if status >= 400:
            if self.logged_in:
                self.stats.logouts += 1
                self.note(f"probe answered {status} while logged in", "logout")
            return
        m = re.fullmatch(r"user (\d+)", text)
        if m and int(m.group(1)) != self.user:
            self.stats.swaps += 1
            self.note(f"probe says {text!r}" + ("" if self.logged_in else " after its logout"), "swap")
        elif m and not self.logged_in:
            self.stats.resurrections += 1
            self.note("probe says its own user after its logout", "resurrection")
        elif text == "anonymous" and self.logged_in:
            self.stats.logouts += 1
            self.note("probe says anonymous while logged in", "logout")
        elif not m and text != "anonymous":
            self.stats.harness_errors.append(f"browser {self.index}: unexpected /whoami answer {text!r}")

    def run(self, start: float, logout_at: float, end: float, probe_every: int) -> None:
        try:
            if self.csrf:
                self.request("GET", "/page")  # a first page, maybe from the cache
                self.fetch_form()
            status, text, _ = self.request("POST", "/login", f"user={self.user}")
            if status != 200 or text != f"user {self.user}":
                if not (self.csrf and status in CSRF_REFUSED):  # else counted as a CSRF failure
                    self.stats.harness_errors.append(f"browser {self.index}: login -> {status} {text!r}")
                return
            self.logged_in = True
            if self.csrf:
                self.fetch_form()  # the login rotated the device, and so the token
            n = 0
            while time.monotonic() < end and n < MAX_REQUESTS_PER_BROWSER:
                if self.logged_in and time.monotonic() >= logout_at:
                    status, text, _ = self.request("POST", "/logout")
                    if status != 200 or text != "anonymous":
                        if not (self.csrf and status in CSRF_REFUSED):  # else counted as a CSRF failure
                            self.stats.harness_errors.append(f"browser {self.index}: logout -> {status} {text!r}")
                    self.logged_in = False
                    if self.csrf:
                        self.fetch_form()
                    if self.session_prefix:
                        left = [c for c in self.jar.names() if c.startswith(self.session_prefix)]
                        self.stats.leftovers += len(left)
                        if left:
                            self.note(f"{len(left)} session cookie(s) left in the jar after logout", "leftover")
                n += 1
                if self.csrf and n % (probe_every * 7) == 0:
                    self.note_post()  # with the token of the form fetched earlier, after many cached pages
                    continue
                if n % probe_every == 0:
                    self.probe()
                    continue
                status, text, _ = self.request("GET", "/page")
                m = re.fullmatch(r"user (\d+)", text)
                if m and int(m.group(1)) != self.user:
                    self.stats.pages_of_others += 1  # the cached page itself: not protectable by cookies
            self.probe()
        except Exception as e:  # noqa: BLE001 - reported and failed on
            self.stats.harness_errors.append(f"browser {self.index}: {e!r}")
        finally:
            if self.conn is not None:
                self.conn.close()


# ---------------------------------------------------------------- origins


@dataclass
class Origin:
    name: str
    sesame: bool
    session_prefix: str | None
    crowd: bool = True  # also run with --crowd browsers (the Cookie size check)
    csrf: bool = False  # a framework origin: CSRF forms on every POST

    def start(self, port: int, work: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
        log = os.path.join(work, f"{self.name}.log")
        env = dict(os.environ)
        env["SESAME_REFRESH_AFTER"] = str(args.refresh_after)
        env["SESAME_KEYSET"] = args.keyset
        lib = os.path.join(ROOT, "target", "release", "libsesame.so")
        env.setdefault("SESAME_LIB", lib)
        origins = os.path.join(HERE, "origins")
        if self.name == "c":
            argv = args.c_wrapper.split() + [args.c_server, str(port)]
        elif self.name == "baseline":
            argv = [args.puma, "-e", "production", "-b", f"tcp://127.0.0.1:{port}", "-t", "4:4",
                    os.path.join(origins, "baseline.ru")]
        elif self.name == "rack":
            argv = [args.puma, "-e", "production", "-b", f"tcp://127.0.0.1:{port}", "-t", "4:4",
                    os.path.join(origins, "rack_sesame.ru")]
        elif self.name == "wsgi":
            argv = [args.gunicorn, "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread", "--threads", "4",
                    "--chdir", origins, "wsgi_sesame:application"]
        elif self.name in ("rails", "rails_cookie"):
            # Rails 6.1 + Devise (tests/rails/app): on sesame's Railtie, with
            # a SQLite session registry; rails_cookie on CookieStore alone.
            env["APP_DB"] = os.path.join(work, "rails.db")
            env["SESAME_REGISTRY"] = "sqlite://" + os.path.join(work, "rails-sessions.db")
            env["APP_REFRESH_AFTER"] = str(args.refresh_after)
            env.setdefault("SECRET_KEY_BASE", os.urandom(32).hex())
            if self.name == "rails_cookie":
                env["APP_MODE"] = "cookie"
            argv = [args.puma, "-e", "production", "-b", f"tcp://127.0.0.1:{port}", "-t", "4:4",
                    os.path.join(ROOT, "tests", "rails", "app", "config.ru")]
        elif self.name == "asgi":
            # The binding's example Starlette app, as it is (a memory://
            # registry unless SESAME_REGISTRY says otherwise).
            env.setdefault("SESAME_REGISTRY", "memory://")
            env["SESAME_REFRESH_AFTER"] = str(args.refresh_after)
            argv = [args.uvicorn, "--factory", "--app-dir", os.path.join(ROOT, "bindings", "python", "examples"),
                    "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "asgi_app:from_env"]
        elif self.name in ("flask", "django", "django-stock"):
            module = "django_stock" if self.name == "django-stock" else f"{self.name}_sesame"
            argv = [args.gunicorn, "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread", "--threads", "4",
                    "--no-control-socket", "--chdir", origins, f"{module}:application"]
        else:
            raise ValueError(self.name)
        proc = spawn(argv, log, env=env, cwd=work)  # cwd: no stray puma/gunicorn config is read
        wait_http(port, "/whoami", proc, log, timeout=60 if args.c_wrapper else 30)
        return proc, log


ORIGINS = {
    "c": Origin("c", True, "__Host-sesame-s-"),
    "baseline": Origin("baseline", False, None),
    "rack": Origin("rack", True, "__Host-sesame-s-"),
    "wsgi": Origin("wsgi", True, "__Host-sesame-s-"),
    # The crowd run checks the Cookie header's size under the core's rules,
    # which the other sesame origins already cover: skipped to keep CI short.
    "asgi": Origin("asgi", True, "__Host-sesame-s-", crowd=False),
    # Flask (+ Flask-Login) and Django apps whose cached GET /page also sets
    # the frameworks' own cookies (session, remember_token, sessionid).
    "flask": Origin("flask", True, "__Host-sesame-s-", csrf=True),
    "django": Origin("django", True, "__Host-sesame-s-", csrf=True),
    # The control: stock Django (login in its session, its csrftoken cookie).
    "django-stock": Origin("django-stock", False, None, csrf=True),
    # Rails + Devise on sesame, and the same app on Rails' CookieStore (its control).
    "rails": Origin("rails", True, "__Host-sesame-s-", csrf=True),
    "rails_cookie": Origin("rails_cookie", False, None, csrf=True),
}

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    large_client_header_buffers 4 8k;
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=e2e:1m max_size=64m inactive=60s use_temp_path=off;
    upstream origin {{
        server 127.0.0.1:{origin};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        add_header X-Cache $upstream_cache_status always;
        # The CDN of the incident: the key ignores cookies, and a minimum
        # TTL overrides Cache-Control; Set-Cookie is stored and replayed.
        location = /page {{
            proxy_pass http://origin;
            proxy_cache e2e;
            proxy_cache_key $uri;
            proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
            proxy_cache_valid 200 1s;
        }}
        # /whoami (the probe), /metrics and POSTs: straight to the origin.
        location / {{
            proxy_pass http://origin;
        }}
    }}
}}
"""


def start_nginx(args: argparse.Namespace, work: str, origin_port: int) -> tuple[subprocess.Popen, int, str]:
    prefix = os.path.join(work, "nginx")
    os.makedirs(prefix, exist_ok=True)
    port = free_port()
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(user=user, prefix=prefix, origin=origin_port, port=port))
    log = os.path.join(prefix, "error.log")
    proc = spawn([args.nginx, "-p", prefix, "-c", conf, "-e", log], os.path.join(prefix, "stdout.log"))
    wait_http(port, "/whoami", proc, log)
    return proc, port, log


def detections(port: int, log: str) -> int | None:
    """The origin's counter, else the largest count its detection log lines give."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        m = re.search(r"sesame_detections_total (-?\d+)", text)
        if m and int(m.group(1)) >= 0:
            return int(m.group(1))
    except (OSError, http.client.HTTPException):
        pass
    best = None
    with open(log, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            if "of other browsers" in line:
                m = re.search(r"\((\d+) such requests so far\)", line)
                best = max(best or 1, int(m.group(1)) if m else 1)
    return best


@dataclass
class Result:
    origin: str
    browsers: int
    seconds: float
    stats: Stats
    replayed_foreign: int
    replayed_own: int
    replayed_unknown: int
    detections: int | None
    failures: list[str]


def run_origin(origin: Origin, browsers: int, duration: float, args: argparse.Namespace) -> Result:
    work = tempfile.mkdtemp(prefix=f"sesame-e2e-{origin.name}-")
    proc = nginx = None
    failures: list[str] = []
    try:
        origin_port = free_port()
        proc, log = origin.start(origin_port, work, args)
        nginx, port, nginx_log = start_nginx(args, work, origin_port)
        issuance = Issuance()
        clients = [Browser(i, 1000 + i, port, issuance, origin.session_prefix, origin.csrf) for i in range(browsers)]
        start = time.monotonic() + 0.2
        end = start + duration
        threads = []
        for i, b in enumerate(clients):
            # Logouts staggered over the last 40%: logged-out browsers keep
            # hammering while others still get refreshes the cache replays.
            logout_at = start + duration * (0.6 + 0.3 * i / max(1, browsers))
            t = threading.Thread(target=b.run, args=(start, logout_at, end, args.probe_every), daemon=True)
            threads.append(t)
            t.start()
        for t in threads:
            t.join(timeout=duration + 60)
            if t.is_alive():
                failures.append("a browser thread did not finish")
        stats = Stats()
        for b in clients:
            stats.add(b.stats)
        foreign, own, unknown = issuance.resolve()
        foreign_sessions = issuance.foreign_with_prefix(origin.session_prefix) if origin.session_prefix else foreign
        found = detections(origin_port, log) if origin.sesame else None
        err = tail(nginx_log, 5)
        if "[emerg]" in err or "[alert]" in err:
            failures.append(f"nginx: {err}")
        release(nginx)
        nginx = None
        code = release(proc)
        proc = None
        if origin.name == "c" and code != 0:
            failures.append(f"the C server exited with {code} on SIGTERM (valgrind: 99 on errors or leaks)")
        # Verdicts.
        if stats.harness_errors:
            failures += stats.harness_errors[:5]
        if stats.hits == 0:
            failures.append("no cache hits: the cache did not cache")
        if browsers > 1 and foreign == 0:
            failures.append("no replayed foreign Set-Cookie: the incident was not reproduced")
        if origin.sesame:
            for what, n in (("swaps", stats.swaps), ("involuntary logouts", stats.logouts),
                            ("resurrections after logout", stats.resurrections),
                            ("session cookies left after logout", stats.leftovers),
                            ("4xx/5xx responses", stats.errors), ("CSRF failures", stats.csrf_failures)):
                if n:
                    failures.append(f"{n} {what}")
            if origin.csrf and stats.csrf_posts == 0:
                failures.append("no POST with a CSRF token was made")
            if stats.max_cookie > COOKIE_LIMIT:
                failures.append(f"a Cookie header of {stats.max_cookie} bytes (> {COOKIE_LIMIT})")
            # Detection is owed only when another browser's session cookie
            # was replayed: a short run may replay only a framework's own.
            if browsers > 1 and foreign_sessions and not found:
                failures.append(f"no detection ({foreign_sessions} replayed foreign session Set-Cookie)")
        elif origin.csrf:
            if stats.csrf_failures == 0:
                failures.append("STOCK showed no CSRF failure: the harness does not catch replayed CSRF cookies")
        else:
            if stats.swaps == 0:
                failures.append("BASELINE showed no swap: the harness does not catch the incident")
        if failures:
            failures.append(f"origin log {log}:\n{tail(log, 15)}")
        return Result(origin.name, browsers, duration, stats, foreign, own, unknown, found, failures)
    finally:
        if nginx is not None:
            release(nginx)
        if proc is not None:
            release(proc)
        if not failures and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif failures or args.keep:
            print(f"(kept {work})", file=sys.stderr)


def print_table(results: list[Result]) -> None:
    cols = ["origin", "browsers", "secs", "requests", "hits", "replayed foreign Set-Cookie", "own replays",
            "swaps", "invol. logouts", "resurrections", "leftovers", "4xx/5xx", "CSRF fail/POSTs", "max Cookie B", "max jar", "detections",
            "others' pages", "verdict"]
    rows = []
    for r in results:
        s = r.stats
        rows.append([r.origin, str(r.browsers), f"{r.seconds:g}", str(s.requests), str(s.hits),
                     str(r.replayed_foreign) + (f" (+{r.replayed_unknown}?)" if r.replayed_unknown else ""),
                     str(r.replayed_own), f"{s.swaps} ({s.swapped_browsers} br.)" if s.swaps else "0",
                     str(s.logouts), str(s.resurrections), str(s.leftovers), str(s.errors),
                     f"{s.csrf_failures}/{s.csrf_posts}" if s.csrf_posts else "n/a", str(s.max_cookie), str(s.max_jar),
                     "n/a" if r.detections is None else str(r.detections), str(s.pages_of_others),
                     "FAIL" if r.failures else "ok"])
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    line = " | ".join(c.ljust(w) for c, w in zip(cols, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))
    for r in results:
        if r.stats.samples and (r.failures or r.origin in ("baseline", "django-stock", "rails_cookie")):
            print(f"\n{r.origin} ({r.browsers} browsers), examples:")
            for s in r.stats.samples:
                print(f"  {s}")
        for f in r.failures:
            print(f"\n{r.origin} ({r.browsers} browsers) FAILED: {f}")
    sys.stdout.flush()


def find(name: str, *candidates: str) -> str:
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which(name) or name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--origins", default="c,baseline",
                   help="comma-separated from c, baseline, rack, wsgi, asgi, flask, django, django-stock, rails, "
                        "rails_cookie; 'all' for every one (default c,baseline)")
    p.add_argument("--users", type=int, default=2, help="browsers per origin (default 2)")
    p.add_argument("--duration", type=float, default=20, help="seconds of hammering per origin (default 20)")
    p.add_argument("--crowd", type=int, default=0,
                   help="also run each sesame origin with this many browsers (20+: Cookie size and 4xx/5xx check)")
    p.add_argument("--crowd-duration", type=float, default=10)
    p.add_argument("--probe-every", type=int, default=5, help="every Nth request is a GET /whoami probe")
    p.add_argument("--refresh-after", type=int, default=1, help="policy refresh_after of sesame origins (s)")
    p.add_argument("--keyset", default=os.environ.get("SESAME_KEYSET", ""))
    p.add_argument("--c-server", default=os.path.join(ROOT, "bindings", "c", "build", "session_server"))
    p.add_argument("--c-wrapper", default="",
                   help="command the C server runs under, e.g. 'valgrind --error-exitcode=99 --leak-check=full'")
    p.add_argument("--nginx", default=find("nginx", "/usr/sbin/nginx"))
    p.add_argument("--puma", default=find("puma", "/usr/bin/puma"))
    p.add_argument("--gunicorn", default=find("gunicorn", os.path.join(HERE, ".venv", "bin", "gunicorn")))
    p.add_argument("--uvicorn", default=find("uvicorn", os.path.join(HERE, ".venv", "bin", "uvicorn")))
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, nginx config)")
    args = p.parse_args()
    if not 1 <= args.users <= 200 or not 0 <= args.crowd <= 200:
        p.error("--users and --crowd: at most 200")
    if not 1 <= args.duration <= 3600 or not 1 <= args.crowd_duration <= 3600:
        p.error("durations: 1 to 3600 s")
    names = list(ORIGINS) if args.origins == "all" else [n.strip() for n in args.origins.split(",") if n.strip()]
    for n in names:
        if n not in ORIGINS:
            p.error(f"unknown origin {n!r}")
    if not args.keyset:
        sesame = os.path.join(ROOT, "target", "release", "sesame")
        if not os.path.exists(sesame):
            p.error("no keyset: set SESAME_KEYSET or build target/release/sesame (cargo build --release --bin sesame)")
        args.keyset = subprocess.run([sesame, "keyset", "new"], check=True, capture_output=True, text=True,
                                     timeout=60).stdout
    plan = [(ORIGINS[n], args.users, args.duration) for n in names]
    if args.crowd:
        plan += [(ORIGINS[n], args.crowd, args.crowd_duration) for n in names if ORIGINS[n].sesame and ORIGINS[n].crowd]
    results = []
    for origin, browsers, duration in plan:
        print(f"== {origin.name}: {browsers} browsers, {duration:g} s", file=sys.stderr, flush=True)
        try:
            results.append(run_origin(origin, browsers, duration, args))
        except Exception as e:  # noqa: BLE001 - an origin that cannot start fails its row
            results.append(Result(origin.name, browsers, duration, Stats(), 0, 0, 0, None, [f"{e}"]))
    print()
    print_table(results)
    failed = [r for r in results if r.failures]
    print(f"\n{'FAIL' if failed else 'PASS'}: {len(results) - len(failed)}/{len(results)} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
