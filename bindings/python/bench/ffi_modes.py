"""The cost of the call itself: sesame_seal, sesame_open and a no-op
(``sesame_token_max``) called with prepared arguments and no wrapper, through
each way Python can reach the C ABI, next to the same calls in a C loop.
bench.py runs these in its interleaved rounds; this module only builds the
contenders.

- cffi API mode: the compiled ``sesame._sesame_cffi`` (what the binding uses).
- cffi ABI mode: the same declarations through libffi (the fallback).
- ctypes, prototyped: a ``CDLL`` with ``argtypes`` (from_param per argument).
- ctypes, pre-typed: a ``PyDLL`` without argtypes, every argument a ready
  ctypes object (the binding's hot path before cffi).
- C: ``bench/c_loop.c``, compiled here with ``cc`` against the same library.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import cffi

import sesame
from sesame import _native
from sesame._cdef import CDEF

HERE = Path(__file__).resolve().parent
USER_ID = 123456
KEY = bytes(range(1, 33))
NO_LIMIT = 2**64 - 1
Ops = dict[str, Callable[[], Any]]


def _cffi_ops(ffi: Any, lib: Any, now: int) -> Ops:
    out = ffi.new("sesame_keyring **")
    assert lib.sesame_keyring_new(out) == 0
    ring = ffi.gc(out[0], lib.sesame_keyring_free)
    assert lib.sesame_keyring_add_key(ring, 1, KEY, len(KEY)) == 0
    policy = ffi.new("sesame_policy *")
    assert lib.sesame_policy_default(policy) == 0
    token, length, claims, null = ffi.new("char[]", 320), ffi.new("size_t *"), ffi.new("sesame_claims *"), ffi.NULL
    seal, open_ = lib.sesame_seal, lib.sesame_open
    assert seal(ring, USER_ID, 0, NO_LIMIT, null, 0, null, 0, now, token, 320, length) == 0
    text = ffi.unpack(token, length[0])
    size = len(text)
    assert open_(ring, text, size, null, 0, policy, now, claims) == 0 and claims.user_id == USER_ID
    return {
        "no-op": lib.sesame_token_max,
        "seal": lambda: seal(ring, USER_ID, 0, NO_LIMIT, null, 0, null, 0, now, token, 320, length),
        "open": lambda: open_(ring, text, size, null, 0, policy, now, claims),
    }


class _Claims(ctypes.Structure):
    _fields_ = [("raw", ctypes.c_uint8 * _native.ffi.sizeof("sesame_claims"))]


def _ctypes_ops(now: int, pretyped: bool) -> Ops:
    from ctypes import POINTER, byref, c_char, c_char_p, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p

    path = _native.library_path
    lib: Any = ctypes.PyDLL(path) if pretyped else ctypes.CDLL(path)
    ring = c_void_p()
    lib.sesame_keyring_new.argtypes = [POINTER(c_void_p)]
    assert lib.sesame_keyring_new(byref(ring)) == 0
    lib.sesame_keyring_add_key.argtypes = [c_void_p, c_uint32, c_char_p, c_size_t]
    assert lib.sesame_keyring_add_key(ring, 1, KEY, len(KEY)) == 0
    policy = (ctypes.c_uint8 * _native.ffi.sizeof("sesame_policy"))()
    assert lib.sesame_policy_default(byref(policy)) == 0
    token, length, claims = ctypes.create_string_buffer(320), c_size_t(), _Claims()
    seal, open_, noop = lib.sesame_seal, lib.sesame_open, lib.sesame_token_max
    seal.restype = open_.restype = c_uint32
    noop.restype = c_size_t
    noop.argtypes = []
    if pretyped:
        user, span, zero, when, cap = c_uint64(USER_ID), c_uint64(NO_LIMIT), c_size_t(0), c_uint64(now), c_size_t(320)
        browser = c_uint8(0)
        token_ref, length_ref, claims_ref, policy_ref = byref(token), byref(length), byref(claims), byref(policy)
        assert seal(ring, user, browser, span, None, zero, None, zero, when, token_ref, cap, length_ref) == 0
        text = token.value
        size = c_size_t(len(text))
        return {
            "no-op": noop,
            "seal": lambda: seal(ring, user, browser, span, None, zero, None, zero, when, token_ref, cap, length_ref),
            "open": lambda: open_(ring, text, size, None, zero, policy_ref, when, claims_ref),
        }
    seal.argtypes = [c_void_p, c_uint64, c_uint8, c_uint64, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64,
                     POINTER(c_char), c_size_t, POINTER(c_size_t)]  # fmt: skip
    open_.argtypes = [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p, c_uint64, POINTER(_Claims)]
    assert seal(ring, USER_ID, 0, NO_LIMIT, None, 0, None, 0, now, token, 320, byref(length)) == 0
    text = token.value
    size_ = len(text)
    length_ref, claims_ref, policy_ref = byref(length), byref(claims), ctypes.addressof(policy)
    return {
        "no-op": noop,
        "seal": lambda: seal(ring, USER_ID, 0, NO_LIMIT, None, 0, None, 0, now, token, 320, length_ref),
        "open": lambda: open_(ring, text, size_, None, 0, policy_ref, now, claims_ref),
    }


def contenders(now: int) -> dict[str, Ops]:
    """Name -> {"no-op", "seal", "open"}: the bare calls of every mechanism."""
    out: dict[str, Ops] = {}
    if _native.MODE == "api":
        out["cffi API mode (the binding)"] = _cffi_ops(_native.ffi, _native.lib, now)
    abi = cffi.FFI()
    abi.cdef(CDEF)
    out["cffi ABI mode"] = _cffi_ops(abi, abi.dlopen(_native.library_path), now)
    out["ctypes CDLL, argtypes"] = _ctypes_ops(now, pretyped=False)
    out["ctypes PyDLL, pre-typed args"] = _ctypes_ops(now, pretyped=True)
    return out


def c_loop() -> dict[str, float] | None:
    """ns per sesame_seal / sesame_open in C (bench/c_loop.c), or None
    without a C compiler."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None
    library = Path(_native.library_path).resolve()
    include = HERE.parent.parent.parent / "include"
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "c_loop"
        subprocess.run(
            [cc, "-O2", "-I", str(include), str(HERE / "c_loop.c"), str(library), f"-Wl,-rpath,{library.parent}",
             "-o", str(binary)],
            check=True,
        )  # fmt: skip
        out = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=120).stdout
    values = dict(line.split() for line in out.splitlines())
    return {"seal": float(values["seal_ns"]) / 1000, "open": float(values["open_ns"]) / 1000}


__all__ = ["contenders", "c_loop", "sesame"]
