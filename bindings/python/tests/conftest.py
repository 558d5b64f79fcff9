"""Shared fixtures: keys, paths to the other languages' tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import sesame

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors" / "format-v1.txt"
INTEROP = REPO / "target" / "release" / "examples" / "interop"
C_EXAMPLE = REPO / "bindings" / "c" / "build" / "session_cookie"

K1 = bytes(range(1, 33))
K2 = bytes(range(32, 0, -1))
NOW = 1_700_000_000


def require_tool(path: Path, how: str) -> Path:
    """The tool at ``path``; skipped if missing, unless run-tests.sh (which
    builds it) asked for every cross-language test to run."""
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = f"{path} is missing: {how}"
    if os.environ.get("SESAME_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def ring() -> Iterator[sesame.Keyring]:
    ring = sesame.Keyring()
    ring.add_key(1, K1)
    yield ring
    ring.close()


@pytest.fixture
def open_all() -> sesame.Policy:
    """Every limit off, so one rule can be tested alone."""
    return sesame.Policy(
        idle_timeout=None, absolute_lifetime=None, future_leeway=0, revoked_before=None, refresh_after=0
    )


@pytest.fixture(scope="session")
def interop() -> Path:
    return require_tool(INTEROP, "run `cargo build --release --example interop` at the repository root")


def run_interop(tool: Path, *args: str | int) -> str:
    result = subprocess.run(
        [str(tool), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout.strip()
