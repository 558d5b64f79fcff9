"""The typed API: Keyring, seal/open/refresh, Session, Policy, and every
error code reached through it."""

from __future__ import annotations

import base64
import copy
import dataclasses
import gc
import pickle
import time
import weakref
from datetime import datetime, timedelta, timezone

import pytest

import sesame
from sesame import Keyring, Policy, Session

from .conftest import K1, K2, NOW

UTC = timezone.utc


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- keys -------------------------------------------------------------------


def test_keyring_lifecycle() -> None:
    ring = Keyring()
    assert len(ring) == 0 and ring.primary_id is None and not ring.closed
    ring.add_key(7, K1)
    assert len(ring) == 1 and ring.primary_id == 7
    ring.add_key(8, K2)
    assert len(ring) == 2 and ring.primary_id == 7  # the first key stays primary
    ring.promote(8)
    assert ring.primary_id == 8
    ring.retire(7)
    assert len(ring) == 1
    assert repr(ring) == "<sesame.Keyring keys=[8] primary=8>"
    ring.close()
    assert ring.closed and repr(ring) == "<sesame.Keyring closed>"
    ring.close()  # idempotent
    for call in (
        lambda: ring.seal(1),
        lambda: ring.open("x" * 92),
        lambda: ring.refresh("x" * 92),
        lambda: len(ring),
        lambda: ring.primary_id,
        lambda: ring.add_key(1, K1),
        lambda: ring.promote(8),
    ):
        with pytest.raises(sesame.KeyringClosed):
            call()


def test_context_manager_and_garbage_collection() -> None:
    with Keyring() as ring:
        ring.add_key(1, K1)
        assert ring.open(ring.seal(5)).user_id == 5
    assert ring.closed
    dropped = Keyring()
    dropped.add_key(1, K1)
    ref = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert ref() is None  # __del__ freed the native ring


def test_keyring_cannot_be_copied_or_pickled(ring: Keyring) -> None:
    for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError):
            attempt(ring)


def test_derive_key_matches_the_c_example() -> None:
    with Keyring() as a, Keyring() as b:
        a.derive_key(1, b"replace with 32+ random bytes from your vault", b"session cookie")
        b.derive_key(1, "replace with 32+ random bytes from your vault", "session cookie")
        assert b.open(a.seal(9, now=NOW), now=NOW).user_id == 9
        with Keyring() as other:
            other.derive_key(1, b"replace with 32+ random bytes from your vault", b"other purpose")
            with pytest.raises(sesame.AuthFailed):
                other.open(a.seal(9, now=NOW), now=NOW)
        a.derive_key(2, bytearray(b"m"), b"")  # any non-empty master, empty purpose
        assert len(a) == 2


def test_key_errors(ring: Keyring) -> None:
    with pytest.raises(sesame.InvalidKey):
        ring.add_key(2, K1[:31])
    with pytest.raises(sesame.InvalidKey):
        ring.add_key(2, K1 + b"x")
    with pytest.raises(sesame.InvalidKey):
        ring.add_key(2, bytes(32))
    with pytest.raises(sesame.InvalidKey):
        ring.derive_key(2, b"", b"purpose")
    with pytest.raises(sesame.DuplicateKeyId) as caught:
        ring.add_key(1, K2)
    assert caught.value.code == 14 and caught.value.name == "SESAME_DUPLICATE_KEY_ID"
    with pytest.raises(sesame.UnknownKey):
        ring.promote(99)
    with pytest.raises(sesame.UnknownKey):
        ring.retire(99)
    for key_id in range(2, sesame.RING_CAPACITY + 1):
        ring.derive_key(key_id, b"master", f"purpose {key_id}")
    assert len(ring) == sesame.RING_CAPACITY
    with pytest.raises(sesame.RingFull):
        ring.add_key(100, K2)
    with pytest.raises(ValueError):
        ring.add_key(-1, K2)
    with pytest.raises(ValueError):
        ring.add_key(2**32, K2)
    with pytest.raises(TypeError):
        ring.add_key(3, "a string key")  # type: ignore[arg-type]
    assert len(ring) == sesame.RING_CAPACITY  # nothing changed by the failures


