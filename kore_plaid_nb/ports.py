"""Ports a trainee did not set: chosen free once, recorded in ``<state folder>/ports.json``.

Trainees who share a machine differ only in their state folder, so every port they do not
pin (APP_PORT, KORE_SIMULATOR_PORT, the emulator's) is one that is free, kept for their later
runs, and replaced only when something else took it meanwhile. A port is free only while
unbound AND unclaimed. Each user claims the ports they choose in their own folder,
``<tmp>/kore-plaid-ports-<uid>/`` (0711: others can test a port's name there, but neither
list nor write it), one 0600 file per port naming the state folder. A port is claimed first,
then looked up in the other users' folders, so two trainees choosing at the same moment,
before either binds, never both keep it.

Nothing in the shared temporary folder is trusted blindly: a claims folder that is a symbolic
link or belongs to another user is refused (with a warning: the bind check alone decides),
and only a folder this process has just created has its mode set, through a handle that does
not follow links.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .private_files import private_folder

FILE_NAME = "ports.json"
# below Linux's ephemeral range (32768-60999), so no outgoing connection holds one by chance
RANGE = (20000, 32000)
CLAIMS_PREFIX = "kore-plaid-ports-"
# this user's claims; the other users' folders are its siblings named CLAIMS_PREFIX<uid>
CLAIMS = Path(tempfile.gettempdir()) / f"{CLAIMS_PREFIX}{os.geteuid()}"
FOLDER_MODE = 0o711  # others may look a port up by name, not list or add claims
CLAIM_MODE = 0o600
_warned: set[Path] = set()


def assigned(home: Path, name: str) -> int:
    """The port recorded for ``name`` in this state folder; a free one is chosen first."""
    with _locked(home) as ports:
        port = ports.get(name)
        if not isinstance(port, int) or not 0 < port < 65536:
            port = _free_port(home, exclude=set(ports.values()))
            ports[name] = port
        return port


def reassign(home: Path, name: str) -> int:
    """Record a new free port for ``name`` (its old one is taken by another program)."""
    with _locked(home) as ports:
        port = _free_port(home, exclude=set(ports.values()))
        ports[name] = port
        return port


def recorded(home: Path) -> dict[str, int]:
    """Every port recorded in this state folder (nothing is chosen)."""
    try:
        data = json.loads((home / FILE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def forget(home: Path) -> None:
    """Drop the recorded ports (the next run chooses new ones)."""
    (home / FILE_NAME).unlink(missing_ok=True)


def _free_port(home: Path, exclude: set[object]) -> int:
    chooser = random.SystemRandom()
    with _claims_folder() as claims:
        others = _other_users_folders() if claims is not None else []
        for attempt in range(200):
            port = chooser.randint(*RANGE)
            if port in exclude or not _bindable(port):
                continue
            # after 100 claimed candidates, the claims are not trusted (a full or planted folder)
            if claims is None or attempt >= 100 or _claim(claims, others, port, home):
                return port
    raise OSError(f"no free TCP port in {RANGE[0]}-{RANGE[1]} on 127.0.0.1")


@contextlib.contextmanager
def _claims_folder() -> Iterator[int | None]:
    """A no-follow handle on this user's claims folder; None when there is none to use."""
    fd = _open_claims_folder(CLAIMS)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _open_claims_folder(path: Path) -> int | None:
    created = True
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        created = False
    except OSError:
        return None  # no writable temporary folder: the bind check alone decides
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        _refuse(path, "is a symbolic link or not a folder")
        return None
    info = os.fstat(fd)
    if info.st_uid not in (os.geteuid(), 0):
        reason = f"belongs to another user (uid {info.st_uid})"
    elif created and info.st_uid == os.geteuid():
        os.fchmod(fd, FOLDER_MODE)  # made just now by this process: its mode is ours to set
        return fd
    elif info.st_mode & 0o022:
        reason = f"can be written by other users (mode {stat.S_IMODE(info.st_mode):o})"
    else:
        return fd
    os.close(fd)
    _refuse(path, reason)
    return None


def _refuse(path: Path, reason: str) -> None:
    """Say once per process why the claims folder is not used, and what to do."""
    if path in _warned:
        return
    _warned.add(path)
    print(
        f"kore-plaid: the port-claims folder {path} {reason}, so it is not used (someone may "
        "have planted it). Ports are still checked free before use, but two trainees of this "
        f"machine could now choose the same one. What to do: remove it (`rm -rf {path}`, or "
        "ask an administrator when it is not yours); it is made again, private, on next use.",
        file=sys.stderr,
    )


def _other_users_folders() -> list[Path]:
    """The other users' claims folders: siblings named for the uid that owns them."""
    found: list[Path] = []
    with contextlib.suppress(OSError), os.scandir(CLAIMS.parent) as entries:
        for entry in entries:
            uid = entry.name.removeprefix(CLAIMS_PREFIX)
            if entry.name == CLAIMS.name or uid == entry.name or not uid.isdigit():
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode) and info.st_uid == int(uid):
                    found.append(Path(entry.path))
    return found


def _claim(claims: int, others: list[Path], port: int, home: Path) -> bool:
    """Claim ``port`` for this state folder; False when another state folder holds it."""
    name, owner = str(port), str(home.resolve()).encode()
    holder = _holder(claims, name)
    if holder == owner:
        return True
    if holder is not None:
        if not _stale(holder):
            return False
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=claims)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, CLAIM_MODE, dir_fd=claims)
    except FileExistsError:
        return False  # claimed meanwhile
    except OSError:
        return True  # claims cannot be written: the bind check alone decides
    with os.fdopen(fd, "wb") as handle:
        handle.write(owner)
    if any(os.path.lexists(folder / name) for folder in others):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=claims)
        return False
    return True


def _holder(claims: int, name: str) -> bytes | None:
    """The state folder named by a claim (None when unclaimed; b"" when unreadable)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=claims)
    except FileNotFoundError:
        return None
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as handle:
        return handle.read(4096) if stat.S_ISREG(os.fstat(fd).st_mode) else b""


def _stale(holder: bytes) -> bool:
    """True when the claiming state folder no longer exists."""
    return bool(holder) and not Path(holder.decode(errors="replace")).exists()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[dict[str, object]]:
    """The recorded ports, read and written back under an exclusive lock."""
    private_folder(home)
    path = home / FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 1 << 16)
        try:
            ports = json.loads(raw) if raw.strip() else {}
        except ValueError:
            ports = {}
        if not isinstance(ports, dict):
            ports = {}
        before = dict(ports)
        yield ports
        if ports != before:
            data = json.dumps(ports, indent=2, sort_keys=True).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
    finally:
        os.close(fd)
