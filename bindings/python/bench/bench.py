"""sesame against the usual Python session-token choices, in one run.

Each library seals and opens the same session: user 123456, a 16-byte
session ID, login and refresh timestamps. "open" means what a session
middleware needs: authenticate/decrypt, decode, and check the idle timeout
(24 h), the absolute lifetime (14 days) and clock skew, returning the
session's fields.

- sesame: ``Keyring.seal`` / ``Keyring.open`` (XAES-256-GCM; the checks are
  in the library; open returns a ``sesame.Session``).
- itsdangerous ``URLSafeTimedSerializer`` (HMAC-SHA1, signed not encrypted,
  as Flask's session cookie); ``loads(max_age=...)`` plus the lifetime check.
- cryptography ``Fernet`` (AES-128-CBC + HMAC-SHA256); ``decrypt(ttl=...)``
  plus the checks.
- pyseto v4.local (XChaCha20 + BLAKE2b); decode plus the checks.

Two tables: each peer with its usual payload (a compact JSON object, which
PASETO requires), and the peers' best case (itsdangerous with a JSON list,
Fernet and pyseto with 40 packed bytes). Either way the peers get a fixed
session ID, while sesame draws a fresh random session ID and nonce on every
seal. Timing: ``timeit``, auto-ranged loop counts, ``--repeat`` rounds that
interleave every operation (so a change of load hits all alike), the minimum
per operation (median in brackets).

A third table gives the floor under sesame's row, measured in the same
rounds: the bare ``sesame_seal`` / ``sesame_open`` and a no-op C function
called with prepared arguments through cffi's API mode (what the binding
uses), cffi's ABI mode and ctypes (``ffi_modes.py``), and the same two calls
in a C loop (``c_loop.c``, run three times, the best taken).

    python bench/bench.py [--repeat 7] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import struct
import sys
import time
import timeit
from typing import Any, Callable

import sesame

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

USER_ID = 123456
IDLE = 24 * 3600
ABSOLUTE = 14 * 24 * 3600
LEEWAY = 60
GOALS = {"Fernet": 6.0, "itsdangerous": 10.0, "pyseto v4.local": 15.0}


class SessionTooOld(Exception):
    pass


def check(issued_at: int, refreshed_at: int, now: int) -> None:
    """The policy every peer must apply by hand (sesame does it inside open)."""
    if issued_at > now + LEEWAY or refreshed_at > now + LEEWAY:
        raise SessionTooOld("issued in the future")
    if now >= issued_at + ABSOLUTE:
        raise SessionTooOld("lifetime expired")
    if now >= refreshed_at + IDLE:
        raise SessionTooOld("idle expired")


def make_sesame(now: int) -> tuple[Callable[[], Any], Callable[[], Any], str]:
    ring = sesame.Keyring()
    ring.add_key(1, os.urandom(32))
    token = ring.seal(USER_ID, now=now)

    def seal() -> str:
        return ring.seal(USER_ID, now=now)

    def open_() -> sesame.Session:
        return ring.open(token, now=now)

    assert open_().user_id == USER_ID
    return seal, open_, token


def make_itsdangerous(now: int, sid: bytes, packed: bool) -> tuple[Callable[[], Any], Callable[[], Any], str]:
    """As Flask signs its session cookie: a JSON object (``packed``: a JSON
    list, its cheapest form)."""
    from itsdangerous import URLSafeTimedSerializer

    serializer = URLSafeTimedSerializer(os.urandom(32), salt="session")
    sid_text = base64.urlsafe_b64encode(sid).rstrip(b"=").decode()

    if packed:

        def seal() -> str:
            return serializer.dumps([USER_ID, sid_text, now, now])

        def fields(value: Any) -> tuple[int, int, int]:
            return value[0], value[2], value[3]

    else:

        def seal() -> str:
            return serializer.dumps({"user_id": USER_ID, "session_id": sid_text, "iat": now, "rat": now})

        def fields(value: Any) -> tuple[int, int, int]:
            return value["user_id"], value["iat"], value["rat"]

    token = seal()

    def open_() -> Any:
        value = serializer.loads(token, max_age=IDLE)
        user, issued, refreshed = fields(value)
        check(issued, refreshed, now)
        return value

    assert fields(open_())[0] == USER_ID
    return seal, open_, token


PACKED = struct.Struct(">Q16sQQ")


def _codec(sid: bytes, now: int, packed: bool) -> tuple[Callable[[], bytes], Callable[[bytes], tuple[int, int, int]]]:
    """The payload: compact JSON (the usual choice), or 40 packed bytes."""
    if packed:

        def encode() -> bytes:
            return PACKED.pack(USER_ID, sid, now, now)

        def decode(raw: bytes) -> tuple[int, int, int]:
            user, _sid, issued, refreshed = PACKED.unpack(raw)
            return user, issued, refreshed

    else:
        sid_text = base64.urlsafe_b64encode(sid).rstrip(b"=").decode()
        dumps, loads = json.JSONEncoder(separators=(",", ":")).encode, json.loads

        def encode() -> bytes:
            return dumps({"user_id": USER_ID, "session_id": sid_text, "iat": now, "rat": now}).encode()

        def decode(raw: bytes) -> tuple[int, int, int]:
            value = loads(raw)
            return value["user_id"], value["iat"], value["rat"]

    return encode, decode


def make_fernet(now: int, sid: bytes, packed: bool) -> tuple[Callable[[], Any], Callable[[], Any], str]:
    from cryptography.fernet import Fernet

    fernet = Fernet(Fernet.generate_key())
    encode, decode = _codec(sid, now, packed)

    def seal() -> str:
        return fernet.encrypt(encode()).decode()

    token = seal()

    def open_() -> tuple[int, int, int]:
        fields = decode(fernet.decrypt(token, ttl=IDLE))
        check(fields[1], fields[2], now)
        return fields

    assert open_()[0] == USER_ID
    return seal, open_, token


def make_pyseto(now: int, sid: bytes, packed: bool) -> tuple[Callable[[], Any], Callable[[], Any], str]:
    """PASETO payloads are JSON objects by the spec; ``packed`` feeds pyseto
    raw bytes instead (it allows that), for the peers' best case."""
    import pyseto
    from pyseto import Key

    key = Key.new(version=4, purpose="local", key=os.urandom(32))
    encode, decode = _codec(sid, now, packed)

    def seal() -> str:
        return pyseto.encode(key, encode()).decode()

    token = seal()

    def open_() -> tuple[int, int, int]:
        fields = decode(pyseto.decode(key, token).payload)
        check(fields[1], fields[2], now)
        return fields

    assert open_()[0] == USER_ID
    return seal, open_, token


