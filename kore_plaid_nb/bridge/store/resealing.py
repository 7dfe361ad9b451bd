"""Sealing what the store keeps under the current key: the plain values of a store made
before schema 8 (inside the migration's transaction), plain values an old bridge wrote since
(at every open: :func:`seal_leftovers`), and, for ``kore-plaid keys rotate``, the values
sealed under an older key (online, in small batches, each its own transaction). After
either, :func:`scrub` clears the replaced values from disk.

Each row is rewritten by one conditional ``UPDATE`` that names the values it read: a value
changed meanwhile (a replica storing a rotated Plaid access token) is never overwritten, only
counted. A value no key of the ring opens is left as it is, and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .database import Database, Row, Transaction
from .sealed import PREFIX, Keyring, StoreKeyError

log = logging.getLogger("kore_plaid_nb.bridge.store")
DEFAULT_BATCH = 100


@dataclass(frozen=True)
class SealedColumn:
    name: str
    digest: str | None = None  # the lookup-digest column that goes with it


@dataclass(frozen=True)
class SealedTable:
    name: str
    key: str  # the column rows are paged by
    identity: str  # the column that names the row in the associated data
    columns: tuple[SealedColumn, ...]
    first: Any  # a value below every key
    plain: str  # a row an old bridge wrote (no digest): found through the digest's index

    def select(self) -> str:
        names = dict.fromkeys([self.key, self.identity])
        for column in self.columns:
            names.update(dict.fromkeys([column.name, column.digest or column.name]))
        return f"SELECT {', '.join(names)} FROM {self.name}"  # noqa: S608  # nosec B608

    def stale(self, kid: str) -> tuple[str, list[str]]:
        """The condition (and its arguments) of a row with a value not sealed under ``kid``."""
        parts, args = [], []
        for column in self.columns:
            test = f"{column.name} NOT LIKE ?"
            args.append(f"{PREFIX}{kid}.%")
            if column.digest:
                test += f" OR {column.digest} IS NULL OR {column.digest} NOT LIKE ?"
                args.append(f"{kid}:%")
            parts.append(f"({column.name} IS NOT NULL AND ({test}))")
        return "(" + " OR ".join(parts) + ")", args


TABLES = (
    SealedTable("items", "id", "item_id", (SealedColumn("access_token", "access_token_digest"),),
                first=-1, plain="access_token_digest IS NULL"),
    SealedTable("sessions", "digest", "digest",
                (SealedColumn("link_token", "link_token_digest"),
                 SealedColumn("hosted_public_token")), first="",
                plain="link_token_digest IS NULL AND link_token IS NOT NULL"),
)  # fmt: skip


@dataclass
class ResealCounts:
    """What a pass did: rows re-sealed, rows changed by someone else meanwhile (left as they
    were), rows no key of the ring opens, rows still not under the current key, and whether
    the values replaced were cleared from disk (:func:`scrub`)."""

    resealed: int = 0
    changed_meanwhile: int = 0
    unreadable: int = 0
    left: int = 0
    scrubbed: bool = True

    def as_json(self) -> dict[str, int | bool]:
        return dict(vars(self))


def _new_values(keyring: Keyring, table: SealedTable, row: Row) -> dict[str, str]:
    changes: dict[str, str] = {}
    who = row[table.identity]
    for column in table.columns:
        stored = row[column.name]
        if stored is None:
            continue
        plain = keyring.unseal(stored, table.name, column.name, who)
        changes[column.name] = keyring.seal(plain, table.name, column.name, who)
        if column.digest:
            changes[column.digest] = keyring.digest(plain)
    return changes


def _write(tx: Transaction, table: SealedTable, row: Row, changes: dict[str, str]) -> bool:
    """Store ``changes`` only if the row still holds what was read."""
    where, args = [f"{table.key} = ?"], [row[table.key]]
    for column in table.columns:
        if row[column.name] is None:
            where.append(f"{column.name} IS NULL")
        else:
            where.append(f"{column.name} = ?")
            args.append(row[column.name])
    sets = ", ".join(f"{name} = ?" for name in changes)
    sql = f"UPDATE {table.name} SET {sets} WHERE {' AND '.join(where)}"  # noqa: S608  # nosec B608
    return tx.execute(sql, [*changes.values(), *args]).rowcount > 0


def _reseal_rows(
    tx: Transaction,
    keyring: Keyring,
    table: SealedTable,
    after: Any,
    limit: int | None,
    plain_only: bool = False,
) -> tuple[Any, int, ResealCounts]:
    """One pass over the stale (or only the plain) rows past ``after``: (last key seen, rows
    seen, counts)."""
    condition, args = (table.plain, []) if plain_only else table.stale(keyring.current.kid)
    sql = f"{table.select()} WHERE {table.key} > ? AND ({condition}) ORDER BY {table.key}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = tx.execute(sql, [after, *args]).fetchall()
    counts = ResealCounts()
    for row in rows:
        after = row[table.key]
        try:
            changes = _new_values(keyring, table, row)
        except StoreKeyError:
            counts.unreadable += 1
            continue
        if _write(tx, table, row, changes):
            counts.resealed += 1
        else:
            counts.changed_meanwhile += 1
    return after, len(rows), counts


def seal_plain_rows(tx: Transaction, keyring: Keyring) -> int:
    """Seal every value of a store migrated to schema 8, in the migration's transaction."""
    total = 0
    for table in TABLES:
        _, _, counts = _reseal_rows(tx, keyring, table, table.first, None)
        total += counts.resealed
    return total


