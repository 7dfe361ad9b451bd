"""The audit trail's table: one row per security event (:mod:`..audit` says which), shared
by every replica because it lives in the store. A row holds the time, the event, the Item's
public reference (``itm_...``), the client address, the request id and a short reason;
never a secret. Rows older than the retention (``BRIDGE_AUDIT_DAYS``) are deleted by the
bridge's sweep."""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, Transaction

DAY_SECONDS = 86400.0
LISTING_LIMIT = 10_000  # rows one listing returns at most (the newest)


@dataclass(frozen=True)
class AuditRecord:
    """One security event. ``item``: the Item's public reference (``itm_...``), or the
    store's row number of the Item (resolved to its reference when stored), or None."""

    at: float
    event: str
    item: str | int | None = None
    client: str | None = None
    request_id: str | None = None
    detail: str | None = None


def insert(tx: Transaction, record: AuditRecord) -> None:
    """Add ``record`` inside the caller's transaction (folded into the write it belongs to)."""
    values = (record.at, record.event, record.client, record.request_id, record.detail)
    if isinstance(record.item, int):
        tx.execute(
            "INSERT INTO audit (at, event, client, request_id, detail, item_ref)"
            " SELECT ?, ?, ?, ?, ?, (SELECT public_ref FROM items WHERE id = ?)",
            (*values, record.item),
        )
        return
    tx.execute(
        "INSERT INTO audit (at, event, client, request_id, detail, item_ref)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (*values, record.item),
    )


class AuditTrail:
    """The ``audit`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, record: AuditRecord) -> None:
        """Store ``record`` in a transaction of its own."""
        with self.db.transaction() as tx:
            insert(tx, record)

    def since(self, at: float | None = None, limit: int = LISTING_LIMIT) -> list[AuditRecord]:
        """The records from ``at`` on (all when None), oldest first; at most ``limit``, the
        newest."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT at, event, item_ref, client, request_id, detail FROM audit"
                " WHERE at >= ? ORDER BY id DESC LIMIT ?",
                (float("-inf") if at is None else at, limit),
            ).fetchall()
        return [
            AuditRecord(
                at=row["at"],
                event=row["event"],
                item=row["item_ref"],
                client=row["client"],
                request_id=row["request_id"],
                detail=row["detail"],
            )
            for row in reversed(rows)
        ]

    def purge(self, keep_days: float) -> int:
        """Delete the records older than ``keep_days``; returns how many went."""
        cutoff = self.db.now() - keep_days * DAY_SECONDS
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount
