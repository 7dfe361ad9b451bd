"""Notebook 00's checks of the machine: each with its result and, when it fails, its own fix."""

from __future__ import annotations

import importlib
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

MINIMUM_PYTHON: tuple[int, ...] = (3, 11)


@dataclass(frozen=True)
class Prerequisite:
    label: str
    result: str
    fix: str = ""  # empty when it passed


def python_version() -> Prerequisite:
    label = "Python 3.11 or newer"
    if tuple(sys.version_info[:2]) >= MINIMUM_PYTHON:
        return Prerequisite(label, "ok")
    return Prerequisite(label, "too old", "Use Python 3.11 or newer (`make install` with it).")


def module(label: str, module: str) -> Prerequisite:
    try:
        importlib.import_module(module)
    except ImportError:
        return Prerequisite(label, "missing: run `make install`", "Run `make install`.")
    return Prerequisite(label, "ok")


def writable(path: Path) -> Prerequisite:
    label = "state folder writable"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-check"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Prerequisite(
            label,
            f"not writable: {exc.strerror}",
            f"Make {path} writable for you, or set KORE_PLAID_HOME to a folder that is.",
        )
    return Prerequisite(label, "ok")


def env_file_private(path: Path) -> Prerequisite:
    label = ".env private (mode 0600)"
    if not path.is_file():
        return Prerequisite(label, "ok (no .env yet)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 == 0:
        return Prerequisite(label, "ok")
    return Prerequisite(
        label, f"not private (mode {mode:o}): run `chmod 600 .env`", f"Run `chmod 600 {path}`."
    )
