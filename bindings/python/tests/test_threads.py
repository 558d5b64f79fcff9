"""One Keyring, many threads, no lock of the binding's: seal/open/refresh
for different users at once, key rotation (add, promote, retire, load a
keyset) while they run, and close() while they run."""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Callable

import pytest

import sesame
from sesame import Keyring, Policy, _native

from .conftest import K1, NOW

THREADS = 8
ROUNDS = 400
ROTATIONS = 150


def run_threads(count: int, body: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def runner(index: int) -> None:
        try:
            start.wait()
            body(index)
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


def keyset_text(primary: int, *others: int) -> str:
    """A keyset whose keys are derived from their IDs (the same key material
    derive_key(id, b"master", f"key {id}") gives)."""
    import base64

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    lines = ["sesame-keyset/1"]
    for key_id in (*others, primary):
        status = "primary" if key_id == primary else "decrypt-only"
        lines.append(
            f"key id={key_id} status={status} created=1 master={b64(b'master')} purpose={b64(f'key {key_id}'.encode())}"
        )
    return "\n".join(lines) + "\n"


def test_rotation_while_threads_seal_open_and_refresh() -> None:
    """Readers seal, open and refresh for their own user while a writer
    adds, promotes and retires keys (and now and then replaces them all with
    a keyset). Readers must never see another user, and never an error but
    UnknownKey, and that only for a token whose key the writer had begun to
    retire (or dropped by a keyset load) before."""
    with Keyring() as ring:
        ring.derive_key(1, b"master", "key 1")
        gone: set[int] = set()  # IDs the writer has started to remove: only grows
        done = threading.Event()
        stats = {"rotations": 0, "unknown_key": 0, "rounds": 0}
        stats_lock = threading.Lock()

        def writer() -> None:
            try:
                for key_id in range(2, ROTATIONS + 2):
                    if key_id % 25 == 0:
                        # All at once: the keys key_id-1 and key_id, key_id primary.
                        gone.update(k for k in ring.key_ids() if k not in (key_id - 1, key_id))
                        ring.load_keyset(keyset_text(key_id, key_id - 1))
                    else:
                        ring.derive_key(key_id, b"master", f"key {key_id}")
                        ring.promote(key_id)
                        for old in ring.key_ids():
                            if old < key_id - 2:  # keep the primary and two before it
                                gone.add(old)  # before the retire: readers may see it at once
                                ring.retire(old)
                    ids = ring.key_ids()
                    assert ids == sorted(ids) and ring.primary_id == key_id, (ids, ring.primary_id)
                    assert len(ids) <= 3
                    stats["rotations"] += 1
                    time.sleep(0)  # let the readers in between two rotations
            finally:
                done.set()

        def reader(index: int) -> None:
            user = 5000 + index
            context = f"device-{index}".encode()
            policy = Policy(refresh_after=0)
            rounds = unknown = 0
            deadline = time.monotonic() + 90
            first = ring.seal(user, context=context, now=NOW)  # under key 1, which will go

            def open_first() -> None:
                nonlocal unknown
                try:
                    assert ring.open(first, context=context, now=NOW, policy=policy).user_id == user
                except sesame.UnknownKey:
                    assert sesame.token_key_id(first) in gone
                    unknown += 1

            while (not done.is_set() or rounds < 50) and time.monotonic() < deadline:
                data = index.to_bytes(4, "big") + rounds.to_bytes(4, "big")
                token = ring.seal(user, context=context, data=data, now=NOW)
                opening = token
                try:
                    session = ring.open(opening, context=context, now=NOW, policy=policy)
                    assert session.user_id == user and session.data == data, (session, user)
                    fresh, again = ring.refresh(opening, context=context, now=NOW + 1, policy=policy)
                    assert again.user_id == user and again.session_id == session.session_id
                    assert again.data == data
                    opening = fresh
                    assert ring.open(opening, context=context, now=NOW + 1, policy=policy).user_id == user
                except sesame.UnknownKey:
                    # Only a key the writer had begun to remove may be missing.
                    assert sesame.token_key_id(opening) in gone, (sesame.token_key_id(opening), ring.key_ids())
                    unknown += 1
                ids = ring.key_ids()
                assert ids == sorted(ids) and 1 <= len(ids) <= 4  # 4 between an add and a retire
                if rounds % 8 == 0:
                    open_first()
                rounds += 1
            assert done.is_set() and 1 in gone
            before = unknown
            open_first()  # key 1 is gone by now: UnknownKey, never another user
            assert unknown == before + 1
            with stats_lock:
                stats["rounds"] += rounds
                stats["unknown_key"] += unknown

        errors = run_threads(5, lambda index: writer() if index == 0 else reader(index))
        print("rotation stats:", stats)
        assert errors == []
        assert stats["rotations"] == ROTATIONS
        assert stats["rounds"] >= 4 * 50
        assert stats["unknown_key"] >= 4  # at least each reader's last look at its first token
        assert ring.primary_id == ROTATIONS + 1


def test_close_while_threads_run() -> None:
    ring = Keyring()
    ring.add_key(1, K1)
    outcomes: list[str] = []
    lock = threading.Lock()

    def body(index: int) -> None:
        if index == 0:
            time.sleep(0.05)
            ring.close()
            return
        for _ in range(200_000):
            try:
                token = ring.seal(index, now=NOW)
                assert ring.open(token, now=NOW).user_id == index
                ring.refresh(token, now=NOW)
                ring.key_ids()
            except sesame.KeyringClosed:
                with lock:
                    outcomes.append("closed")
                return
        with lock:
            outcomes.append("finished")

    assert run_threads(4, body) == []
    assert ring.closed
    assert outcomes.count("closed") + outcomes.count("finished") == 3
    for call in (
        lambda: ring.seal(1, now=NOW),
        lambda: ring.open("x", now=NOW),
        lambda: ring.add_key(2, K1),
        lambda: ring.load_keyset("sesame-keyset/1\n"),
        ring.key_ids,
        lambda: ring.primary_id,
        lambda: len(ring),
    ):
        with pytest.raises(sesame.KeyringClosed):
            call()
    assert repr(ring) == "<sesame.Keyring closed>"


def test_close_during_a_call_frees_the_ring_only_after_it_returns() -> None:
    """A seal blocked inside the library (in its random source) while
    another thread closes the Keyring: the native ring stays alive until the
    seal returns, the seal succeeds, and then the ring is freed."""
    ring = Keyring()
    ring.add_key(1, K1)
    inside, release = threading.Event(), threading.Event()

    @_native.ffi.callback("sesame_random_fn")
    def slow_random(user: object, buf: object, length: int) -> int:
        inside.set()
        release.wait(30)
        _native.ffi.memmove(buf, os.urandom(length), length)
        return 0

    assert _native.lib.sesame_keyring_set_random(ring._ring, slow_random, _native.NULL) == 0
    handle = weakref.ref(ring._ring)  # type: ignore[arg-type]
    results: list[str] = []
    sealing = threading.Thread(target=lambda: results.append(ring.seal(7, now=NOW)))
    sealing.start()
    assert inside.wait(30)
    ring.close()  # returns at once, while the seal is in the library
    assert ring.closed
    assert handle() is not None, "the ring was freed under a call in flight"
    with pytest.raises(sesame.KeyringClosed):
        ring.seal(8, now=NOW)  # new calls are refused meanwhile
    release.set()
    sealing.join(30)
    assert not sealing.is_alive() and len(results) == 1
    assert handle() is None, "the ring outlived its last call"
    with Keyring() as other:
        other.add_key(1, K1)
        assert other.open(results[0], now=NOW).user_id == 7  # sealed with an intact ring


def test_close_without_calls_frees_at_once() -> None:
    ring = Keyring()
    handle = weakref.ref(ring._ring)  # type: ignore[arg-type]
    ring.close()
    assert handle() is None
    ring.close()  # idempotent
    with Keyring() as inner:
        kept = weakref.ref(inner._ring)  # type: ignore[arg-type]
    assert kept() is None and inner.closed


def test_dropping_the_keyring_frees_the_ring() -> None:
    ring = Keyring()
    handle = weakref.ref(ring._ring)  # type: ignore[arg-type]
    del ring
    assert handle() is None


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


def test_fork_child_has_its_own_ring(ring: Keyring) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork()")
    import signal

    pid = os.fork()
    if pid == 0:  # the child: a copy of the ring, changed freely
        code = 3
        try:
            signal.alarm(20)
            ring.add_key(2, bytes(range(40, 72)))
            ring.promote(2)
            code = 0 if ring.open(ring.seal(1, now=NOW), now=NOW).user_id == 1 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert ring.key_ids() == [1]  # the parent's ring is its own
