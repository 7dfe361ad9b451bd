"""Ports a trainee did not set: chosen free once, recorded in ``<state folder>/ports.json``.

Trainees who share a machine differ only in their state folder, so every port they do not
pin (APP_PORT, KORE_SIMULATOR_PORT, the emulator's) is one that is free, kept for their later
runs, and replaced only when something else took it meanwhile. A port is free only while
unbound AND unclaimed: each chosen port is claimed machine-wide by a file in
``<tmp>/kore-plaid-ports/`` (sticky, like /tmp), so two trainees choosing at the same moment,
before either binds, never get the same one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_NAME = "ports.json"
# below Linux's ephemeral range (32768-60999), so no outgoing connection holds one by chance
RANGE = (20000, 32000)
CLAIMS = Path(tempfile.gettempdir()) / "kore-plaid-ports"


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
    for attempt in range(200):
        port = chooser.randint(*RANGE)
        # after 100 claimed candidates, the claims are not trusted (a full or planted folder)
        if port not in exclude and _bindable(port) and (attempt >= 100 or _claim(port, home)):
            return port
    raise OSError(f"no free TCP port in {RANGE[0]}-{RANGE[1]} on 127.0.0.1")


def _claim(port: int, home: Path) -> bool:
    """Claim ``port`` for this state folder; False when another state folder holds it."""
    owner = str(home.resolve()).encode()
    try:
        CLAIMS.mkdir(mode=0o1777, exist_ok=True)
        # shared by every user like /tmp (sticky); a claim holds only a state folder's path
        with contextlib.suppress(PermissionError):  # another user made the folder
            os.chmod(CLAIMS, 0o1777)  # noqa: S103  # nosec B103
        fd = os.open(
            CLAIMS / str(port), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644
        )
    except FileExistsError:
        return _held_by(port, owner) or (_release_stale(port) and _claim(port, home))
    except OSError:
        return True  # no shared temporary folder: the bind check alone decides
    with os.fdopen(fd, "wb") as handle:
        handle.write(owner)
    return True


def _held_by(port: int, owner: bytes) -> bool:
    with contextlib.suppress(OSError):
        return (CLAIMS / str(port)).read_bytes() == owner
    return False


def _release_stale(port: int) -> bool:
    """Remove the claim of a state folder that no longer exists; True when removed."""
    path = CLAIMS / str(port)
    try:
        holder = path.read_bytes().decode(errors="replace")
        if not holder or Path(holder).exists():
            return False
        path.unlink()
    except OSError:
        return False
    return True


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
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
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