def test_no_primary_key() -> None:
    with Keyring() as ring:
        with pytest.raises(sesame.NoPrimaryKey):
            ring.seal(1)
        ring.add_key(1, K1)
        token = ring.seal(1, now=NOW)
        ring.retire(1)
        assert ring.primary_id is None
        with pytest.raises(sesame.NoPrimaryKey):
            ring.seal(1)
        with pytest.raises(sesame.UnknownKey):
            ring.open(token, now=NOW)


def test_generate_key() -> None:
    key = Keyring.generate_key()
    assert len(key) == sesame.KEY_BYTES and key != Keyring.generate_key()


# -- seal / open / refresh ---------------------------------------------------


def test_seal_and_open(ring: Keyring) -> None:
    token = ring.seal(123456, now=NOW)
    assert isinstance(token, str) and len(token) == 92
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    session = ring.open(token, now=NOW + 60)
    assert session.user_id == 123456
    assert len(session.session_id) == 16 and session.session_id != bytes(16)
    assert session.issued_at == session.refreshed_at == datetime.fromtimestamp(NOW, UTC)
    assert session.issued_at.tzinfo is not None and session.issued_at.utcoffset() == timedelta(0)
    assert session.issued_at_unix == session.refreshed_at_unix == NOW
    assert session.lifetime is None and session.expires_at is None
    assert session.data == b""
    assert session.session_id_hex == session.session_id.hex()
    assert ring.seal(123456, now=NOW) != token  # a fresh nonce and session ID each time


def test_seal_everything(ring: Keyring) -> None:
    data = bytes(range(128))
    context = b"c" * 128
    token = ring.seal(2**64 - 1, context=context, data=data, lifetime=3600, now=NOW)
    assert len(token) <= sesame.TOKEN_MAX
    session = ring.open(token, context=context, now=NOW)
    assert session.user_id == 2**64 - 1
    assert session.data == data
    assert session.lifetime == 3600
    assert session.expires_at == datetime.fromtimestamp(NOW + 3600, UTC)
    # bytes-likes are accepted
    token = ring.seal(0, context=bytearray(b"ctx"), data=memoryview(b"d"), lifetime=timedelta(hours=1), now=NOW)
    session = ring.open(token, context=memoryview(b"ctx"), now=NOW)
    assert (session.user_id, session.data, session.lifetime) == (0, b"d", 3600)


def test_now_accepts_datetimes_and_numbers(ring: Keyring) -> None:
    when = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # == NOW
    assert int(when.timestamp()) == NOW
    for now in (NOW, float(NOW) + 0.9, when, when.astimezone(timezone(timedelta(hours=-5)))):
        session = ring.open(ring.seal(1, now=now), now=now)
        assert session.issued_at_unix == NOW
    with pytest.raises(ValueError):
        ring.seal(1, now=datetime(2023, 11, 14))  # naive
    with pytest.raises(ValueError):
        ring.seal(1, now=-1)
    with pytest.raises(ValueError):
        ring.seal(1, now=2**64)  # never wrapped around
    with pytest.raises(ValueError):
        ring.open("x" * 92, now=2**64 + NOW)
    with pytest.raises(ValueError):
        Policy.default().should_refresh(ring.open(ring.seal(1, now=NOW), now=NOW), 2**64)
    with pytest.raises(ValueError):
        ring.seal(1, now=float("nan"))
    with pytest.raises(TypeError):
        ring.seal(1, now="now")  # type: ignore[arg-type]
    # the default is the current time
    session = ring.open(ring.seal(1))
    assert abs(session.issued_at_unix - time.time()) < 5


