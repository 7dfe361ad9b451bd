"""The board's SQLite store: progress events, trainees' tokens and the page's login sessions.

One file (mode 0600, WAL, ``synchronous=FULL``), one connection shared by this process's
threads through a lock. An event's ``id`` is its primary key, so an event sent twice is stored
once. Events are read back in the order the board received them (the trainee's clock only
labels them). Tokens and sessions are kept as digests only, so a restarted board keeps its
trainees and signed-in pages, and a copy of the file opens nothing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
CREATE INDEX IF NOT EXISTS events_by_step ON events (trainee, notebook, step);
CREATE INDEX IF NOT EXISTS events_by_arrival ON events (trainee, received_at);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trainee_tokens (
    trainee TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"""
EVENT_COLUMNS = "id, trainee, notebook, step, status, message, fix, at"


class BoardStoreError(ServiceError):
    """The store's file cannot be opened or cannot answer now."""


class OverCap(Exception):
    """Storing the events would pass a cap (nothing was stored); the message says which."""


@dataclass(frozen=True)
class Caps:
    """What one trainee may have stored: events in all, distinct steps in one notebook."""

    events_per_trainee: int
    steps_per_notebook: int


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
        self._events: dict[str, list[Event]] = {}  # what by_trainee() read so far
        self._last_received: dict[str, str] = {}
        self._seen_rowid = 0

    def _run(self, sql: str, args: Iterable[object] = (), plain: bool = False) -> list[Any]:
        """The rows of ``sql``: :class:`sqlite3.Row`, or tuples with ``plain`` (faster)."""
        with self._lock:
            try:
                cursor = self._db.cursor()
                if plain:
                    cursor.row_factory = None
                return cursor.execute(sql, tuple(args)).fetchall()
            except sqlite3.OperationalError as exc:
                raise BoardStoreError(
                    f"The board's store {self.path} cannot answer right now ({exc}).",
                    fix="Retry in a few seconds; if it persists, check the disk (space, "
                    "permissions).",
                ) from None

    def add(
        self, events: Iterable[Event], received_at: str | None = None, caps: Caps | None = None
    ) -> int:
        """Store the events in one transaction; returns how many were new (by ``id``). With
        ``caps``, raises :class:`OverCap` (nothing stored) when a trainee would pass one."""
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
                if caps is not None and stored:
                    self._check_caps({row[1] for row in rows}, caps)
                self._db.execute("COMMIT")
            except (sqlite3.OperationalError, OverCap) as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, OverCap):
                    raise
                raise BoardStoreError(
                    f"The board's store {self.path} cannot store events now ({exc}).",
                    fix="The trainees' notebooks send them again later; check the disk.",
                ) from None
        return stored

    def _check_caps(self, trainees: set[str], caps: Caps) -> None:
        """Inside ``add``'s transaction: :class:`OverCap` when a trainee passed a cap."""
        for trainee in sorted(trainees):
            count = self._db.execute(
                "SELECT count(*) FROM events WHERE trainee = ?", (trainee,)
            ).fetchone()[0]
            if count > caps.events_per_trainee:
                raise OverCap(
                    f"{trainee!r} would have {count} events on the board; it keeps at most "
                    f"{caps.events_per_trainee} per trainee. Ask the trainer to start a new "
                    "board (--db) for a new class."
                )
            crowded = self._db.execute(
                "SELECT notebook, count(DISTINCT step) FROM events WHERE trainee = ? "
                "GROUP BY notebook HAVING count(DISTINCT step) > ? LIMIT 1",
                (trainee, caps.steps_per_notebook),
            ).fetchone()
            if crowded:
                raise OverCap(
                    f"{trainee!r} would have {crowded[1]} different steps in {crowded[0]}; the "
                    f"board keeps at most {caps.steps_per_notebook} per notebook."
                )

    def trainees(self) -> list[str]:
        return [row[0] for row in self._run("SELECT DISTINCT trainee FROM events ORDER BY 1")]

    def events(self, trainee: str) -> list[Event]:
        """One trainee's events, in the order the board received them."""
        rows = self._run(
            "SELECT id, trainee, notebook, step, status, message, fix, at FROM events "
            "WHERE trainee = ? ORDER BY rowid",
            (trainee,),
        )
        return [_event(row) for row in rows]

    def by_trainee(self) -> list[TraineeEvents]:
        """Every trainee's events in the order received, trainees by name. Kept in memory:
        each call reads only the rows stored since the last one (events are never deleted)."""
        rows = self._run(
            "SELECT rowid, trainee, notebook, step, status, message, fix, at, id, received_at "
            "FROM events WHERE rowid > ? ORDER BY rowid",
            (self._seen_rowid,),
            plain=True,
        )
        with self._lock:
            for row in rows:  # rowid, then Event's fields in order, then received_at
                if row[0] <= self._seen_rowid:
                    continue  # another thread read it already
                self._events.setdefault(row[1], []).append(Event(*row[1:9]))
                self._last_received[row[1]] = row[9]
                self._seen_rowid = row[0]
            return [
                TraineeEvents(name, tuple(self._events[name]), self._last_received[name])
                for name in sorted(self._events)
            ]

    def count(self) -> int:
        return int(self._run("SELECT count(*) FROM events")[0][0])

    def set_trainee_token(self, trainee: str, digest: str, created_at: str) -> bool:
        """Keep ``digest`` as ``trainee``'s only token; True when it replaced an older one."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                old = self._db.execute(
                    "SELECT 1 FROM trainee_tokens WHERE trainee = ?", (trainee,)
                ).fetchone()
                self._db.execute(
                    "INSERT OR REPLACE INTO trainee_tokens VALUES (?, ?, ?)",
                    (trainee, digest, created_at),
                )
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise BoardStoreError(
                    f"The board's store {self.path} cannot keep the token now ({exc}).",
                    fix="Run the command again in a few seconds.",
                ) from None
        return old is not None

    def trainee_for_digest(self, digest: str) -> str | None:
        rows = self._run("SELECT trainee FROM trainee_tokens WHERE digest = ?", (digest,))
        return str(rows[0][0]) if rows else None

    def drop_trainee_token(self, trainee: str) -> bool:
        before = len(self._run("SELECT 1 FROM trainee_tokens WHERE trainee = ?", (trainee,)))
        self._run("DELETE FROM trainee_tokens WHERE trainee = ?", (trainee,))
        return bool(before)

    def token_holders(self) -> list[tuple[str, str]]:
        """``(trainee, created_at)`` of every trainee with a token, by name."""
        rows = self._run("SELECT trainee, created_at FROM trainee_tokens ORDER BY trainee")
        return [(str(row[0]), str(row[1])) for row in rows]

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
