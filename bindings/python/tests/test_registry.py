"""sesame.Registry: one rules suite over the memory store, a real SQLite file
and a real redis-server, then threads, fork, failures, closing and layouts.

The SQLite and Redis runs need a library built with the registry features:

    CARGO_TARGET_DIR=target/registry cargo rustc --lib --release \\
        --features capi,registry-sqlite,registry-redis --crate-type cdylib
    SESAME_LIB=$PWD/target/registry/release/libsesame.so bash bindings/python/run-tests.sh

They are skipped (with that message) only when the library under test
answers SESAME_INVALID_REGISTRY_URL for the store's URL, i.e. lacks the
feature. The Redis runs also need the ``redis-server`` binary; the fixture
starts one on a free 127.0.0.1 port in a temporary directory, waits for it
at most 10 s, and stops it by PID.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

import sesame
from sesame import _native
from sesame.registry import (
    DEVICE_BYTES,
    IP_BYTES,
    Entry,
    Registry,
    RegistryClosed,
    Verdict,
)

from .conftest import NOW, REPO

README = Path(__file__).resolve().parents[1] / "README.md"
BUILD_HINT = (
    "libsesame under test lacks the {feature} feature: build it with `CARGO_TARGET_DIR=target/registry "
    "cargo rustc --lib --release --features capi,registry-sqlite,registry-redis --crate-type cdylib` "
    "and set SESAME_LIB=<repo>/target/registry/release/libsesame.so"
)
USER = 7

Open = Callable[..., Registry]


# -- stores ------------------------------------------------------------------


def open_or_skip(url: str, feature: str, **config: object) -> Registry:
    try:
        return Registry(url, **config)  # type: ignore[arg-type]
    except sesame.InvalidRegistryUrl:
        pytest.skip(BUILD_HINT.format(feature=feature))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server on a free loopback port, stopped by PID."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not answer on 127.0.0.1:{self.port} within 10 s")
            time.sleep(0.05)

    def url(self, timeout_ms: int = 2000) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix=t{uuid.uuid4().hex}&timeout_ms={timeout_ms}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it gets stopped or paused)."""
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Open]:
    """Opens registries on one store (the same one each time: a second
    Registry sees the first one's sessions, as a second process would)."""
    made: list[Registry] = []
    if request.param == "memory":
        url, feature = "memory://?capacity=256", "memory"
    elif request.param == "sqlite":
        url, feature = f"sqlite://{tmp_path / 'sessions.db'}", "registry-sqlite"
    else:
        url, feature = request.getfixturevalue("redis_server").url(), "registry-redis"

    def open_(**config: object) -> Registry:
        registry = open_or_skip(url, feature, **config)
        made.append(registry)
        return registry

    yield open_
    for registry in made:
        registry.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path / 'sessions.db'}"
    open_or_skip(url, "registry-sqlite").close()
    return url


def login(ring: sesame.Keyring, registry: Registry, at: int = NOW, user: int = USER, **labels: str) -> tuple[str, sesame.Session]:
    token = ring.seal(user, now=at)
    session = ring.open(token, now=at)
    assert registry.register(session, token, now=at, **labels) == 0
    return token, session


# -- the rules, on every store -----------------------------------------------