def test_argument_checks(ring: Keyring) -> None:
    for bad in (-1, 2**64, 1.5, "1", None, True):
        with pytest.raises(ValueError):
            ring.seal(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.seal(1, context="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.seal(1, data="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ring.seal(1, lifetime=-5)
    with pytest.raises(TypeError):
        ring.open(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.open("x" * 92, policy={"idle_timeout": 5})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.refresh("x" * 92, policy=3)  # type: ignore[arg-type]

    class Strict(Policy):
        pass

    assert ring.open(ring.seal(1, now=NOW), now=NOW, policy=Strict(idle_timeout=5)).user_id == 1


def test_data_and_context_too_long(ring: Keyring) -> None:
    with pytest.raises(sesame.DataTooLong) as caught:
        ring.seal(1, data=b"x" * 129)
    assert caught.value.name == "SESAME_DATA_TOO_LONG"
    with pytest.raises(sesame.ContextTooLong):
        ring.seal(1, context=b"x" * 129)
    with pytest.raises(sesame.DataTooLong):
        ring.seal(1, data=b"x" * 5000)
    with pytest.raises(sesame.ContextTooLong):
        ring.seal(1, context=b"x" * 5000)
    token = ring.seal(1, now=NOW)
    with pytest.raises(sesame.ContextTooLong):
        ring.open(token, context=b"x" * 129, now=NOW)
    with pytest.raises(sesame.ContextTooLong):
        ring.open(token, context=b"x" * 5000, now=NOW)
    with pytest.raises(sesame.ContextTooLong):
        ring.refresh(token, context=b"x" * 5000, now=NOW)


def test_invalid_tokens(ring: Keyring) -> None:
    token = ring.seal(1, context=b"here", now=NOW)
    assert ring.open(token, context=b"here", now=NOW).user_id == 1
    with pytest.raises(sesame.AuthFailed):
        ring.open(token, now=NOW)  # missing context
    with pytest.raises(sesame.AuthFailed):
        ring.open(token, context=b"there", now=NOW)
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(sesame.AuthFailed):
        ring.open(tampered, context=b"here", now=NOW)
    for junk in ("", "not a token", token + "=", token[:-1], token.replace(token[5], "+", 1), "é" * 92, token[:40]):
        with pytest.raises(sesame.Malformed):
            ring.open(junk, context=b"here", now=NOW)
    with pytest.raises(sesame.TooLong):
        ring.open("A" * (sesame.TOKEN_MAX + 1), now=NOW)
    with pytest.raises(sesame.TooLong):
        ring.open("é" * 100_000, now=NOW)
    raw = bytearray(b64decode(token))
    raw[0] = 2
    with pytest.raises(sesame.UnsupportedVersion):
        ring.open(b64encode(bytes(raw)), now=NOW)
    with Keyring() as other:
        other.add_key(2, K1)  # the same key bytes under another ID
        with pytest.raises(sesame.UnknownKey):
            other.open(token, context=b"here", now=NOW)
    # bytes tokens are accepted as well
    assert ring.open(token.encode(), context=b"here", now=NOW).user_id == 1
    # one class catches every rejection
    for junk in ("junk", tampered):
        with pytest.raises(sesame.TokenRejected):
            ring.open(junk, context=b"here", now=NOW)


def test_policy_checks(ring: Keyring, open_all: Policy) -> None:
    token = ring.seal(1, now=NOW)
    idle = dataclasses.replace(open_all, idle_timeout=100)
    assert ring.open(token, now=NOW + 99, policy=idle).user_id == 1
    with pytest.raises(sesame.IdleExpired):
        ring.open(token, now=NOW + 100, policy=idle)
    absolute = dataclasses.replace(open_all, absolute_lifetime=1000)
    assert ring.open(token, now=NOW + 999, policy=absolute)
    with pytest.raises(sesame.LifetimeExpired):
        ring.open(token, now=NOW + 1000, policy=absolute)
    with pytest.raises(sesame.IssuedInFuture):
        ring.open(token, now=NOW - 1, policy=open_all)
    assert ring.open(token, now=NOW - 60, policy=dataclasses.replace(open_all, future_leeway=60))
    assert ring.open(token, now=0, policy=dataclasses.replace(open_all, future_leeway=None))
    with pytest.raises(sesame.Revoked):
        ring.open(token, now=NOW, policy=dataclasses.replace(open_all, revoked_before=NOW + 1))
    assert ring.open(token, now=NOW, policy=dataclasses.replace(open_all, revoked_before=NOW))
    revoked = dataclasses.replace(open_all, revoked_before=datetime.fromtimestamp(NOW + 1, UTC))
    assert revoked.revoked_before_unix == NOW + 1
    with pytest.raises(sesame.Revoked):
        ring.open(token, now=NOW, policy=revoked)
    # the token's own lifetime shortens the policy's
    short = ring.seal(1, lifetime=10, now=NOW)
    with pytest.raises(sesame.LifetimeExpired):
        ring.open(short, now=NOW + 10, policy=open_all)
    # the default policy: idle 24 h
    with pytest.raises(sesame.IdleExpired):
        ring.open(token, now=NOW + 86400)
    assert ring.open(token, now=NOW + 86399)
    # SessionExpired catches them all
    with pytest.raises(sesame.SessionExpired):
        ring.open(token, now=NOW + 100, policy=idle)


def test_refresh(ring: Keyring, open_all: Policy) -> None:
    token = ring.seal(77, context=b"ctx", data=b"payload", lifetime=7200, now=NOW)
    first = ring.open(token, context=b"ctx", now=NOW)
    fresh, session = ring.refresh(token, context=b"ctx", now=NOW + 1000)
    assert fresh != token
    assert session.user_id == 77 and session.session_id == first.session_id
    assert session.issued_at_unix == NOW and session.refreshed_at_unix == NOW + 1000
    assert session.lifetime == 7200 and session.data == b"payload"
    assert ring.open(fresh, context=b"ctx", now=NOW + 1000) == session
    # moves the session to the newest primary key
    ring.add_key(2, K2)
    ring.promote(2)
    moved, _ = ring.refresh(fresh, context=b"ctx", now=NOW + 2000)
    ring.retire(1)
    assert ring.open(moved, context=b"ctx", now=NOW + 2000).session_id == first.session_id
    with pytest.raises(sesame.UnknownKey):
        ring.refresh(fresh, context=b"ctx", now=NOW + 2000)
    with pytest.raises(sesame.AuthFailed):
        ring.refresh(moved, now=NOW + 2000)
    with pytest.raises(sesame.IdleExpired):
        ring.refresh(moved, context=b"ctx", now=NOW + 2500, policy=dataclasses.replace(open_all, idle_timeout=500))
    with pytest.raises(sesame.LifetimeExpired):
        ring.refresh(moved, context=b"ctx", now=NOW + 7200, policy=open_all)


def test_key_rotation(ring: Keyring) -> None:
    old = ring.seal(1, now=NOW)
    ring.add_key(2, K2)
    ring.promote(2)
    new = ring.seal(1, now=NOW)
    assert ring.open(old, now=NOW) and ring.open(new, now=NOW)
    assert b64decode(old)[1] == 1 and b64decode(new)[1] == 2  # the key ID in the header
    ring.retire(1)
    with pytest.raises(sesame.UnknownKey):
        ring.open(old, now=NOW)
    assert ring.open(new, now=NOW).user_id == 1


# -- Session -------------------------------------------------------------------


def test_session_kinds_have_their_own_limits(ring: Keyring) -> None:
    remembered = ring.seal(5, kind="remember_me", now=NOW)
    browser = ring.seal(5, now=NOW)
    later = NOW + 3 * 86_400  # past the browser idle timeout
    session = ring.open(remembered, now=later)
    assert session.kind == "remember_me" and session.remember_me
    with pytest.raises(sesame.IdleExpired):
        ring.open(browser, now=later)
    assert ring.open(browser, now=NOW).kind == "browser"
    with pytest.raises(sesame.IdleExpired):
        ring.open(remembered, now=later, policy=Policy(remember_me_idle_timeout=86_400))
    with pytest.raises(sesame.LifetimeExpired):
        ring.open(remembered, now=NOW + 30 * 86_400)
    assert ring.refresh(remembered, now=NOW + 60)[1].kind == "remember_me"
    with pytest.raises(ValueError):
        ring.seal(5, kind="forever")
    with pytest.raises(ValueError):
        Session(1, b"x" * 16, NOW, NOW, kind="forever")  # type: ignore[arg-type]


def test_session_is_a_frozen_dataclass(ring: Keyring) -> None:
    session = ring.open(ring.seal(5, data=b"d", lifetime=60, now=NOW), now=NOW)
    assert type(session) is Session and dataclasses.is_dataclass(session)
    refreshed = ring.refresh(ring.seal(5, now=NOW), now=NOW + 1)[1]
    assert type(refreshed) is Session and refreshed.refreshed_at_unix == NOW + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        refreshed.data = b"x"  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(session)] == [
        "user_id", "session_id", "issued_at", "refreshed_at", "lifetime", "data", "kind",
    ]  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.user_id = 6  # type: ignore[misc]
    made = Session(
        user_id=5,
        session_id=session.session_id,
        issued_at=datetime.fromtimestamp(NOW, UTC),
        refreshed_at=datetime.fromtimestamp(NOW, UTC),
        lifetime=60,
        data=b"d",
    )
    assert made == session and hash(made) == hash(session)
    assert dataclasses.asdict(session)["issued_at"] == datetime.fromtimestamp(NOW, UTC)
    assert dataclasses.replace(session, user_id=6).user_id == 6
    assert pickle.loads(pickle.dumps(session)) == session
    assert "user_id=5" in repr(session) and "data=1 bytes" in repr(session)
    with pytest.raises(AttributeError):
        session.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ValueError):
        Session(5, b"short", made.issued_at, made.refreshed_at)
    with pytest.raises(ValueError):
        Session(-5, session.session_id, made.issued_at, made.refreshed_at)


def test_session_revocation_cutoff(ring: Keyring) -> None:
    session = ring.open(ring.seal(5, now=NOW), now=NOW)
    assert session.check_revoked_before(None) is session
    assert session.check_revoked_before(NOW) is session  # strictly before
    assert not session.revoked_before(NOW) and not session.revoked_before(None)
    with pytest.raises(sesame.Revoked):
        session.check_revoked_before(NOW + 1)
    with pytest.raises(sesame.Revoked):
        sesame.check_revoked_before(session, datetime.fromtimestamp(NOW + 1, UTC))
    assert session.revoked_before(NOW + 1)


# -- Policy --------------------------------------------------------------------


def test_policy(ring: Keyring) -> None:
    policy = Policy.default()
    assert Policy() == policy
    session = ring.open(ring.seal(1, now=NOW), now=NOW)
    assert not policy.should_refresh(session, NOW + 899)
    assert policy.should_refresh(session, NOW + 900)
    assert policy.should_refresh(session, datetime.fromtimestamp(NOW + 900, UTC))
    assert policy.should_refresh(session)  # now: NOW was long ago
    never = Policy(refresh_after=None)
    assert not never.should_refresh(session, NOW + 10**9)
    assert Policy.no_limits().idle_timeout is None
    with pytest.raises(ValueError):
        Policy(idle_timeout=-1)
    with pytest.raises(ValueError):
        Policy(refresh_after=1.5)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.idle_timeout = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(policy)) == policy
    assert copy.deepcopy(Policy(idle_timeout=5)) == Policy(idle_timeout=5)
    assert Policy(revoked_before=0).revoked_before is None
    assert Policy(revoked_before=NOW).revoked_before == datetime.fromtimestamp(NOW, UTC)


def test_zeroed_policy_fails_closed(ring: Keyring) -> None:
    token = ring.seal(1, now=NOW)
    closed = Policy(idle_timeout=0, absolute_lifetime=0, future_leeway=0, revoked_before=None, refresh_after=0)
    with pytest.raises(sesame.LifetimeExpired):
        ring.open(token, now=NOW, policy=closed)


def test_invalid_argument_through_should_refresh(ring: Keyring) -> None:
    session = ring.open(ring.seal(1, now=NOW), now=NOW)
    # A hand-made session with more data than a token can hold: the library
    # refuses its claims (data_len > DATA_MAX).
    big = dataclasses.replace(session, data=b"x" * 200)
    with pytest.raises(sesame.InvalidArgument):
        Policy.default().should_refresh(big, NOW)
    with pytest.raises(sesame.InvalidArgument):
        big.check_revoked_before(NOW)
