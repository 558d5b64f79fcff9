"""Keysets (tests/vectors/keyset-v1.json), key_ids() and token_key_id()."""

from __future__ import annotations

import json
from typing import Any

import pytest

import sesame
from sesame import Keyring

from .conftest import K1, K2, NOW, REPO

KEYSET_VECTORS = REPO / "tests" / "vectors" / "keyset-v1.json"
DOC = json.loads(KEYSET_VECTORS.read_text(encoding="utf-8"))
VALID: list[dict[str, Any]] = DOC["valid"]
INVALID: list[dict[str, Any]] = DOC["invalid"]


def invalid_text(vector: dict[str, Any]) -> str:
    if "text" in vector:
        return str(vector["text"])
    # The one vector too large to store: "header, a newline, then 65,536 newlines".
    assert vector["generate"] == "header, a newline, then 65,536 newlines", vector
    return "sesame-keyset/1\n" + "\n" * 65_536


def test_the_vectors_are_there() -> None:
    assert len(VALID) >= 5 and len(INVALID) >= 30


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_every_valid_keyset_loads(vector: dict[str, Any]) -> None:
    context = DOC["context"].encode()
    data = bytes.fromhex(DOC["data"])
    assert sesame.keyset_problem(vector["text"]) is None
    with Keyring.from_keyset(vector["text"]) as ring:
        assert ring.key_ids() == sorted(vector["usable_ids"])
        assert len(ring) == len(vector["usable_ids"])
        assert ring.primary_id == vector["primary"]
        for entry in vector["tokens"]:
            token = entry["token"]
            assert sesame.token_key_id(token) == entry["key_id"]
            session = ring.open(token, context=context, now=DOC["now"], policy=sesame.Policy(future_leeway=0))
            assert session.user_id == DOC["user_id"] and session.data == data
        if vector["primary"] is not None:
            fresh = ring.seal(1, now=NOW)
            assert sesame.token_key_id(fresh) == vector["primary"]
        else:
            with pytest.raises(sesame.NoPrimaryKey):
                ring.seal(1, now=NOW)
    # The same text as bytes, into an existing ring: every old key replaced.
    with Keyring() as ring:
        ring.add_key(999_999, K2)
        ring.load_keyset(vector["text"].encode())
        assert ring.key_ids() == sorted(vector["usable_ids"]) and ring.primary_id == vector["primary"]


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_every_invalid_keyset_raises(vector: dict[str, Any]) -> None:
    text = invalid_text(vector)
    with pytest.raises(sesame.InvalidKeyset) as caught:
        Keyring.from_keyset(text)
    error = caught.value
    assert isinstance(error, sesame.KeyringError)
    assert error.code == 18 and error.name == "SESAME_INVALID_KEYSET"
    problem = sesame.keyset_problem(text)
    assert problem and problem in str(error)
    if vector["line"]:
        assert f"line {vector['line']}" in problem, problem
    # The message never repeats the keyset's text (it may hold secrets).
    for word in text.replace(";", " ").split():
        name, _, value = word.partition("=")
        if name in ("raw", "master", "purpose") and len(value) >= 4:
            assert value not in str(error), (word, str(error))
    # A ring that was loaded before is unchanged.
    with Keyring() as ring:
        ring.add_key(1, K1)
        ring.add_key(2, K2)
        with pytest.raises(sesame.InvalidKeyset):
            ring.load_keyset(text)
        assert ring.key_ids() == [1, 2] and ring.primary_id == 1


def test_load_keyset_replaces_every_key_and_tokens_follow() -> None:
    rotation = next(v for v in VALID if v["name"].startswith("rotation"))
    with Keyring() as ring:
        ring.add_key(7, K1)
        old = ring.seal(3, now=NOW)
        ring.load_keyset(rotation["text"])
        assert 7 not in ring.key_ids()
        with pytest.raises(sesame.UnknownKey):
            ring.open(old, now=NOW)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    one_line = next(v for v in VALID if ";" in v["text"])
    monkeypatch.setenv("SESAME_KEYSET", one_line["text"])
    with Keyring.from_env() as ring:
        assert ring.key_ids() == sorted(one_line["usable_ids"]) and ring.primary_id == one_line["primary"]
    monkeypatch.setenv("MY_KEYS", VALID[0]["text"])
    with Keyring.from_env("MY_KEYS") as ring:
        assert ring.primary_id == VALID[0]["primary"]

    monkeypatch.delenv("SESAME_KEYSET")
    with pytest.raises(sesame.InvalidKeyset, match="SESAME_KEYSET is not set"):
        Keyring.from_env()
    monkeypatch.setenv("SESAME_KEYSET", "")
    with pytest.raises(sesame.InvalidKeyset, match="SESAME_KEYSET.*line 1"):
        Keyring.from_env()
    monkeypatch.setenv("SESAME_KEYSET", "sesame-keyset/1;key id=1 status=primary")
    with pytest.raises(sesame.InvalidKeyset, match="SESAME_KEYSET"):
        Keyring.from_env()


def test_key_ids_ascending(ring: Keyring) -> None:
    assert ring.key_ids() == [1]
    ring.add_key(2**32 - 1, K2)
    ring.derive_key(0, b"m", b"p")
    ring.derive_key(500, b"m", b"q")
    assert ring.key_ids() == [0, 1, 500, 2**32 - 1]
    ring.retire(500)
    assert ring.key_ids() == [0, 1, 2**32 - 1]
    for extra in range(10, 10 + sesame.RING_CAPACITY - 3):
        ring.derive_key(extra, b"m", str(extra))
    assert len(ring.key_ids()) == sesame.RING_CAPACITY == len(ring)
    with Keyring() as empty:
        assert empty.key_ids() == []


def test_token_key_id(ring: Keyring) -> None:
    ring.add_key(77, K2)
    token = ring.seal(1, now=NOW)
    assert sesame.token_key_id(token) == 1
    ring.promote(77)
    assert sesame.token_key_id(ring.seal(1, now=NOW)) == 77
    assert sesame.token_key_id(token.encode()) == 1
    with pytest.raises(sesame.Malformed):
        sesame.token_key_id("not a token!")
    with pytest.raises(sesame.TooLong):
        sesame.token_key_id("A" * 1000)
    with pytest.raises(sesame.InvalidToken):
        sesame.token_key_id("")
    with pytest.raises(TypeError):
        sesame.token_key_id(12)  # type: ignore[arg-type]


def test_keyset_type_errors() -> None:
    with Keyring() as ring, pytest.raises(TypeError):
        ring.load_keyset(42)  # type: ignore[arg-type]
