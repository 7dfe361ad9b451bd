"""Items: the Plaid Items end users authorized, their access tokens, their health (Plaid's
webhooks and the errors the bridge's own calls get) and their removal at teardown."""

from __future__ import annotations

from typing import Final

from .database import Database, Row
from .records import AuthorizationRow, Health, ItemStatus, from_row, public_ref
from .sealed import Keyring

HEALTHY: Final = "healthy"
# The health of an Item whose stored access token Plaid refuses (item_health.INVALID_TOKEN).
INVALID_ACCESS_TOKEN: Final = "INVALID_ACCESS_TOKEN"  # noqa: S105 - a health  # nosec B105

SELECT_STATUSES = (
    "SELECT public_ref AS ref, institution, health, health_detail, health_at, last_webhook,"
    " last_webhook_at, created_at, item_id, access_token, removed_at FROM items"
)


def sealed_access_token(keyring: Keyring, item_id: str, access_token: str) -> tuple[str, str]:
    """What ``items`` stores for an access token: the sealed value (bound to the Item's
    ``item_id``) and its lookup digest."""
    return keyring.seal(access_token, "items", "access_token", item_id), keyring.digest(
        access_token
    )


def access_token_of(keyring: Keyring, row: Row) -> str:
    """The access token of an ``items`` row read with its ``item_id`` and ``access_token``."""
    return keyring.unseal(row["access_token"], "items", "access_token", row["item_id"])


