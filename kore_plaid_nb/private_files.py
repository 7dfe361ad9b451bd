"""Folders and files only their owner can read: folders 0700, files 0600.

Trainees on a JupyterHub share one machine, and the state folder and ``build/`` hold settings,
logs, tokens and executed notebooks. The program's entry (:func:`private_by_default`: umask
077) covers what libraries create (SQLite files, notebooks); these helpers set the modes
explicitly, for a kernel that Jupyter started with its own umask (often 022). A leaf module.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_by_default() -> None:
    """From now on, what this process (and its children) creates is its owner's only."""
    os.umask(PRIVATE_UMASK)


def private_folder(path: Path) -> Path:
    """``path`` made (with its missing parents) or kept, 0700 when it is this user's."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing (never through a link), 0600 when it is ours."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_private(path: Path, content: str | bytes) -> Path:
    """Replace ``path`` with ``content`` through a new 0600 file in the same folder."""
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def _tighten(path: Path, mode: int) -> None:
    """Take group and others' access away from a folder of ours made before (``mkdir -p``)."""
    with contextlib.suppress(OSError):
        info = os.stat(path)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, mode)
