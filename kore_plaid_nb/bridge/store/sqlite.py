"""SQLite, the embedded default: one file, mode 0600, one connection per process.

WAL journal with ``synchronous=NORMAL``: a commit is in the WAL file (in the operating
system's page cache) before the response that mentions it is sent, so a ``kill -9`` of the
bridge loses nothing that was issued; only a crash of the operating system itself (or a power
cut) can lose the last commits before a checkpoint, and the file stays consistent even then.
``FULL`` would add an fsync per commit (most of a refresh's cost) for that one case.
Writers take ``BEGIN IMMEDIATE``, so several processes (``--workers N``) serialize on the
file's lock instead of failing half way; a lock held past the busy timeout is a 503.
``secure_delete``: what a change replaces or deletes is zeroed in the file, not left in free
space; :meth:`SQLiteBackend.scrub` also empties the WAL (and rebuilds the file).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StoreConfigError, StoreLocked, StoreUnavailable

BUSY_TIMEOUT_SECONDS = 30
CHECKPOINT_SECONDS = 1.0
WAL_SIZE_LIMIT = 16 * 2**20  # bytes the WAL file keeps after a checkpoint reset it
# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL: the database is there but cannot
# answer now. Anything else (a syntax error, say) is a bug and stays an exception.
UNAVAILABLE_CODES = {5, 6, 10, 13}
LOCKED_CODES = {5, 6}  # of those, a lock someone else holds
# How long this context's store calls wait for a lock (see :func:`waiting_at_most`).
_wait_limit: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "sqlite_wait_limit", default=None
)


@contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """Store calls made inside wait at most ``seconds`` (0: not at all) for the process's and
    the file's lock, instead of :data:`BUSY_TIMEOUT_SECONDS`; then :class:`StoreUnavailable`.
    For calls on the event loop, and requests that must not hang behind another program."""
    reset = _wait_limit.set(seconds)
    try:
        yield
    finally:
        _wait_limit.reset(reset)


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def unavailable_error(exc: sqlite3.Error, path: Path) -> StoreUnavailable:
    """:class:`StoreLocked` for a lock held elsewhere, else :class:`StoreUnavailable`."""
    code = getattr(exc, "sqlite_errorcode", None)
    locked = code is None or code & 0xFF in LOCKED_CODES  # None: this process's own lock
    return (StoreLocked if locked else StoreUnavailable)(
        f"The bridge's SQLite store {path} cannot answer right now ({exc}).",
        fix="Retry in a few seconds; if it persists, check the disk (space, permissions) and "
        "that no other program holds the file.",
    )


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """``journal_mode=WAL``, retried: processes opening a new store at the same moment
    (``--workers N``) can get "database is locked" here without SQLite's busy wait."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in UNAVAILABLE_CODES or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class _Checkpointer:
    """Copies the WAL into the database file every :data:`CHECKPOINT_SECONDS` from a
    connection and thread of its own (``PASSIVE``: never waits for, nor blocks, readers or
    writers). SQLite's automatic checkpoint would run inside whichever commit crossed 1000
    pages, fsync included, and stall that request (and the event loop, for a refresh)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:  # mode=rw: never create a file that was removed meanwhile
            db = sqlite3.connect(f"file:{self._path}?mode=rw", uri=True, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stopped.wait(CHECKPOINT_SECONDS):
                with contextlib.suppress(sqlite3.Error):  # busy or gone: next time
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class SQLiteTransaction:
    """Statements of one transaction (``?`` placeholders, rows readable by column name)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)


class SQLiteBackend:
    """The store's file, shared by the threads of this process through one lock."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            _create_private_file(self.path)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_SECONDS,
            )  # fmt: skip
            self._db.row_factory = sqlite3.Row
            _switch_to_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")  # no replaced secret in free space
            # Checkpoints (the one fsync left) run in a thread of their own, not in a commit.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # WAL kept below
        except (OSError, sqlite3.Error) as exc:
            raise StoreConfigError(
                f"The bridge cannot open its SQLite store {self.path}: {exc}.",
                fix="Set BRIDGE_DB to a file in a folder this user can write, or to a "
                "postgresql:// URL.",
            ) from None
        self._lock = threading.Lock()
        self._busy_ms = BUSY_TIMEOUT_SECONDS * 1000  # sqlite3.connect's timeout
        self._checkpointer = _Checkpointer(self.path)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def describe(self) -> str:
        return str(self.path)

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        """A write transaction: all of it is committed, or none of it."""
        with self._locked():
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise unavailable_error(exc, self.path) from None
            try:
                yield SQLiteTransaction(self._db)
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                if exc.sqlite_errorcode & 0xFF in UNAVAILABLE_CODES:
                    raise unavailable_error(exc, self.path) from None
                raise
            except BaseException:
                self._rollback()
                raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The process's lock, with the busy timeout of :func:`waiting_at_most` if any."""
        limit = _wait_limit.get()
        if limit is None:
            with self._lock:
                self._set_busy_timeout(BUSY_TIMEOUT_SECONDS * 1000)
                yield
            return
        if not (self._lock.acquire(timeout=limit) if limit > 0 else self._lock.acquire(False)):
            raise unavailable_error(sqlite3.OperationalError("database is locked"), self.path)
        try:
            self._set_busy_timeout(int(limit * 1000))
            yield
        finally:
            self._lock.release()

    def _set_busy_timeout(self, milliseconds: int) -> None:
        """The connection's busy timeout (under the process's lock), set only when it changes:
        the next caller sets its own."""
        if self._busy_ms != milliseconds:
            self._db.execute(f"PRAGMA busy_timeout={milliseconds}")
            self._busy_ms = milliseconds

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @contextmanager
    def read(self) -> Iterator[SQLiteTransaction]:
        """Reads without the write lock (each statement sees a consistent snapshot)."""
        with self._locked():
            try:
                yield SQLiteTransaction(self._db)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF in UNAVAILABLE_CODES:
                    raise unavailable_error(exc, self.path) from None
                raise

    def scrub(self, tables: Sequence[str], rebuild: bool) -> bool:
        """Leave on disk nothing of what was replaced: ``rebuild`` the file (``VACUUM``: the
        free space of changes made before ``secure_delete``), then copy the WAL into the file
        and truncate it (its frames hold old pages). ``tables``: all of them here. False
        when a reader or writer kept it from being emptied within the busy timeout."""
        try:
            with self._locked():
                if rebuild:
                    self._db.execute("VACUUM")
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in UNAVAILABLE_CODES:
                return False
            raise
        return not busy

    def close(self) -> None:
        self._checkpointer.stop()
        with self._lock:
            self._db.close()
