"""PostgreSQL, past one machine: psycopg 3 with its connection pool.

Every replica of the bridge (``--workers N``, several hosts) shares one database, so a flow
may start on one replica and finish on another. Transactions run at READ COMMITTED; every
decision that must be taken once (a code honoured, a session claimed) is one conditional
``UPDATE`` whose row lock makes concurrent callers wait and then see the winner's commit.

Faults: a connection is checked before each use, so connections broken by a database restart
are replaced without restarting the bridge; a database that cannot be reached within
:data:`POOL_TIMEOUT_SECONDS` is :class:`StoreUnavailable` (HTTP 503 + ``Retry-After``), and
the transaction in flight is rolled back, never half-written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ...settings import database_location, database_secrets
from .errors import StoreConfigError, StoreUnavailable
from .placeholders import to_pyformat

POOL_TIMEOUT_SECONDS = 3.0
# A reconnection chain gives up this soon, so that once the database is back the next
# request starts a fresh attempt at once instead of waiting out an exponential backoff.
RECONNECT_GIVE_UP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5
DEFAULT_POOL_SIZE = 10
APPLICATION_NAME = "kore-plaid-bridge"
SCRUB_PATIENCE_SECONDS = 5.0
SCRUB_RETRY_SECONDS = 0.25
_KEPT = re.compile(r"(\d+) are dead but not yet removable|tuples missed: (\d+) dead")


def _where(url: str) -> str:
    return database_location(url)


def _reason(exc: BaseException, url: str) -> str:
    """libpq's reason on one line, with the password (if any) taken out."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in database_secrets(url):
        text = text.replace(secret, "…")
    return re.sub(r"^connection failed: ", "", text)


class PostgresTransaction:
    """Statements of one transaction, written with ``?`` placeholders (see
    :func:`.placeholders.to_pyformat`)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(to_pyformat(sql), tuple(args))


class PostgresBackend:
    """A pool of connections to the database named by a ``postgresql://`` URL."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self._where = _where(url)
        try:
            psycopg.connect(
                url, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=APPLICATION_NAME
            ).close()
        except (psycopg.Error, ValueError) as exc:
            raise StoreConfigError(
                f"BRIDGE_DB: cannot connect to PostgreSQL at {self._where}: {_reason(exc, url)}",
                fix="Check BRIDGE_DB (postgresql://user:password@host:port/database), that "
                "the server runs and accepts this user, and that the database exists.",
            ) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=POOL_TIMEOUT_SECONDS,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            kwargs={
                "row_factory": dict_row,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": APPLICATION_NAME,
            },
            check=ConnectionPool.check_connection,
            open=False,
            name=APPLICATION_NAME,
        )
        self._pool.open(wait=False)

    def describe(self) -> str:
        return database_location(self.url)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"The bridge's PostgreSQL database at {self._where} cannot answer right now "
            f"({_reason(exc, self.url)}).",
            fix="Retry in a few seconds; the bridge reconnects by itself once the database "
            "is back.",
        )

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """One transaction on a pooled connection: committed at the end, or rolled back."""
        try:
            with self._pool.connection() as conn:
                yield PostgresTransaction(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    read = transaction

    def scrub(self, tables: Sequence[str], rebuild: bool) -> bool:
        """``VACUUM`` ``tables`` (outside a transaction): the dead row versions that held the
        values replaced are cleared from the tables' files and their indexes. ``rebuild``:
        nothing more here (``VACUUM FULL`` would lock the tables). A row version that another
        transaction may still see (a replica's, autovacuum's ANALYZE) or a page another
        process held cannot be cleared yet: tried again for :data:`SCRUB_PATIENCE_SECONDS`.
        False when the database refused (a role that does not own them: PostgreSQL then
        only warns) or kept such rows past that."""
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name=APPLICATION_NAME,
            ) as conn:  # fmt: skip
                return _vacuum_until_clear(conn, tables)
        except (psycopg.Error, ValueError):
            return False

    def close(self) -> None:
        self._pool.close()


def _vacuum_until_clear(conn: psycopg.Connection[Any], tables: Sequence[str]) -> bool:
    notices: list[tuple[str, str]] = []  # read inside the handler: a notice lives no longer
    conn.add_notice_handler(
        lambda n: notices.append((n.severity_nonlocalized or "", n.message_primary or ""))
    )
    deadline = time.monotonic() + SCRUB_PATIENCE_SECONDS
    while True:
        notices.clear()
        # the store's own table names; INDEX_CLEANUP ON: index entries go even when few
        conn.execute(f"VACUUM (VERBOSE, INDEX_CLEANUP ON) {', '.join(tables)}")
        if any(severity == "WARNING" for severity, _ in notices):
            return False
        if not any(_rows_kept(message) for _, message in notices):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(SCRUB_RETRY_SECONDS)


def _rows_kept(report: str) -> int:
    """Dead row versions a ``VACUUM VERBOSE`` report says it left (PostgreSQL 15's English
    wording; a server answering in another language reads as none: one VACUUM, as before)."""
    return sum(int(m.group(1) or m.group(2)) for m in _KEPT.finditer(report))