def reseal_all(db: Database, batch: int = DEFAULT_BATCH) -> ResealCounts:
    """``kore-plaid keys rotate``: every value under the current key, ``batch`` rows per
    transaction, while the bridge serves."""
    total = ResealCounts()
    for table in TABLES:
        _reseal_table(db, table, batch, total, plain_only=False)
        total.left += _count_stale(db, db.keyring, table)
    return total


def seal_leftovers(db: Database, batch: int = DEFAULT_BATCH) -> int:
    """Seal the plain values a bridge of schema 7 wrote after the migration (a rolling
    upgrade); one indexed read per table when there are none (no write). Returns how many
    rows."""
    total = ResealCounts()
    for table in TABLES:
        if _has_plain(db, table):
            _reseal_table(db, table, batch, total, plain_only=True)
    return total.resealed


def _has_plain(db: Database, table: SealedTable) -> bool:
    with db.read() as tx:
        sql = f"SELECT 1 AS found FROM {table.name} WHERE {table.plain} LIMIT 1"  # noqa: S608  # nosec B608
        return tx.execute(sql).fetchone() is not None


def _reseal_table(
    db: Database, table: SealedTable, batch: int, total: ResealCounts, plain_only: bool
) -> None:
    after = table.first
    while True:
        with db.transaction() as tx:
            after, seen, counts = _reseal_rows(tx, db.keyring, table, after, batch, plain_only)
        total.resealed += counts.resealed
        total.changed_meanwhile += counts.changed_meanwhile
        total.unreadable += counts.unreadable
        if seen < batch:
            return


def scrub(db: Database, rebuild: bool) -> bool:
    """Clear the values just replaced from disk (:meth:`.database.Backend.scrub`); ``rebuild``
    after sealing plain values (their old free space, written before ``secure_delete``).
    False (warned, with the command that finishes it) when the database kept it from it."""
    backend = db.backend
    if backend.scrub([table.name for table in TABLES], rebuild):
        return True
    if backend.dialect == "sqlite":
        how = (
            f"once no other program uses {backend.describe()}, run `VACUUM; PRAGMA "
            "wal_checkpoint(TRUNCATE)` on it (e.g. with the sqlite3 shell)"
        )
    else:
        how = (
            f"run `VACUUM items, sessions` on {backend.describe()} as the tables' owner "
            "(what is left in pg_wal goes as its segments are recycled)"
        )
    log.warning(
        "kore-plaid: the bridge store's replaced secret values (old or plain) could not be "
        "cleared from disk now: %s.",
        how,
    )
    return False


def _count_stale(db: Database, keyring: Keyring, table: SealedTable) -> int:
    condition, args = table.stale(keyring.current.kid)
    with db.read() as tx:
        sql = f"SELECT COUNT(*) AS n FROM {table.name} WHERE {condition}"  # noqa: S608  # nosec B608
        row = tx.execute(sql, args)
        return int(row.fetchone()["n"])