class Items:
    """The ``items`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def live(self) -> list[tuple[int, str]]:
        """(item ref, Plaid access token) of every Item not yet removed."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT id, item_id, access_token FROM items WHERE removed_at IS NULL ORDER BY id"
            ).fetchall()
        return self._tokens(rows)

    def without_institution(self) -> list[tuple[int, str]]:
        """(item ref, access token) of live Items whose institution is not known yet."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT id, item_id, access_token FROM items WHERE removed_at IS NULL"
                " AND institution IS NULL ORDER BY id"
            ).fetchall()
        return self._tokens(rows)

    def _tokens(self, rows: list[Row]) -> list[tuple[int, str]]:
        return [(row["id"], access_token_of(self.db.keyring, row)) for row in rows]

    def set_institution(self, item_ref: int, institution: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("UPDATE items SET institution = ? WHERE id = ?", (institution, item_ref))

    def mark_removed(self, item_ref: int) -> None:
        """The Item is gone at Plaid: record it and revoke its refresh tokens."""
        now = self.db.now()
        with self.db.transaction() as tx:
            tx.execute("UPDATE items SET removed_at = ? WHERE id = ?", (now, item_ref))
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE item_ref = ?"
                " AND revoked_at IS NULL",
                (now, item_ref),
            )

    def abandoned(self) -> list[tuple[int, str]]:
        """(item ref, access token) of Items no one can use any more: not removed, no live
        refresh token, and no code that may still be redeemed (the user authorized, then Kore
        never came for the token, or the grant was revoked). They should go at Plaid."""
        now = self.db.now()
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT id, item_id, access_token FROM items WHERE removed_at IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r"
                "   WHERE r.item_ref = items.id AND r.revoked_at IS NULL)"
                " AND NOT EXISTS (SELECT 1 FROM codes c"
                "   WHERE c.item_ref = items.id AND c.used_at IS NULL AND c.expires_at > ?)"
                " ORDER BY id",
                (now,),
            ).fetchall()
        return self._tokens(rows)

    def record_webhook(
        self,
        item_id: str,
        webhook: str,
        health: Health | None,
        detail: str | None,
        only_over: Health | None = None,
    ) -> bool:
        """Record a verified webhook (``"ITEM ERROR"``) for the Item Plaid calls ``item_id``
        and, when ``health`` is given, its new health; with ``only_over``, only an Item in
        that health (or already in ``health``) changes health. An Item whose access token
        Plaid refuses keeps that health: no webhook fixes the stored token (only
        :meth:`replace_access_token` does). False when no Item has this item_id."""
        now = self.db.now()
        with self.db.transaction() as tx:
            cursor = tx.execute(
                "UPDATE items SET last_webhook = ?, last_webhook_at = ? WHERE item_id = ?",
                (webhook, now, item_id),
            )
            if health is not None and only_over is None:
                tx.execute(
                    "UPDATE items SET health = ?, health_detail = ?, health_at = ?"
                    " WHERE item_id = ? AND health <> ?",
                    (health, detail, now, item_id, INVALID_ACCESS_TOKEN),
                )
            elif health is not None:
                tx.execute(
                    "UPDATE items SET health = ?, health_detail = ?, health_at = ?"
                    " WHERE item_id = ? AND health IN (?, ?) AND health <> ?",
                    (health, detail, now, item_id, only_over, health, INVALID_ACCESS_TOKEN),
                )
            return cursor.rowcount > 0

    def record_health(self, access_token: str, health: Health, detail: str | None) -> bool:
        """The health a Plaid answer to the bridge's own call revealed (``/item/get``
        answering ITEM_LOGIN_REQUIRED, say); False when no live Item has this token."""
        match, digests = self.db.keyring.lookup("access_token_digest", access_token)
        with self.db.transaction() as tx:
            cursor = tx.execute(
                "UPDATE items SET health = ?, health_detail = ?, health_at = ?"  # noqa: S608
                f" WHERE {match} AND removed_at IS NULL",  # nosec B608 - ? placeholders only
                (health, detail, self.db.now(), *digests),
            )
            return cursor.rowcount > 0

    def replace_access_token(
        self, ref_or_item_ref: str | int, old_access_token: str, new_access_token: str
    ) -> bool:
        """Store the Item's rotated access token (Plaid's ``/item/access_token/invalidate``),
        only if it still holds ``old_access_token``: of two rotations at once, the one that
        lost learns it (False), nothing is overwritten. ``ref_or_item_ref``: the public
        ``itm_`` reference or the row id. A health of INVALID_ACCESS_TOKEN (seen with the old
        token) is healthy again; any other health stays. The refresh and code grants read
        the token from the Item, so Kore gets the new one on its next refresh."""
        row_id = ref_or_item_ref if isinstance(ref_or_item_ref, int) else None
        ref = None if isinstance(ref_or_item_ref, int) else ref_or_item_ref
        match, old = self.db.keyring.lookup("access_token_digest", old_access_token)
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT id, item_id FROM items WHERE id = ? OR public_ref = ? LIMIT 1",
                (row_id, ref),
            ).fetchone()
            if row is None:
                return False
            sealed, new_digest = sealed_access_token(
                self.db.keyring, row["item_id"], new_access_token
            )
            cursor = tx.execute(
                "UPDATE items SET access_token = ?, access_token_digest = ?,"  # noqa: S608
                " health_at = CASE WHEN health = ? THEN ? ELSE health_at END,"
                " health_detail = CASE WHEN health = ? THEN NULL ELSE health_detail END,"
                " health = CASE WHEN health = ? THEN ? ELSE health END"
                f" WHERE id = ? AND ({match}"  # nosec B608 - ? placeholders only
                "   OR (access_token_digest IS NULL AND access_token = ?))",
                (sealed, new_digest, INVALID_ACCESS_TOKEN, self.db.now(), INVALID_ACCESS_TOKEN,
                 INVALID_ACCESS_TOKEN, HEALTHY, row["id"], *old, old_access_token),
            )  # fmt: skip
            return cursor.rowcount > 0

    def mark_healthy(self, ref: str) -> bool:
        """The Item's user repaired it (Link in update mode succeeded): healthy again, and
        its other repair links are spent. False for an unknown or removed Item."""
        now = self.db.now()
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE items SET health = ?, health_detail = NULL, health_at = ?"
                " WHERE public_ref = ? AND removed_at IS NULL RETURNING id",
                (HEALTHY, now, ref),
            ).fetchall()
            if not rows:
                return False
            tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE item_ref = ? AND used_at IS NULL",
                (now, rows[0]["id"]),
            )
        return True

    def fill_missing_refs(self) -> int:
        """Give an ``item_ref`` to the Items that have none: those saved by a bridge of schema
        3 still running during a rolling upgrade. Returns how many were filled."""
        with self.db.read() as tx:
            rows = tx.execute("SELECT id, item_id FROM items WHERE public_ref IS NULL").fetchall()
        if not rows:
            return 0
        with self.db.transaction() as tx:
            for row in rows:
                tx.execute(
                    "UPDATE items SET public_ref = ? WHERE id = ? AND public_ref IS NULL",
                    (public_ref(row["item_id"]), row["id"]),
                )
        return len(rows)

    def count_by_health(self) -> dict[str, int]:
        """How many Items not yet removed are in each health (one grouped read)."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT health, COUNT(*) AS items FROM items WHERE removed_at IS NULL"
                " GROUP BY health"
            ).fetchall()
        return {str(row["health"]): int(row["items"]) for row in rows}

    def statuses(self) -> list[ItemStatus]:
        """Every Item the store holds, oldest first, with its health."""
        self.fill_missing_refs()
        with self.db.read() as tx:
            rows = tx.execute(SELECT_STATUSES + " ORDER BY created_at, id").fetchall()
        return [self._status(row) for row in rows]

    def _status(self, row: Row) -> ItemStatus:
        return from_row(ItemStatus, row, access_token=access_token_of(self.db.keyring, row))

    def find(self, ref: str) -> ItemStatus | None:
        """The Item whose public reference is ``ref`` (removed or not), or None."""
        self.fill_missing_refs()
        with self.db.read() as tx:
            row = tx.execute(
                SELECT_STATUSES + " WHERE public_ref = ? ORDER BY created_at, id LIMIT 1",
                (ref,),
            ).fetchone()
        return None if row is None else self._status(row)

    def authorizations(self) -> list[AuthorizationRow]:
        """One row per authorization (Item), newest first, with its code and token state."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT items.created_at, items.client_id, items.redirect_uri, items.item_id,"
                " items.access_token, items.institution, items.removed_at,"
                " (SELECT MAX(c.expires_at) FROM codes c WHERE c.item_ref = items.id)"
                "   AS code_expires_at,"
                " (SELECT MAX(c.used_at) FROM codes c WHERE c.item_ref = items.id)"
                "   AS code_used_at,"
                " (SELECT COUNT(*) FROM refresh_tokens r WHERE r.item_ref = items.id) AS issued,"
                " (SELECT COUNT(*) FROM refresh_tokens r WHERE r.item_ref = items.id"
                "   AND r.revoked_at IS NOT NULL) AS revoked,"
                " (SELECT MAX(r.last_used_at) FROM refresh_tokens r"
                "   WHERE r.item_ref = items.id) AS last_refresh"
                " FROM items ORDER BY items.created_at DESC, items.id DESC"
            ).fetchall()
        return [
            from_row(AuthorizationRow, row, issued=int(row["issued"]), revoked=int(row["revoked"]),
                     access_token=access_token_of(self.db.keyring, row))
            for row in rows
        ]  # fmt: skip