def measure_all(
    contenders: dict[str, tuple[Callable[[], Any], Callable[[], Any], str]],
    extra: dict[str, dict[str, Callable[[], Any]]],
    repeat: int,
    between: Callable[[], None] = lambda: None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Round-robin: every repeat times every operation once, so a change of
    load on the machine hits all contenders alike. Min and median per op.
    ``extra``: name -> {op: function}, timed in the same rounds (min only).
    ``between`` runs after the first round and after the middle one."""
    calls: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, (seal, open_, _token) in contenders.items():
        calls[(name, "seal")], calls[(name, "open")] = seal, open_
    for name, ops in extra.items():
        for op, function in ops.items():
            calls[(name, op)] = function
    timers: dict[tuple[str, str], tuple[timeit.Timer, int]] = {}
    for key, function in calls.items():
        timer = timeit.Timer(function)
        loops, elapsed = timer.autorange()  # at least 0.2 s
        timers[key] = (timer, max(loops // 2, 100))
    runs: dict[tuple[str, str], list[float]] = {key: [] for key in timers}
    for index in range(repeat):
        for key, (timer, loops) in timers.items():
            runs[key].append(timer.timeit(loops) / loops * 1e6)
        if index in (0, repeat // 2):
            between()
    results: dict[str, dict[str, Any]] = {}
    for name, (_seal, _open, token) in contenders.items():
        entry: dict[str, Any] = {"token_chars": len(token)}
        for op in ("seal", "open"):
            entry[f"{op}_us"] = min(runs[(name, op)])
            entry[f"{op}_median_us"] = statistics.median(runs[(name, op)])
        results[name] = entry
    floors = {name: {op: min(runs[(name, op)]) for op in ops} for name, ops in extra.items()}
    return results, floors


def floor_table(floors: dict[str, dict[str, float]], c_loop: dict[str, float] | None, sesame_row: dict[str, Any]) -> None:
    print("| way of calling | no-op µs | sesame_seal µs | sesame_open µs |")
    print("|---|---:|---:|---:|")
    print(f"| sesame `Keyring.seal` / `.open` (the row above) | — | {sesame_row['seal_us']:.2f} | {sesame_row['open_us']:.2f} |")
    for name, ops in floors.items():
        print(f"| {name}, bare call | {ops['no-op']:.3f} | {ops['seal']:.2f} | {ops['open']:.2f} |")
    if c_loop is not None:
        print(f"| C loop (`c_loop.c`) | — | {c_loop['seal']:.2f} | {c_loop['open']:.2f} |")
    else:
        print("| C loop | (no C compiler) | | |")


def table(results: dict[str, dict[str, Any]]) -> None:
    print("| library | seal µs | open µs | token chars | seal: sesame faster by | open: sesame faster by |")
    print("|---|---:|---:|---:|---:|---:|")
    base = results["sesame"]
    for name, r in results.items():
        if name == "sesame":
            ratios = ("—", "—")
        else:
            ratios = (f"{r['seal_us'] / base['seal_us']:.1f}×", f"{r['open_us'] / base['open_us']:.1f}×")
        print(
            f"| {name} | {r['seal_us']:.2f} ({r['seal_median_us']:.2f}) | {r['open_us']:.2f} "
            f"({r['open_median_us']:.2f}) | {r['token_chars']} | {ratios[0]} | {ratios[1]} |"
        )


def goals(results: dict[str, dict[str, Any]], names: dict[str, str]) -> bool:
    """names: goal's peer -> the row of results to judge it on."""
    base = results["sesame"]
    ok = True
    for peer, goal in GOALS.items():
        name = names[peer]
        for op in ("seal", "open"):
            ratio = results[name][f"{op}_us"] / base[f"{op}_us"]
            met = ratio >= goal
            ok &= met
            print(f"  {op} ≥{goal:g}× faster than {name}: {ratio:.1f}× {'met' if met else 'MISSED'}")
    shortest = min(results[name]["token_chars"] for name in names.values())
    met = base["token_chars"] < shortest
    ok &= met
    print(f"  shortest token: sesame {base['token_chars']} chars vs {shortest} {'met' if met else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal (usual payloads) is missed")
    args = parser.parse_args()

    now = int(time.time())
    sid = os.urandom(16)
    usual = {
        "sesame": make_sesame(now),
        "itsdangerous": make_itsdangerous(now, sid, packed=False),
        "Fernet": make_fernet(now, sid, packed=False),
        "pyseto v4.local": make_pyseto(now, sid, packed=False),
    }
    best = {
        "sesame": usual["sesame"],
        "itsdangerous, JSON list": make_itsdangerous(now, sid, packed=True),
        "Fernet, packed": make_fernet(now, sid, packed=True),
        "pyseto v4.local, packed": make_pyseto(now, sid, packed=True),
    }
    import ffi_modes

    loops: list[dict[str, float]] = []

    def run_c_loop() -> None:
        measured = ffi_modes.c_loop()
        if measured is not None:
            loops.append(measured)

    results, floors = measure_all(
        {**usual, **{k: v for k, v in best.items() if k != "sesame"}},
        ffi_modes.contenders(now),
        args.repeat,
        run_c_loop,
    )
    run_c_loop()
    c_loop = {op: min(m[op] for m in loops) for op in ("seal", "open")} if loops else None

    print(
        f"sesame {sesame.__version__} (libsesame {sesame.LIBRARY_VERSION}), Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs; min of {args.repeat} interleaved timeit runs (median in brackets), "
        "µs per operation\n"
    )
    print("Each library with its usual payload (a JSON object; PASETO requires one):\n")
    table({name: results[name] for name in usual})
    print("\nGoals:")
    ok = goals(results, {peer: peer for peer in GOALS})
    print("\nThe peers' best case (a JSON list for itsdangerous; 40 packed bytes for Fernet and pyseto):\n")
    table({name: results[name] for name in best})
    print("\nThe same goals against the best case:")
    best_ok = goals(
        results,
        {"Fernet": "Fernet, packed", "itsdangerous": "itsdangerous, JSON list", "pyseto v4.local": "pyseto v4.local, packed"},
    )

    print("\nThe floor: bare calls with prepared arguments (min of the same rounds), and C:\n")
    floor_table(floors, c_loop, results["sesame"])

    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {"results": results, "goals_met": ok, "goals_met_best_case": best_ok, "floors": floors, "c_loop": c_loop},
                out,
                indent=2,
            )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
