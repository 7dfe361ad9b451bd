"""What every part of the store runs on: a backend (SQLite or PostgreSQL) and a clock.

Statements are written once, with ``?`` placeholders; each backend renders them its own way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..metrics import recording
from .sealed import Keyring

Clock = Callable[[], float]
"""Seconds since the epoch, as :func:`time.time` gives them (tests pass a clock they move)."""


class Row(Protocol):
    """One row, readable by column name (``sqlite3.Row``, psycopg's ``dict_row``)."""

    def __getitem__(self, key: str) -> Any: ...


class Rows(Protocol):
    """A cursor: rows readable by column name, and how many rows a change touched."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows: ...


class Backend(Protocol):
    """Where the statements run (``?`` placeholders): SQLite or PostgreSQL."""

    dialect: str

    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def read(self) -> AbstractContextManager[Transaction]: ...

    def describe(self) -> str: ...

    def scrub(self, tables: Sequence[str], rebuild: bool) -> bool:
        """Clear from disk what changes to ``tables`` replaced (free space, WAL, dead rows),
        where the database lets it; True when it did."""
        ...

    def close(self) -> None: ...


class Database:
    """The backend, clock and keyring (:mod:`.sealed`) shared by the store's parts (the
    backend may be swapped, as a test that injects faults does, and every part sees it)."""

    def __init__(self, backend: Backend, keyring: Keyring, clock: Clock = time.time) -> None:
        self.backend = backend
        self.keyring = keyring
        self.clock = clock

    def now(self) -> float:
        return self.clock()

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: all of it is committed, or none of it (timed, as every
        read: :mod:`..metrics`)."""
        return recording.store_transaction(self.backend.transaction())

    def read(self) -> AbstractContextManager[Transaction]:
        return recording.store_transaction(self.backend.read())