def test_two_logins_listed_newest_first_with_the_current_one_marked(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store()
    laptop, laptop_s = login(ring, registry, NOW, device="Firefox on a laptop", ip="192.0.2.1")
    phone, phone_s = login(ring, registry, NOW + 10, device="Safari on a phone", ip="2001:db8::1")
    assert registry.check(laptop_s, laptop, now=NOW + 20) is Verdict.LIVE
    assert registry.check(phone_s, phone, now=NOW + 20).admits
    assert registry.peek(phone_s, now=NOW + 20) is Verdict.LIVE

    entries = registry.list(USER, current=phone_s, now=NOW + 30)
    assert [e.device for e in entries] == ["Safari on a phone", "Firefox on a laptop"]
    assert [e.ip for e in entries] == ["2001:db8::1", "192.0.2.1"]
    assert [e.current for e in entries] == [True, False]
    assert [e.session_id for e in entries] == [phone_s.session_id_hex, laptop_s.session_id_hex]
    newest = entries[0]
    assert isinstance(newest, Entry) and newest.kind == "browser"
    assert newest.created_at == datetime.fromtimestamp(NOW + 10, timezone.utc)
    assert newest.created_at.tzinfo is not None
    assert newest.last_seen_at >= newest.created_at and newest.expires_at > newest.last_seen_at
    assert newest.session_id_bytes == phone_s.session_id
    # current by bytes or hex too, and another process's view is the same
    # (the memory store is per Registry: skip that comparison there).
    assert registry.list(USER, current=laptop_s.session_id, now=NOW + 30)[1].current
    assert registry.list(USER, current=laptop_s.session_id_hex, now=NOW + 30)[1].current
    assert registry.list(USER + 1, now=NOW + 30) == []
    with pytest.raises(AttributeError):
        newest.device = "x"  # type: ignore[misc]


def test_a_second_handle_on_the_same_store_sees_the_same_sessions(ring: sesame.Keyring, open_store: Open, request: pytest.FixtureRequest) -> None:
    first, second = open_store(), open_store()
    token, session = login(ring, first)
    if "memory" in request.node.callspec.id:
        # A memory store belongs to its handle: a second one is a second store.
        assert second.list(USER, now=NOW + 1) == []
        assert second.revoke(USER, session.session_id, now=NOW + 2) is False
        assert first.check(session, token, now=NOW + 3) is Verdict.LIVE
        return
    assert [e.session_id for e in second.list(USER, now=NOW + 1)] == [session.session_id_hex]
    assert second.revoke(USER, session.session_id, now=NOW + 2) is True
    assert first.check(session, token, now=NOW + 3) is Verdict.REVOKED


def test_refresh_grace_and_theft_detection(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store()
    old, session = login(ring, registry)
    new, refreshed = ring.refresh(old, now=NOW + 900)
    assert refreshed.session_id == session.session_id
    assert registry.refresh(session, old, new, now=NOW + 900) is Verdict.LIVE
    # A racing request refreshed the same old token: serve, send nothing.
    racer, _ = ring.refresh(old, now=NOW + 901)
    assert registry.refresh(session, old, racer, now=NOW + 901) is Verdict.GRACE
    assert registry.check(refreshed, new, now=NOW + 902) is Verdict.LIVE
    # The old token within the grace period: served.
    grace = registry.check(session, old, now=NOW + 905)
    assert grace is Verdict.GRACE and grace.admits
    # ... and after it, once the successor was seen: two parties hold it.
    theft = registry.check(session, old, now=NOW + 1000)
    assert theft is Verdict.THEFT_DETECTED and not theft.admits
    assert registry.check(refreshed, new, now=NOW + 1001) is Verdict.REVOKED
    assert registry.list(USER, now=NOW + 1002) == []


def test_a_lost_refresh_response_is_not_theft(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store()
    old, session = login(ring, registry)
    new, _ = ring.refresh(old, now=NOW + 900)
    assert registry.refresh(session, old, new, now=NOW + 900) is Verdict.LIVE
    # The browser never got `new`: its old token stays good past the grace.
    assert registry.check(session, old, now=NOW + 2000) is Verdict.GRACE


def test_revoke_others_in_the_same_second(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store()
    mine, mine_s = login(ring, registry, NOW)
    other, other_s = login(ring, registry, NOW)
    third, third_s = login(ring, registry, NOW)
    assert registry.revoke_others(mine_s, now=NOW) == 2
    assert registry.check(other_s, other, now=NOW) is Verdict.REVOKED
    assert registry.check(third_s, third, now=NOW) is Verdict.REVOKED
    assert registry.check(mine_s, mine, now=NOW) is Verdict.LIVE
    # By ID, not by time: a login in the same second afterwards is live.
    later, later_s = login(ring, registry, NOW)
    assert registry.check(later_s, later, now=NOW) is Verdict.LIVE
    assert {e.session_id for e in registry.list(USER, now=NOW)} == {mine_s.session_id_hex, later_s.session_id_hex}


def test_logout_is_final(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store(tombstone_ttl=3600)
    token, session = login(ring, registry)
    assert registry.logout(session, token, now=NOW + 10) is Verdict.REVOKED
    for verdict in (
        registry.check(session, token, now=NOW + 11),
        registry.peek(session, now=NOW + 11),
        registry.refresh(session, token, ring.refresh(token, now=NOW + 12)[0], now=NOW + 12),
    ):
        assert verdict is Verdict.REVOKED and not verdict.admits
    assert registry.list(USER, now=NOW + 13) == []
    # Once the tombstone is gone: Unknown, which denies just the same.
    gone = registry.check(session, token, now=NOW + 10 + 3601)
    assert gone is Verdict.UNKNOWN and not gone.admits


def test_logout_with_a_superseded_token_is_theft(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store()
    old, session = login(ring, registry)
    new, refreshed = ring.refresh(old, now=NOW + 900)
    assert registry.refresh(session, old, new, now=NOW + 900) is Verdict.LIVE
    assert registry.check(refreshed, new, now=NOW + 901) is Verdict.LIVE
    assert registry.logout(session, old, now=NOW + 1000) is Verdict.THEFT_DETECTED
    assert registry.check(refreshed, new, now=NOW + 1001) is Verdict.REVOKED


def test_the_cap_evicts_the_oldest(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store(max_sessions=2)
    first, first_s = login(ring, registry, NOW)
    login(ring, registry, NOW + 1)
    token = ring.seal(USER, now=NOW + 2)
    session = ring.open(token, now=NOW + 2)
    assert registry.register(session, token, now=NOW + 2) == 1
    assert registry.check(first_s, first, now=NOW + 3) is Verdict.REVOKED
    entries = registry.list(USER, current=session, now=NOW + 3)
    assert len(entries) == 2 and entries[0].current


def test_revoke_one_and_all_and_prune(ring: sesame.Keyring, open_store: Open, request: pytest.FixtureRequest) -> None:
    registry = open_store(browser=(600, 3600), remember_me=(600, 7200))
    a, a_s = login(ring, registry)
    b, b_s = login(ring, registry)
    remembered = ring.seal(USER, now=NOW)
    remembered_s = ring.open(remembered, now=NOW)
    registry.register(remembered_s, remembered, kind="remember_me", now=NOW)
    kinds = {e.session_id: e.kind for e in registry.list(USER, now=NOW + 1)}
    assert kinds[remembered_s.session_id_hex] == "remember_me" and kinds[a_s.session_id_hex] == "browser"
    # Never checked yet: each expires at login + the 600 s idle limit.
    assert {e.expires_at for e in registry.list(USER, now=NOW + 1)} == {datetime.fromtimestamp(NOW + 600, timezone.utc)}
    assert registry.revoke(USER, a_s.session_id_hex, now=NOW + 1) is True
    assert registry.revoke(USER, a_s.session_id_hex, now=NOW + 2) is False
    assert registry.check(a_s, a, now=NOW + 2) is Verdict.REVOKED
    assert registry.revoke_all(USER, now=NOW + 3) == 2
    assert registry.check(b_s, b, now=NOW + 4) is Verdict.REVOKED
    # Expired entries (here past the 600 s idle limit) are pruned; Redis
    # leaves that to its key TTLs and to the user's next operation (0).
    c, c_s = login(ring, registry, NOW + 10, user=USER + 1)
    pruned = registry.prune(now=NOW + 10_000)
    assert pruned == 0 if "redis" in request.node.callspec.id else pruned >= 1
    assert registry.check(c_s, c, now=NOW + 10_001) is Verdict.UNKNOWN


def test_threads_share_one_registry(ring: sesame.Keyring, open_store: Open) -> None:
    registry = open_store(max_sessions=0)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                token = ring.seal(1000 + n, now=NOW)
                session = ring.open(token, now=NOW)
                registry.register(session, token, device=f"thread {n}", now=NOW)
                assert registry.check(session, token, now=NOW + i) is Verdict.LIVE
            assert len(registry.list(1000 + n, now=NOW + 20)) == 15
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(len(registry.list(1000 + n, now=NOW + 20)) for n in range(6)) == 90


# -- failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://nowhere", "", "memory://?bogus=1", "sqlite://", "redis://127.0.0.1:1/0?nope=1", "nonsense"],
)
def test_an_invalid_url(url: str) -> None:
    with pytest.raises(sesame.InvalidRegistryUrl) as raised:
        Registry(url)
    assert isinstance(raised.value, sesame.UsageError) and raised.value.code == 22


def test_redis_stopped_is_unavailable(ring: sesame.Keyring, own_redis: RedisServer) -> None:
    url = own_redis.url(timeout_ms=1000)
    registry = open_or_skip(url, "registry-redis")
    token, session = login(ring, registry)
    own_redis.stop()
    with pytest.raises(sesame.RegistryUnavailable) as raised:
        registry.check(session, token, now=NOW + 1)
    assert raised.value.code == 20
    with pytest.raises(sesame.RegistryUnavailable):
        registry.list(USER, now=NOW + 1)
    with pytest.raises(sesame.RegistryUnavailable):
        Registry(url)
    registry.close()


def test_a_full_memory_store(ring: sesame.Keyring) -> None:
    with Registry("memory://?capacity=2", max_sessions=0) as registry:
        login(ring, registry, user=1)
        login(ring, registry, user=2)
        token = ring.seal(3, now=NOW)
        with pytest.raises(sesame.RegistryFull):
            registry.register(ring.open(token, now=NOW), token, now=NOW)


def test_limits_from_the_policy(ring: sesame.Keyring) -> None:
    policy = sesame.Policy(remember_me_absolute_lifetime=90 * 86_400, idle_timeout=600)
    with Registry(policy=policy) as registry:
        token = ring.seal(9, kind="remember_me", now=NOW)
        registry.register(ring.open(token, now=NOW, policy=policy), token, now=NOW)
        browser = ring.seal(9, now=NOW)
        registry.register(ring.open(browser, now=NOW, policy=policy), browser, now=NOW + 1)
        entries = {e.kind: e for e in registry.list(9, now=NOW + 1)}
        assert entries["remember_me"].expires_at.timestamp() == NOW + 90 * 86_400
        assert entries["browser"].expires_at.timestamp() == NOW + 1 + 600


def test_arguments_are_checked(ring: sesame.Keyring) -> None:
    with pytest.raises(ValueError):
        Registry(grace=-1)
    with pytest.raises(ValueError):
        Registry(max_sessions=2**32)
    with pytest.raises(TypeError):
        Registry(browser=sesame.Policy())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Registry(policy=(60, 60))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Registry(tombstone_ttl=2**53)
    with pytest.raises(TypeError):
        Registry(grace=1.5)  # type: ignore[arg-type]
    with Registry(grace=timedelta(seconds=5)) as registry:
        token, session = login(ring, registry)
        with pytest.raises(ValueError):
            registry.register(session, token, kind="kiosk", now=NOW)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            registry.check((USER, session.session_id), token)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            registry.revoke(USER, b"short")
        with pytest.raises(ValueError):
            registry.revoke(-1, session.session_id)
        with pytest.raises(sesame.TooLong):
            registry.check(session, "x" * (sesame.TOKEN_MAX + 5), now=NOW)
        # A 5 s grace: the old token is theft 6 s after its successor was seen.
        new, refreshed = ring.refresh(token, now=NOW + 900)
        assert registry.refresh(session, token, new, now=NOW + 900) is Verdict.LIVE
        assert registry.check(refreshed, new, now=NOW + 900) is Verdict.LIVE
        assert registry.check(session, token, now=NOW + 906) is Verdict.THEFT_DETECTED


def test_labels_are_cut_at_a_character_boundary(ring: sesame.Keyring) -> None:
    with Registry() as registry:
        login(ring, registry, device="é" * 100, ip="1" * 60)
        (entry,) = registry.list(USER, now=NOW)
        assert entry.device == "é" * 64 and entry.ip == "1" * 45


# -- closing -----------------------------------------------------------------


def test_close_context_manager_and_finalizer(ring: sesame.Keyring) -> None:
    registry = Registry()
    token, session = login(ring, registry)
    registry.close()
    registry.close()
    assert registry.closed and "closed" in repr(registry)
    with pytest.raises(RegistryClosed):
        registry.check(session, token)
    with Registry() as managed:
        assert not managed.closed
    assert managed.closed
    dropped = Registry()
    finalizer = dropped._finalizer
    assert finalizer.alive
    del dropped
    assert not finalizer.alive
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(Registry())


def test_close_waits_for_a_call_in_flight(ring: sesame.Keyring, own_redis: RedisServer) -> None:
    registry = open_or_skip(own_redis.url(timeout_ms=3000), "registry-redis")
    token, session = login(ring, registry)
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    outcome: list[object] = []
    caller = threading.Thread(target=lambda: outcome.append(registry.peek(session, now=NOW)))
    caller.start()
    time.sleep(0.3)
    started = time.monotonic()
    os.kill(own_redis.process.pid, signal.SIGCONT)
    registry.close()  # waits for the peek, which now gets its answer
    caller.join(10)
    assert outcome == [Verdict.LIVE] and registry.closed
    assert time.monotonic() - started < 3


# -- the GIL -----------------------------------------------------------------


def test_every_registry_call_releases_the_gil() -> None:
    names = [n for n in dir(_native.lib) if n.startswith("sesame_registry_")] or [
        "sesame_registry_" + n
        for n in ("open", "free", "register", "check", "peek", "refresh", "list", "revoke", "revoke_all",
                  "revoke_others", "logout", "prune", "config_default")
    ]
    # cffi releases the GIL around every C call it makes, in API and ABI
    # mode alike: each registry function must be one of its functions (the
    # blocked-call test below shows the effect).
    assert names
    for name in names:
        function = getattr(_native.lib, name)
        assert _native.ffi.typeof(function).kind == "function", name


def test_a_blocked_call_lets_other_threads_run(ring: sesame.Keyring, own_redis: RedisServer) -> None:
    registry = open_or_skip(own_redis.url(timeout_ms=1500), "registry-redis")
    token, session = login(ring, registry)
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # the store stops answering
    outcome: list[object] = []

    def call() -> None:
        try:
            registry.check(session, token, now=NOW + 1)
        except sesame.RegistryUnavailable as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    started = time.monotonic()
    caller.start()
    spins = 0
    while caller.is_alive() and time.monotonic() - started < 10:
        spins += 1  # pure Python: runs only if the caller released the GIL
    caller.join()
    elapsed = time.monotonic() - started
    os.kill(own_redis.process.pid, signal.SIGCONT)
    assert len(outcome) == 1 and elapsed >= 1.0
    assert spins > 10_000, spins
    registry.close()


# -- fork --------------------------------------------------------------------


def fork_and_wait(child: Callable[[], bool]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if child() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
def test_a_forked_child_revokes_in_sqlite_and_the_parent_sees_it(ring: sesame.Keyring, sqlite_url: str) -> None:
    registry = Registry(sqlite_url)
    mine, mine_s = login(ring, registry)
    stolen, stolen_s = login(ring, registry)
    assert registry.check(stolen_s, stolen, now=NOW + 1) is Verdict.LIVE  # the parent's connection is open

    def child() -> bool:
        # The inherited Registry reconnects in the child.
        revoked = registry.revoke(USER, stolen_s.session_id, now=NOW + 2)
        live = registry.check(mine_s, mine, now=NOW + 2) is Verdict.LIVE
        registry.close()
        return revoked and live

    assert fork_and_wait(child) == 0
    assert registry.check(stolen_s, stolen, now=NOW + 3) is Verdict.REVOKED
    assert registry.check(mine_s, mine, now=NOW + 3) is Verdict.LIVE
    # A child that only closes (or drops) what it inherited leaves the
    # parent's connection alone.
    assert fork_and_wait(lambda: registry.close() is None) == 0
    assert registry.revoke_others(mine_s, now=NOW + 4) == 0
    assert [e.session_id for e in registry.list(USER, now=NOW + 5)] == [mine_s.session_id_hex]
    registry.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
def test_fork_waits_for_a_call_in_flight(ring: sesame.Keyring, own_redis: RedisServer) -> None:
    registry = open_or_skip(own_redis.url(timeout_ms=3000), "registry-redis")
    token, session = login(ring, registry)
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    caller = threading.Thread(target=lambda: registry.peek(session, now=NOW))
    caller.start()
    time.sleep(0.3)
    threading.Timer(0.5, os.kill, (own_redis.process.pid, signal.SIGCONT)).start()
    # Without the at-fork hook the child would inherit a locked handle and hang.
    assert fork_and_wait(lambda: registry.check(session, token, now=NOW + 1) is Verdict.LIVE) == 0
    caller.join(10)
    registry.close()


# -- layouts and the README --------------------------------------------------


def test_struct_layouts_match_the_header(tmp_path: Path) -> None:
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler to read the header's layouts")
    fields = {
        "sesame_session_limits": ("sesame_session_limits", ["idle_timeout", "absolute_lifetime"]),
        "sesame_registry_config": (
            "sesame_registry_config",
            ["browser", "remember_me", "max_sessions", "grace", "touch_interval", "tombstone_ttl"],
        ),
        "sesame_registry_entry": (
            "sesame_registry_entry",
            ["user_id", "session_id", "kind", "created_at", "last_seen_at", "expires_at", "device", "ip"],
        ),
    }
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "sesame.h"', "int main(void) {"]
    for struct, (_, names) in fields.items():
        lines.append(f'printf("{struct} %zu\\n", sizeof(struct {struct}));')
        for name in names:
            lines.append(f'printf("{struct}.{name} %zu\\n", offsetof(struct {struct}, {name}));')
    lines.append('printf("device %d ip %d\\n", SESAME_REGISTRY_DEVICE_BYTES, SESAME_REGISTRY_IP_BYTES);')
    lines.append("return 0; }")
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines), encoding="utf-8")
    binary = tmp_path / "layout"
    subprocess.run([cc, "-I", str(REPO / "include"), "-o", str(binary), str(source)], check=True, timeout=60)
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=60).stdout
    expected = [f"device {DEVICE_BYTES} ip {IP_BYTES}"]
    for struct, (ours, names) in fields.items():
        expected.append(f"{struct} {_native.ffi.sizeof(ours)}")
        expected += [f"{struct}.{name} {_native.ffi.offsetof(ours, name)}" for name in names]
    assert sorted(out.splitlines()) == sorted(expected)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"^```python registry\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(found) == 1
    script = tmp_path / "sessions_view.py"
    script.write_text(found[0], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Two logins in the same second: listed in either order.
    laptop, phone = sorted(lines[:2])
    assert laptop.startswith("Firefox on Linux, 192.0.2.7, since ") and laptop.endswith("(this device)")
    assert phone.startswith("Safari on iPhone, 198.51.100.3, since ") and "this device" not in phone
    assert lines[2:] == ["revoked 1", "Verdict.REVOKED", "Verdict.LIVE"]
