"""The board's SQLite store: progress events and the page's login sessions.

One file (mode 0600, WAL, ``synchronous=FULL``), one connection shared by this process's
threads through a lock. An event's ``id`` is its primary key, so an event sent twice is stored
once. Sessions are kept as a digest only (the cookie's value is never stored), so a restarted
board keeps its signed-in pages.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServiceError
from ..progress.events import Event, now_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    trainee TEXT NOT NULL,
    notebook TEXT NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    fix TEXT NOT NULL,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_trainee ON events (trainee, at);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""
EVENT_COLUMNS = "id, trainee, notebook, step, status, message, fix, at"


class BoardStoreError(ServiceError):
    """The store's file cannot be opened or cannot answer now."""


@dataclass(frozen=True)
class TraineeEvents:
    """One trainee's events in time order, and when the board last received one."""

    trainee: str
    events: tuple[Event, ...]
    last_received: str


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def _event(row: sqlite3.Row) -> Event:
    return Event(**{name: row[name] for name in EVENT_COLUMNS.split(", ")})


class BoardStore:
    """Events and sessions in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            _create_private_file(self.path)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BoardStoreError(
                f"The board cannot open its store {self.path}: {exc}.",
                fix="Pass --db with a file in a folder this user can write (or fix the "
                "folder's permissions).",
            ) from None
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._lock = threading.Lock()

    def _run(self, sql: str, args: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.OperationalError as exc:
                raise BoardStoreError(
                    f"The board's store {self.path} cannot answer right now ({exc}).",
                    fix="Retry in a few seconds; if it persists, check the disk (space, "
                    "permissions).",
                ) from None

    def add(self, events: Iterable[Event], received_at: str | None = None) -> int:
        """Store the events in one transaction; returns how many were new (by ``id``)."""
        received_at = received_at or now_iso()
        rows = [
            (e.id, e.trainee, e.notebook, e.step, e.status, e.message, e.fix, e.at, received_at)
            for e in events
        ]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                self._db.executemany(
                    f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS}, received_at) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                stored = self._db.total_changes - before
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise BoardStoreError(
                    f"The board's store {self.path} cannot store events now ({exc}).",
                    fix="The trainees' notebooks send them again later; check the disk.",
                ) from None
        return stored

    def trainees(self) -> list[str]:
        return [row[0] for row in self._run("SELECT DISTINCT trainee FROM events ORDER BY 1")]

    def events(self, trainee: str) -> list[Event]:
        """One trainee's events, in time order."""
        rows = self._run(
            "SELECT id, trainee, notebook, step, status, message, fix, at FROM events "
            "WHERE trainee = ? ORDER BY at, rowid",
            (trainee,),
        )
        return [_event(row) for row in rows]

    def by_trainee(self) -> list[TraineeEvents]:
        """Every trainee's events (one read), trainees by name."""
        rows = self._run(
            "SELECT id, trainee, notebook, step, status, message, fix, at, received_at "
            "FROM events ORDER BY trainee, at, rowid"
        )
        grouped: dict[str, tuple[list[Event], list[str]]] = {}
        for row in rows:
            events, received = grouped.setdefault(row["trainee"], ([], []))
            events.append(_event(row))
            received.append(row["received_at"])
        return [
            TraineeEvents(name, tuple(events), max(received))
            for name, (events, received) in grouped.items()
        ]

    def count(self) -> int:
        return int(self._run("SELECT count(*) FROM events")[0][0])

    def add_session(self, digest: str, expires_at: float, now: float) -> None:
        self._run("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        self._run("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (digest, expires_at))

    def has_session(self, digest: str, now: float) -> bool:
        rows = self._run(
            "SELECT 1 FROM sessions WHERE digest = ? AND expires_at > ?", (digest, now)
        )
        return bool(rows)

    def drop_session(self, digest: str) -> None:
        self._run("DELETE FROM sessions WHERE digest = ?", (digest,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
