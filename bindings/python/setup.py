"""Builds libsesame with cargo and bundles it in the package.

Everything else about the package is in pyproject.toml. ``pip install
bindings/python`` (or ``python -m build bindings/python``) runs ``build_py``
below, which, from the repository root two levels up, runs

    cargo rustc --lib --release --features capi,registry-sqlite,registry-redis \
        --crate-type staticlib --crate-type cdylib

(the same command as ``make -C bindings/c lib``, so either reuses the other's
build) and copies ``target/release/libsesame.so`` (``.dylib``, ``.dll``)
into the built package, next to ``_native.py``, which loads it from there.
It also compiles ``sesame._sesame_cffi``, the cffi API-mode module
(``build_cffi.py``; needs a C compiler and the Python headers), so the wheel
is tagged for this Python and platform.

Environment:

- ``SESAME_PREBUILT_LIB=/path/to/libsesame.so``: bundle that file instead
  of running cargo (e.g. a library built for the target elsewhere).
- ``CARGO``: the cargo to run (default ``cargo``); ``CARGO_TARGET_DIR`` is
  honoured as cargo honours it.

Editable installs (``pip install -e``) compile the cffi module but bundle
no library: they are for working on the binding, with ``SESAME_LIB``
pointing at a build (run-tests.sh does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _library_name() -> str:
    if sys.platform == "darwin":
        return "libsesame.dylib"
    if sys.platform == "win32":
        return "sesame.dll"
    return "libsesame.so"


def _cargo_target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else ROOT / path
    return ROOT / "target"


def build_library() -> Path:
    """Builds libsesame (or takes $SESAME_PREBUILT_LIB) and returns its path."""
    prebuilt = os.environ.get("SESAME_PREBUILT_LIB")
    if prebuilt:
        path = Path(prebuilt)
        if not path.is_file():
            raise SystemExit(f"sesame-session: SESAME_PREBUILT_LIB={prebuilt} is not a file")
        return path
    if not (ROOT / "Cargo.toml").is_file() or not (ROOT / "src").is_dir():
        raise SystemExit(
            f"sesame-session: no sesame source tree at {ROOT} (expected Cargo.toml there): "
            "build from a checkout of the repository (pip install <repo>/bindings/python), "
            "or set SESAME_PREBUILT_LIB to a built libsesame"
        )
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(
            "sesame-session: building the package needs cargo (https://rustup.rs) to compile "
            "libsesame; or set SESAME_PREBUILT_LIB to a built libsesame"
        )
    command = [
        cargo, "rustc", "--lib", "--release", "--features", "capi,registry-sqlite,registry-redis",
        "--crate-type", "staticlib", "--crate-type", "cdylib",
    ]  # fmt: skip
    print("sesame-session: building libsesame:", " ".join(command), f"(in {ROOT})", flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    path = _cargo_target_dir() / "release" / _library_name()
    if not path.is_file():
        raise SystemExit(f"sesame-session: cargo succeeded but {path} is missing")
    return path


class BuildPyWithLibrary(build_py):
    """build_py, plus libsesame copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        library = build_library()
        destination = Path(self.build_lib) / "sesame" / _library_name()
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, destination)
        os.chmod(destination, 0o755)
        print(f"sesame-session: bundled {library} as {destination}", flush=True)


setup(
    cmdclass={"build_py": BuildPyWithLibrary},
    cffi_modules=["build_cffi.py:ffibuilder"],
)
