"""Repair links: single use, stored as digests, for the user of an Item that needs them."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from .database import Database, Row, Transaction
from .items import HEALTHY, access_token_of
from .records import RepairClaim, RepairItem, StoreProblem, digest, from_row

REPAIR_LINK_TTL_SECONDS = 86400.0
REPAIR_LINK_STATES = ("open", "used", "expired")  # kore_plaid_bridge_repair_links{state}

# Why a repair link cannot be used: the columns read, and the item's columns for the link
# that can (``ref`` is the Item's public reference).
LINK_STATE = (
    "SELECT repair_links.expires_at, repair_links.used_at, repair_links.link_tokens,"
    " items.removed_at, items.public_ref AS ref, items.item_id, items.access_token,"
    " items.institution, items.client_user_id, items.language"
    " FROM repair_links JOIN items ON items.id = repair_links.item_ref"
    " WHERE repair_links.digest = ?"
)


@dataclass(frozen=True)
class IssuedRepairLink:
    """An Item's live repair link: ``token`` when just made (else None: only a digest is
    kept, the link cannot be shown again), when it was made and until when it is valid."""

    token: str | None
    created_at: float
    expires_at: float


class RepairLinks:
    """The ``repair_links`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, ref: str, ttl: float = REPAIR_LINK_TTL_SECONDS) -> str | None:
        """A fresh repair link token (``secrets.token_urlsafe(32)``, stored as a digest
        only, single use, valid ``ttl`` seconds) for the live Item ``ref``; None when there
        is no such Item. The Item's older links are spent: one live link per Item."""
        issued = self.issue(ref, ttl, replace=True)
        return None if issued is None else issued.token

    def issue(
        self, ref: str, ttl: float = REPAIR_LINK_TTL_SECONDS, replace: bool = False
    ) -> IssuedRepairLink | None:
        """The live Item ``ref``'s repair link (None: no such Item): its live one (unused,
        unexpired; no token then: only its digest is kept) unless ``replace``, else a fresh
        one, spending the older ones (see :meth:`create`). One transaction, the Item's row
        locked first: two listings at once never mint two links."""
        now = self.db.now()
        with self.db.transaction() as tx:
            row = tx.execute(
                "UPDATE items SET public_ref = public_ref"
                " WHERE public_ref = ? AND removed_at IS NULL RETURNING id",
                (ref,),
            ).fetchone()
            if row is None:
                return None
            live = None if replace else _live_link(tx, row["id"], now)
            if live is not None:
                return IssuedRepairLink(None, live["created_at"], live["expires_at"])
            token = secrets.token_urlsafe(32)
            tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE item_ref = ? AND used_at IS NULL",
                (now, row["id"]),
            )
            tx.execute(
                "INSERT INTO repair_links (digest, item_ref, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (digest(token), row["id"], now, now + ttl),
            )
        return IssuedRepairLink(token, now, now + ttl)

    def count_by_state(self) -> dict[str, int]:
        """Repair links issued for Items not removed, by state: ``open`` (not used, not
        expired), ``used`` (completed, or replaced by a newer link), ``expired``."""
        now = self.db.now()
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT"
                " SUM(CASE WHEN used_at IS NULL AND expires_at > ? THEN 1 ELSE 0 END) AS open,"
                " SUM(CASE WHEN used_at IS NOT NULL THEN 1 ELSE 0 END) AS used,"
                " SUM(CASE WHEN used_at IS NULL AND expires_at <= ? THEN 1 ELSE 0 END)"
                " AS expired"
                " FROM repair_links JOIN items ON items.id = repair_links.item_ref"
                " WHERE items.removed_at IS NULL",
                (now, now),
            ).fetchone()
        return {state: int(row[state] or 0) for state in REPAIR_LINK_STATES}

    def start(self, token: str, limit: int) -> RepairClaim:
        """Count one more Link token for a usable repair link, at most ``limit`` in all: its
        Item, or why not (``"exhausted"`` past the limit)."""
        key = digest(token)
        now = self.db.now()
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE repair_links SET link_tokens = link_tokens + 1 WHERE digest = ?"
                " AND used_at IS NULL AND expires_at > ? AND link_tokens < ?"
                " AND item_ref IN (SELECT id FROM items WHERE removed_at IS NULL)"
                " RETURNING item_ref, link_tokens",
                (key, now, limit),
            ).fetchall()
            if not rows:
                return _refusal(tx, key, now)
            item = _repair_item(self.db, tx, rows[0]["item_ref"])
        return RepairClaim(item, None, rows[0]["link_tokens"])

    def complete(self, token: str) -> RepairClaim:
        """The repair link's Link run succeeded: in one transaction, spend the link (exactly
        one caller, on any replica, wins), make its Item healthy again and spend the Item's
        other repair links. A link never given a Link token is refused (``"not_started"``)."""
        key = digest(token)
        now = self.db.now()
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE digest = ? AND used_at IS NULL"
                " AND expires_at > ? AND link_tokens > 0"
                " AND item_ref IN (SELECT id FROM items WHERE removed_at IS NULL)"
                " RETURNING item_ref, link_tokens",
                (now, key, now),
            ).fetchall()
            if not rows:
                return _refusal(tx, key, now)
            item_ref = rows[0]["item_ref"]
            tx.execute(
                "UPDATE items SET health = ?, health_detail = NULL, health_at = ? WHERE id = ?",
                (HEALTHY, now, item_ref),
            )
            tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE item_ref = ? AND used_at IS NULL",
                (now, item_ref),
            )
            item = _repair_item(self.db, tx, item_ref)
        return RepairClaim(item, None, rows[0]["link_tokens"])

    def record_link_token(self, token: str, link_token: str) -> None:
        """Remember (as a digest) the Link token the repair link ``token`` last handed out."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE repair_links SET link_token_digest = ? WHERE digest = ?",
                (digest(link_token), digest(token)),
            )

    def is_link_token(self, token: str, link_token: str) -> bool:
        """Whether ``link_token`` is the one the repair link ``token`` last handed out."""
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT link_token_digest FROM repair_links WHERE digest = ?", (digest(token),)
            ).fetchone()
        stored = str(row["link_token_digest"] or "") if row is not None else ""
        return bool(stored) and hmac.compare_digest(stored, digest(link_token))

    def peek(self, token: str) -> RepairClaim:
        """Whether the repair link can be used now, without using it (a page view, a link
        preview): read only."""
        now = self.db.now()
        with self.db.read() as tx:
            row = tx.execute(LINK_STATE, (digest(token),)).fetchone()
        refused = _why_not(row, now)
        if refused is not None:
            return refused
        item = from_row(RepairItem, row, access_token=access_token_of(self.db.keyring, row))
        return RepairClaim(item, None, row["link_tokens"])


def _live_link(tx: Transaction, item_ref: int, now: float) -> Row | None:
    """The Item's newest unused, unexpired repair link (created_at, expires_at), if any."""
    row: Row | None = tx.execute(
        "SELECT created_at, expires_at FROM repair_links WHERE item_ref = ?"
        " AND used_at IS NULL AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
        (item_ref, now),
    ).fetchone()
    return row


def _repair_item(db: Database, tx: Transaction, item_ref: int) -> RepairItem:
    row = tx.execute(
        "SELECT public_ref AS ref, item_id, access_token, institution, client_user_id,"
        " language FROM items WHERE id = ?",
        (item_ref,),
    ).fetchone()
    return from_row(RepairItem, row, access_token=access_token_of(db.keyring, row))


def _refusal(tx: Transaction, key: str, now: float) -> RepairClaim:
    """Why the repair link ``key`` cannot be used now."""
    row = tx.execute(LINK_STATE, (key,)).fetchone()
    refused = _why_not(row, now)
    if refused is not None:
        return refused
    count = row["link_tokens"]
    problem = StoreProblem.NOT_STARTED if count == 0 else StoreProblem.EXHAUSTED
    return RepairClaim(None, problem, count)


def _why_not(row: Row | None, now: float) -> RepairClaim | None:
    """The refusal for a link that is unknown, used, of a removed Item or expired; None for
    a link that is none of these."""
    if row is None:
        return RepairClaim(None, StoreProblem.UNKNOWN)
    count = row["link_tokens"]
    if row["used_at"] is not None:
        return RepairClaim(None, StoreProblem.USED, count)
    if row["removed_at"] is not None:
        return RepairClaim(None, StoreProblem.REMOVED, count)
    if row["expires_at"] <= now:
        return RepairClaim(None, StoreProblem.EXPIRED, count)
    return None
