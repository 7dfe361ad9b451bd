"""Ports a trainee did not set: chosen free once, recorded in ``<state folder>/ports.json``.

Trainees who share a machine differ only in their state folder, so every port they do not
pin (APP_PORT, KORE_SIMULATOR_PORT, the emulator's) is one the system hands out as free,
kept for their later runs, and replaced only when something else took it meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

FILE_NAME = "ports.json"
# below Linux's ephemeral range (32768-60999), so no outgoing connection holds one by chance
RANGE = (20000, 32000)


def assigned(home: Path, name: str) -> int:
    """The port recorded for ``name`` in this state folder; a free one is chosen first."""
    with _locked(home) as ports:
        port = ports.get(name)
        if not isinstance(port, int) or not 0 < port < 65536:
            port = _free_port(exclude=set(ports.values()))
            ports[name] = port
        return port


def reassign(home: Path, name: str) -> int:
    """Record a new free port for ``name`` (its old one is taken by another program)."""
    with _locked(home) as ports:
        port = _free_port(exclude=set(ports.values()))
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


def _free_port(exclude: set[object]) -> int:
    chooser = random.SystemRandom()
    for _ in range(50):
        port = chooser.randint(*RANGE)
        if port not in exclude and _bindable(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    home.mkdir(parents=True, exist_ok=True)
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
