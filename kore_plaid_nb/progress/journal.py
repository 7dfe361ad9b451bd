"""The trainee's own record of events: ``<state folder>/progress/events.jsonl`` (0600).

One JSON event per line, appended under an exclusive lock, so several kernels of the same
trainee may write at once. A torn or foreign line is skipped when reading, never fatal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..private_files import private_folder
from .events import Event, EventError, from_json

FOLDER = "progress"
EVENTS = "events.jsonl"


def progress_dir(home: Path) -> Path:
    return private_folder(private_folder(home) / FOLDER)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int]:
    """An open, exclusively locked file descriptor of ``path`` (created 0600)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def append(path: Path, events: list[Event]) -> None:
    """Append events to a JSON-lines file, one write under the lock."""
    if not events:
        return
    data = "".join(e.to_json() + "\n" for e in events).encode()
    with locked(path) as fd:
        os.write(fd, data)


def read_lines(path: Path) -> list[Event]:
    """The valid events of a JSON-lines file, in file order."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found: list[Event] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        with contextlib.suppress(EventError):
            found.append(from_json(line))
    return found


def events_path(home: Path) -> Path:
    return progress_dir(home) / EVENTS


def record(home: Path, event: Event) -> None:
    append(events_path(home), [event])


def read(home: Path) -> list[Event]:
    """Every event this trainee recorded, oldest first."""
    return read_lines(events_path(home))


def clear(home: Path) -> int:
    """Forget the recorded events; returns how many there were."""
    path = events_path(home)
    count = len(read_lines(path))
    with locked(path) as fd:
        os.ftruncate(fd, 0)
    return count
