"""Tokens made by the other languages: the format vectors (made by the Rust
core with fixed nonces), the Rust interop CLI in both directions, and the C
example's cookie."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

import sesame
from sesame import Keyring, Policy

from .conftest import C_EXAMPLE, VECTORS, require_tool, run_interop

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def load_vectors() -> list[dict[str, str]]:
    vectors, block = [], {}
    for line in VECTORS.read_text().splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if block:
                vectors.append(block)
            block = {}
            continue
        name, _, value = line.partition(":")
        block[name.strip()] = value.strip()
    return vectors


VECTOR_LIST = load_vectors()


def test_vectors_file_has_vectors() -> None:
    assert len(VECTOR_LIST) >= 3


@pytest.mark.parametrize("vector", VECTOR_LIST, ids=[v["name"] for v in VECTOR_LIST])
def test_format_vector_opens(vector: dict[str, str]) -> None:
    with Keyring() as ring:
        ring.add_key(int(vector["key_id"]), bytes.fromhex(vector["key"]))
        token = vector["token"]
        assert len(token) == int(vector["token_chars"])
        context = bytes.fromhex(vector["context"])
        refreshed = int(vector["refreshed_at"])
        session = ring.open(token, context=context, now=refreshed, policy=Policy.no_limits())
        assert session.user_id == int(vector["user_id"])
        assert session.session_id == bytes.fromhex(vector["session_id"])
        assert session.issued_at_unix == int(vector["issued_at"])
        assert session.refreshed_at_unix == refreshed
        lifetime = None if vector["lifetime"] == "none" else int(vector["lifetime"])
        if lifetime == 2**64 - 1:
            # The C ABI writes "no lifetime" as SESAME_NO_LIMIT (UINT64_MAX), so
            # a token lifetime of exactly 2**64-1 seconds (which never ends
            # either) reads back as None through it.
            assert session.lifetime is None
        else:
            assert session.lifetime == lifetime
        assert session.data == bytes.fromhex(vector["data"])
        # Under any other context: authentication failed.
        with pytest.raises(sesame.AuthFailed):
            other = context[:-1] + bytes([context[-1] ^ 1]) if context else b"x"
            ring.open(token, context=other, now=refreshed, policy=Policy.no_limits())
        # Refreshing in Python keeps everything but the nonce and refreshed_at.
        room = lifetime is None or lifetime > 5 + refreshed - session.issued_at_unix
        later = refreshed + 5 if room and refreshed + 5 < 2**64 else refreshed
        fresh, again = ring.refresh(token, context=context, now=later, policy=Policy.no_limits())
        assert again.session_id == session.session_id and again.data == session.data
        assert again.refreshed_at_unix == later and fresh != token


def parse_claims(line: str) -> dict[str, str]:
    assert line.startswith("user_id="), line
    return dict(part.split("=", 1) for part in line.split())


@pytest.mark.parametrize(
    ("key_id", "user_id", "context", "data"),
    [(1, 123456, b"", b""), (300, 42, b"device:5b1f0c", b"role=admin"), (2**32 - 1, 2**64 - 1, b"c" * 128, b"d" * 128)],
)
def test_rust_seals_python_opens(interop: Path, key_id: int, user_id: int, context: bytes, data: bytes) -> None:
    now = int(time.time())
    token = run_interop(interop, "seal", key_id, KEY_HEX, user_id, context.hex(), now, data.hex())
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
    with Keyring() as ring:
        ring.add_key(key_id, bytes.fromhex(KEY_HEX))
        session = ring.open(token, context=context, now=now)
        assert (session.user_id, session.data, session.issued_at_unix) == (user_id, data, now)
        with pytest.raises(sesame.AuthFailed):
            ring.open(token, context=context + b"!" if len(context) < 128 else b"", now=now)


@pytest.mark.parametrize(
    ("key_id", "user_id", "context", "data", "lifetime"),
    [(1, 123456, b"", b"", None), (300, 42, b"device:5b1f0c", b"role=admin", 2592000), (0, 0, b"\x00", b"\xff", 1)],
)
def test_python_seals_rust_opens(
    interop: Path, key_id: int, user_id: int, context: bytes, data: bytes, lifetime: int | None
) -> None:
    now = 1_700_000_000
    with Keyring() as ring:
        ring.add_key(key_id, bytes.fromhex(KEY_HEX))
        token = ring.seal(user_id, context=context, data=data, lifetime=lifetime, now=now)
        session = ring.open(token, context=context, now=now, policy=Policy.no_limits())
        claims = parse_claims(run_interop(interop, "open", key_id, KEY_HEX, token, context.hex(), now))
        assert claims == {
            "user_id": str(user_id),
            "session_id": session.session_id.hex(),
            "issued_at": str(now),
            "refreshed_at": str(now),
            "lifetime": "none" if lifetime is None else str(lifetime),
            "data": data.hex(),
        }
        # A token refreshed in Python opens in Rust too.
        later = now + (86400 if lifetime is None or lifetime > 86400 else lifetime - 1)
        fresh, _ = ring.refresh(token, context=context, now=later, policy=Policy.no_limits())
        claims = parse_claims(run_interop(interop, "open", key_id, KEY_HEX, fresh, context.hex(), later))
        assert claims["refreshed_at"] == str(later) and claims["session_id"] == session.session_id.hex()
        # And Rust refuses what it should.
        assert run_interop(interop, "open", key_id, KEY_HEX, token, (context + b"?").hex(), now).startswith(
            f"error={sesame.AuthFailed.code} "
        )
        assert run_interop(interop, "open", key_id + 1, KEY_HEX, token, context.hex(), now).startswith(
            f"error={sesame.UnknownKey.code} "
        )


def test_the_c_example_cookie_opens_in_python() -> None:
    example = require_tool(C_EXAMPLE, "run `make -C bindings/c build/session_cookie`")
    before = int(time.time())
    output = subprocess.run([str(example)], capture_output=True, text=True, timeout=60, check=True).stdout
    cookie = re.search(r"^Set-Cookie: session=([A-Za-z0-9_-]+);", output, re.M)
    refreshed = re.search(r"^refreshed: Set-Cookie: session=([A-Za-z0-9_-]+) \(refreshed_at (\d+)\)", output, re.M)
    assert cookie and refreshed, output
    assert "Cache-Control: private, no-store" in output
    device = b"device-cookie-digest-of-this-browser"
    with Keyring() as ring:
        ring.derive_key(1, b"replace with 32+ random bytes from your vault", b"session cookie")
        session = ring.open(cookie.group(1), context=device)
        assert session.user_id == 123456 and session.issued_at_unix >= before
        later = int(refreshed.group(2))
        again = ring.open(refreshed.group(1), context=device, now=later)
        assert again.session_id == session.session_id and again.refreshed_at_unix == later
        with pytest.raises(sesame.AuthFailed):
            ring.open(cookie.group(1), context=b"a different browser")
