"""One Keyring, many threads: seal/open for different users at once, key
changes while they run, and close() while they run."""

from __future__ import annotations

import threading
import time

import pytest

import sesame
from sesame import Keyring, Policy

from .conftest import K1, K2, NOW

THREADS = 8
ROUNDS = 400


def run_threads(count: int, body: object) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def runner(index: int) -> None:
        try:
            start.wait()
            body(index)  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    return errors


def test_each_thread_opens_its_own_user(ring: Keyring) -> None:
    seen: dict[int, set[bytes]] = {}

    def body(index: int) -> None:
        user = 1000 + index
        context = f"device-{index}".encode()
        ids = seen.setdefault(index, set())
        for round_ in range(ROUNDS):
            data = f"{index}:{round_}".encode()
            token = ring.seal(user, context=context, data=data, now=NOW + round_)
            session = ring.open(token, context=context, now=NOW + round_)
            assert session.user_id == user, (session.user_id, user)
            assert session.data == data
            ids.add(session.session_id)
            if round_ % 50 == 0:
                fresh, again = ring.refresh(token, context=context, now=NOW + round_ + 1)
                assert again.user_id == user and again.session_id == session.session_id
                assert ring.open(fresh, context=context, now=NOW + round_ + 1).user_id == user

    assert run_threads(THREADS, body) == []
    all_ids = set().union(*seen.values())
    assert len(all_ids) == THREADS * ROUNDS  # every session ID distinct


def test_key_changes_while_threads_seal_and_open() -> None:
    with Keyring() as ring:
        for key_id in (1, 2, 3):
            ring.derive_key(key_id, b"master", f"key {key_id}")
        stop = threading.Event()
        changes = 0

        def writer() -> None:
            nonlocal changes
            while not stop.is_set():
                for key_id in (1, 2, 3):
                    ring.promote(key_id)
                    ring.add_key(9, K2)  # a key that never seals
                    ring.retire(9)
                    changes += 3

        def body(index: int) -> None:
            if index == 0:
                writer()
                return
            deadline = time.monotonic() + 60
            rounds = 0
            try:
                # Until each reader has done its rounds and the writer has
                # changed the keys many times under their feet.
                while (rounds < ROUNDS or changes < 60) and time.monotonic() < deadline:
                    token = ring.seal(index, now=NOW)
                    assert ring.open(token, now=NOW).user_id == index
                    assert len(ring) in (3, 4)
                    rounds += 1
            finally:
                if index == 1:
                    stop.set()

        assert run_threads(5, body) == []
        assert changes >= 60
        assert len(ring) == 3


def test_close_while_threads_run() -> None:
    ring = Keyring()
    ring.add_key(1, K1)
    outcomes: list[str] = []
    lock = threading.Lock()

    def body(index: int) -> None:
        if index == 0:
            time.sleep(0.02)
            ring.close()
            return
        for _ in range(100_000):
            try:
                ring.open(ring.seal(index, now=NOW), now=NOW)
            except sesame.KeyringClosed:
                with lock:
                    outcomes.append("closed")
                return
        with lock:
            outcomes.append("finished")

    assert run_threads(4, body) == []
    assert ring.closed
    assert outcomes.count("closed") + outcomes.count("finished") == 3


def test_policy_and_sessions_shared_between_threads(ring: Keyring) -> None:
    policy = Policy(refresh_after=10)
    token = ring.seal(5, now=NOW)
    session = ring.open(token, now=NOW)

    def body(index: int) -> None:
        for round_ in range(ROUNDS):
            assert policy.should_refresh(session, NOW + 10) is True
            assert policy.should_refresh(session, NOW + 9) is False
            assert ring.open(token, now=NOW, policy=policy).user_id == 5

    assert run_threads(4, body) == []


def test_fork_forgets_callers_of_the_parent(ring: Keyring) -> None:
    import os
    import signal

    if not hasattr(os, "fork"):
        return
    from sesame import _native

    ghost = _native.Buffers()  # a thread inside a call at fork()
    _native.ALL_BUFFERS.add(ghost)
    ghost.reading = ring
    try:
        pid = os.fork()
        if pid == 0:  # the child: key changes must not wait for the ghost
            code = 3
            try:
                signal.alarm(20)
                ring.add_key(2, K2)
                ring.promote(2)
                code = 0 if ring.open(ring.seal(1, now=NOW), now=NOW).user_id == 1 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        ghost.reading = None
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert len(ring) == 1  # the parent's ring is its own


def test_without_a_gil_every_call_takes_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The free-threaded fallback, simulated: every call is serialised
    through the writer's lock, and everything still works."""
    from sesame import keyring as module

    monkeypatch.setattr(module, "_GIL", False)
    with Keyring() as ring:
        assert ring._writing  # readers always take the slow path
        ring.add_key(1, K1)
        assert len(ring) == 1 and ring.primary_id == 1

        def body(index: int) -> None:
            for round_ in range(100):
                token = ring.seal(index, data=b"x", now=NOW)
                assert ring.open(token, now=NOW).user_id == index
                fresh, session = ring.refresh(token, now=NOW + 1)
                assert session.user_id == index and ring.open(fresh, now=NOW + 1).user_id == index

        assert run_threads(4, body) == []
        assert not ring._has_readers()
    assert ring.closed
