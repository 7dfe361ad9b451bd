"""The bridge's state, the same on every backend: sessions, Items, codes, refresh tokens and
the public tokens already sent to Plaid.

* Secrets (session ids, codes, refresh tokens, public tokens) are stored as SHA-256 digests;
  they are 256-bit random values, so a plain digest is enough. The Plaid access token is
  stored as is: the refresh grant hands it out again.
* Every multi-row change is one transaction (Item + code + session; code + refresh token),
  so a killed process or a lost database leaves the whole record or none of it.
* Single use is decided by one conditional ``UPDATE`` whose row count (or returned row) says
  who won, whatever the number of threads, processes or hosts.
* Expired sessions and codes are deleted by :meth:`BridgeStore.purge_expired`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from . import migrations
from .errors import StoreConfigError, StoreUnavailable, StoreVersionError
from .records import (
    AuthorizationRow,
    CodeRecord,
    HostedSession,
    ItemRecord,
    ItemStatus,
    RefreshRecord,
    RepairClaim,
    RepairItem,
    SessionClaim,
    SessionRecord,
    digest,
    public_ref,
)

# A session stuck in "exchanging" (process killed mid-exchange) may be claimed again after this.
STALE_CLAIM_SECONDS = 60.0
# How long records stay after they stopped mattering.
SESSION_RETENTION_SECONDS = 3600.0  # past expiry: the user still reads "expired", not "unknown"
USED_CODE_RETENTION_SECONDS = 86400.0  # past expiry: a replay still revokes what the code issued
SPENT_TOKEN_RETENTION_SECONDS = 3600.0  # Plaid's public tokens live 30 minutes
REPAIR_LINK_TTL_SECONDS = 86400.0
REPAIR_LINK_RETENTION_SECONDS = 7 * 86400.0  # past expiry: its user still reads "expired"
HEALTHY = "healthy"
# The health of an Item whose stored access token Plaid refuses (item_health.INVALID_TOKEN).
INVALID_ACCESS_TOKEN = "INVALID_ACCESS_TOKEN"  # noqa: S105 - a health  # nosec B105


class Rows(Protocol):
    """A cursor: rows readable by column name, and how many rows a change touched."""

    rowcount: int

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

    def close(self) -> None: ...


class BridgeStore:
    """The bridge's state on a :class:`Backend` (SQLite or PostgreSQL); thread-safe."""

    STALE_CLAIM_SECONDS = STALE_CLAIM_SECONDS

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        try:
            with backend.transaction() as tx:
                self.schema_versions = migrations.migrate(
                    tx, backend.dialect, backend.describe(), time.time()
                )
        except (StoreUnavailable, StoreVersionError):
            backend.close()
            raise
        except Exception as exc:  # the database refused the schema: a setup problem
            backend.close()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreConfigError(
                f"The bridge store {backend.describe()} cannot be prepared: {reason}.",
                fix="Give BRIDGE_DB's user the right to create tables there (PostgreSQL: "
                "make it the database's owner), or point BRIDGE_DB at a store it can write.",
            ) from None

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    def describe(self) -> str:
        """Where the store is, without any password."""
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers."""
        with self.backend.read() as tx:
            tx.execute("SELECT 1").fetchall()

    # Sessions: one per authorization request, between the page and set_access_token.

    def create_session(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        auth_query: str,
        ttl: float,
        link_tokens: int = 0,
    ) -> None:
        """Open a session; ``link_tokens``: how many Link tokens it was already given."""
        now = time.time()
        with self.backend.transaction() as tx:
            tx.execute(
                "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
                " expires_at, link_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(session_id),
                    client_id,
                    redirect_uri,
                    auth_query,
                    now,
                    now + ttl,
                    link_tokens,
                ),
            )

    def count_link_token(self, session_id: str, limit: int) -> str | None:
        """Count one more Link token for a live session, at most ``limit`` in all; None when
        granted, else why not: ``"unknown"``, ``"expired"`` or ``"exhausted"``. A completed
        session still gets one (a restored page then learns from set_access_token that it
        is finished)."""
        key = digest(session_id)
        now = time.time()
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE sessions SET link_tokens = link_tokens + 1"
                " WHERE digest = ? AND expires_at > ? AND link_tokens < ? RETURNING link_tokens",
                (key, now, limit),
            ).fetchall()
            if rows:
                return None
            row = tx.execute("SELECT expires_at FROM sessions WHERE digest = ?", (key,)).fetchone()
        if row is None:
            return "unknown"
        return "expired" if row["expires_at"] <= now else "exhausted"

    def claim_session(self, session_id: str) -> SessionClaim:
        """Move an open session to "exchanging": exactly one caller wins, on any replica."""
        key = digest(session_id)
        now = time.time()
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE sessions SET status = 'exchanging', claimed_at = ?"
                " WHERE digest = ? AND expires_at > ?"
                " AND (status = 'open' OR (status = 'exchanging' AND claimed_at < ?))"
                " RETURNING client_id, redirect_uri, auth_query, expires_at",
                (now, key, now, now - self.STALE_CLAIM_SECONDS),
            ).fetchall()
            if rows:
                row = rows[0]
                record = SessionRecord(
                    row["client_id"],
                    row["redirect_uri"],
                    row["auth_query"],
                    row["expires_at"],
                    "open",
                )
                return SessionClaim(record, None)
            row = tx.execute("SELECT expires_at FROM sessions WHERE digest = ?", (key,)).fetchone()
        if row is None:
            return SessionClaim(None, "unknown")
        return SessionClaim(None, "expired" if row["expires_at"] <= now else "used")

    def release_session(self, session_id: str) -> None:
        """Give a claimed session back (the Plaid exchange failed; the user may retry)."""
        with self.backend.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET status = 'open', claimed_at = NULL"
                " WHERE digest = ? AND status = 'exchanging'",
                (digest(session_id),),
            )

    # Hosted Link sessions (LINK_MODE=hosted): the browser comes back with a return id, not
    # the session id; Plaid's SESSION_FINISHED webhook names the Link token.

    def create_hosted_session(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        auth_query: str,
        ttl: float,
        link_token: str,
        return_id: str,
        salt: str,
    ) -> None:
        """Open a session that Plaid's Hosted Link completes (it was given one Link token)."""
        now = time.time()
        with self.backend.transaction() as tx:
            tx.execute(
                "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
                " expires_at, link_tokens, link_token, hosted_return, hosted_salt)"
                " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                (
                    digest(session_id),
                    client_id,
                    redirect_uri,
                    auth_query,
                    now,
                    now + ttl,
                    link_token,
                    digest(return_id),
                    salt,
                ),
            )

    def find_hosted_session(self, return_id: str) -> HostedSession | None:
        with self.backend.read() as tx:
            row = tx.execute(
                "SELECT hosted_salt, link_token, auth_query, client_id, redirect_uri, expires_at,"
                " status, hosted_status, hosted_public_token FROM sessions"
                " WHERE hosted_return = ?",
                (digest(return_id),),
            ).fetchone()
        if row is None:
            return None
        return HostedSession(
            row["hosted_salt"],
            row["link_token"],
            row["auth_query"],
            row["client_id"],
            row["redirect_uri"],
            row["expires_at"],
            row["status"],
            row["hosted_status"],
            row["hosted_public_token"],
        )

    def record_hosted_result(self, link_token: str, status: str, public_token: str | None) -> bool:
        """What SESSION_FINISHED reported for an open, live Hosted Link session: only the
        first report counts. False when no such session waits for one."""
        with self.backend.transaction() as tx:
            cursor = tx.execute(
                "UPDATE sessions SET hosted_status = ?, hosted_public_token = ?"
                " WHERE link_token = ? AND hosted_return IS NOT NULL AND status = 'open'"
                " AND hosted_status IS NULL AND expires_at > ?",
                (status, public_token, link_token, time.time()),
            )
            return cursor.rowcount > 0

    def close_claimed_session(self, session_id: str) -> None:
        """End a claimed session without an Item (the user left Hosted Link without a bank):
        nothing completes it afterwards, and a later SESSION_FINISHED is not recorded."""
        with self.backend.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET status = 'completed', hosted_public_token = NULL"
                " WHERE digest = ? AND status = 'exchanging'",
                (digest(session_id),),
            )

    def forget_hosted_public_token(self, return_id: str) -> None:
        """The public token was sent to Plaid (or cannot be): it is not kept."""
        with self.backend.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET hosted_public_token = NULL WHERE hosted_return = ?",
                (digest(return_id),),
            )

    # Authorization: Item + code + session completion in one transaction.

    def save_authorization(
        self,
        session_id: str,
        item: ItemRecord,
        code: str,
        client_id: str,
        redirect_uri: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        code_ttl: float,
    ) -> None:
        now = time.time()
        with self.backend.transaction() as tx:
            item_ref = tx.execute(
                "INSERT INTO items (item_id, access_token, institution, client_user_id,"
                " created_at, client_id, redirect_uri, public_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    item.item_id,
                    item.access_token,
                    item.institution,
                    item.client_user_id,
                    now,
                    client_id,
                    redirect_uri,
                    public_ref(item.item_id),
                ),
            ).fetchall()[0]["id"]
            tx.execute(
                "INSERT INTO codes (digest, client_id, redirect_uri, code_challenge,"
                " code_challenge_method, item_ref, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(code),
                    client_id,
                    redirect_uri,
                    code_challenge,
                    code_challenge_method,
                    item_ref,
                    now,
                    now + code_ttl,
                ),
            )
            tx.execute(
                "UPDATE sessions SET status = 'completed' WHERE digest = ?",
                (digest(session_id),),
            )

    # Codes.

    def find_code(self, code: str) -> CodeRecord | None:
        with self.backend.read() as tx:
            row = tx.execute(
                "SELECT codes.digest, codes.client_id, codes.redirect_uri, codes.code_challenge,"
                " codes.code_challenge_method, codes.item_ref, codes.expires_at, codes.used_at,"
                " items.access_token FROM codes JOIN items ON items.id = codes.item_ref"
                " WHERE codes.digest = ?",
                (digest(code),),
            ).fetchone()
        if row is None:
            return None
        return CodeRecord(
            row["digest"],
            row["client_id"],
            row["redirect_uri"],
            row["code_challenge"],
            row["code_challenge_method"],
            row["item_ref"],
            row["access_token"],
            row["expires_at"],
            row["used_at"],
        )

    def redeem_code(self, code: str, refresh_token: str) -> bool:
        """Honour the code and store the refresh token it grants, in one transaction; True
        only for the one caller, on any replica, that redeemed it first and in time."""
        now = time.time()
        key = digest(code)
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE codes SET used_at = ? WHERE digest = ? AND used_at IS NULL"
                " AND expires_at > ? RETURNING client_id, item_ref",
                (now, key, now),
            ).fetchall()
            if not rows:
                return False
            row = rows[0]
            tx.execute(
                "INSERT INTO refresh_tokens (digest, client_id, item_ref, code_digest,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (digest(refresh_token), row["client_id"], row["item_ref"], key, now),
            )
        return True

    def revoke_code_grant(self, code: str) -> int:
        """Revoke every refresh token issued from this code (a replay). Returns how many."""
        now = time.time()
        with self.backend.transaction() as tx:
            tx.execute("UPDATE codes SET replayed_at = ? WHERE digest = ?", (now, digest(code)))
            cursor = tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE code_digest = ?"
                " AND revoked_at IS NULL",
                (now, digest(code)),
            )
            return cursor.rowcount

    # Refresh tokens.

    def find_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        with self.backend.read() as tx:
            row = tx.execute(
                "SELECT refresh_tokens.client_id, refresh_tokens.item_ref,"
                " refresh_tokens.revoked_at, items.access_token FROM refresh_tokens"
                " JOIN items ON items.id = refresh_tokens.item_ref"
                " WHERE refresh_tokens.digest = ?",
                (digest(refresh_token),),
            ).fetchone()
        if row is None:
            return None
        return RefreshRecord(
            row["client_id"], row["item_ref"], row["access_token"], row["revoked_at"]
        )

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.backend.transaction() as tx:
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL",
                (time.time(), digest(refresh_token)),
            )

    def use_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        """A refresh: the live (not revoked) token's record, its use recorded in the same
        transaction; None for an unknown or revoked token."""
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE refresh_tokens SET last_used_at = ? WHERE digest = ?"
                " AND revoked_at IS NULL RETURNING client_id, item_ref",
                (time.time(), digest(refresh_token)),
            ).fetchall()
            if not rows:
                return None
            item = tx.execute(
                "SELECT access_token FROM items WHERE id = ?", (rows[0]["item_ref"],)
            ).fetchone()
        return RefreshRecord(rows[0]["client_id"], rows[0]["item_ref"], item["access_token"], None)

    # Public tokens whose exchange ended ambiguously: never sent to Plaid again.

    def is_public_token_spent(self, public_token: str) -> bool:
        with self.backend.read() as tx:
            row = tx.execute(
                "SELECT 1 AS spent FROM spent_public_tokens WHERE digest = ?",
                (digest(public_token),),
            ).fetchone()
        return row is not None

    def mark_public_token_spent(self, public_token: str) -> None:
        with self.backend.transaction() as tx:
            tx.execute(
                "INSERT INTO spent_public_tokens (digest, spent_at) VALUES (?, ?)"
                " ON CONFLICT (digest) DO NOTHING",
                (digest(public_token), time.time()),
            )

    # Items at teardown.

    def live_items(self) -> list[tuple[int, str]]:
        """(item ref, Plaid access token) of every Item not yet removed."""
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT id, access_token FROM items WHERE removed_at IS NULL ORDER BY id"
            ).fetchall()
        return [(row["id"], row["access_token"]) for row in rows]

    def items_without_institution(self) -> list[tuple[int, str]]:
        """(item ref, access token) of live Items whose institution is not known yet."""
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT id, access_token FROM items WHERE removed_at IS NULL"
                " AND institution IS NULL ORDER BY id"
            ).fetchall()
        return [(row["id"], row["access_token"]) for row in rows]

    def set_institution(self, item_ref: int, institution: str) -> None:
        with self.backend.transaction() as tx:
            tx.execute("UPDATE items SET institution = ? WHERE id = ?", (institution, item_ref))

    def mark_item_removed(self, item_ref: int) -> None:
        """The Item is gone at Plaid: record it and revoke its refresh tokens."""
        now = time.time()
        with self.backend.transaction() as tx:
            tx.execute("UPDATE items SET removed_at = ? WHERE id = ?", (now, item_ref))
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE item_ref = ?"
                " AND revoked_at IS NULL",
                (now, item_ref),
            )

    def abandoned_items(self, now: float | None = None) -> list[tuple[int, str]]:
        """(item ref, access token) of Items no one can use any more: not removed, no live
        refresh token, and no code that may still be redeemed (the user authorized, then Kore
        never came for the token, or the grant was revoked). They should go at Plaid."""
        now = time.time() if now is None else now
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT id, access_token FROM items WHERE removed_at IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r"
                "   WHERE r.item_ref = items.id AND r.revoked_at IS NULL)"
                " AND NOT EXISTS (SELECT 1 FROM codes c"
                "   WHERE c.item_ref = items.id AND c.used_at IS NULL AND c.expires_at > ?)"
                " ORDER BY id",
                (now,),
            ).fetchall()
        return [(row["id"], row["access_token"]) for row in rows]

    # Item health: Plaid's webhooks and the errors the bridge's own calls get.

    def record_webhook(
        self,
        item_id: str,
        webhook: str,
        health: str | None,
        detail: str | None,
        only_over: str | None = None,
    ) -> bool:
        """Record a verified webhook (``"ITEM ERROR"``) for the Item Plaid calls ``item_id``
        and, when ``health`` is given, its new health; with ``only_over``, only an Item in
        that health (or already in ``health``) changes health. An Item whose access token
        Plaid refuses keeps that health: no webhook fixes the stored token (only
        :meth:`replace_access_token` does). False when no Item has this item_id."""
        now = time.time()
        with self.backend.transaction() as tx:
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

    def record_item_health(self, access_token: str, health: str, detail: str | None) -> bool:
        """The health a Plaid answer to the bridge's own call revealed (``/item/get``
        answering ITEM_LOGIN_REQUIRED, say); False when no live Item has this token."""
        with self.backend.transaction() as tx:
            cursor = tx.execute(
                "UPDATE items SET health = ?, health_detail = ?, health_at = ?"
                " WHERE access_token = ? AND removed_at IS NULL",
                (health, detail, time.time(), access_token),
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
        with self.backend.transaction() as tx:
            cursor = tx.execute(
                "UPDATE items SET access_token = ?,"
                " health_at = CASE WHEN health = ? THEN ? ELSE health_at END,"
                " health_detail = CASE WHEN health = ? THEN NULL ELSE health_detail END,"
                " health = CASE WHEN health = ? THEN ? ELSE health END"
                " WHERE (id = ? OR public_ref = ?) AND access_token = ?",
                (
                    new_access_token,
                    INVALID_ACCESS_TOKEN,
                    time.time(),
                    INVALID_ACCESS_TOKEN,
                    INVALID_ACCESS_TOKEN,
                    HEALTHY,
                    row_id,
                    ref,
                    old_access_token,
                ),
            )
            return cursor.rowcount > 0

    def mark_item_healthy(self, ref: str) -> bool:
        """The Item's user repaired it (Link in update mode succeeded): healthy again, and
        its other repair links are spent. False for an unknown or removed Item."""
        now = time.time()
        with self.backend.transaction() as tx:
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
        with self.backend.read() as tx:
            rows = tx.execute("SELECT id, item_id FROM items WHERE public_ref IS NULL").fetchall()
        if not rows:
            return 0
        with self.backend.transaction() as tx:
            for row in rows:
                tx.execute(
                    "UPDATE items SET public_ref = ? WHERE id = ? AND public_ref IS NULL",
                    (public_ref(row["item_id"]), row["id"]),
                )
        return len(rows)

    def item_statuses(self) -> list[ItemStatus]:
        """Every Item the store holds, oldest first, with its health."""
        self.fill_missing_refs()
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT public_ref, institution, health, health_detail, health_at,"
                " last_webhook, last_webhook_at, created_at, access_token, removed_at"
                " FROM items ORDER BY created_at, id"
            ).fetchall()
        return [
            ItemStatus(
                ref=row["public_ref"],
                institution=row["institution"],
                health=row["health"],
                health_detail=row["health_detail"],
                health_at=row["health_at"],
                last_webhook=row["last_webhook"],
                last_webhook_at=row["last_webhook_at"],
                created_at=row["created_at"],
                access_token=row["access_token"],
                removed_at=row["removed_at"],
            )
            for row in rows
        ]

    # Repair links: single use, stored as digests, for the user of an Item that needs them.

    def create_repair_link(self, ref: str, ttl: float = REPAIR_LINK_TTL_SECONDS) -> str | None:
        """A fresh repair link token (``secrets.token_urlsafe(32)``, stored as a digest
        only, single use, valid ``ttl`` seconds) for the live Item ``ref``; None when there
        is no such Item."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.backend.transaction() as tx:
            row = tx.execute(
                "SELECT id FROM items WHERE public_ref = ? AND removed_at IS NULL", (ref,)
            ).fetchone()
            if row is None:
                return None
            tx.execute(
                "INSERT INTO repair_links (digest, item_ref, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (digest(token), row["id"], now, now + ttl),
            )
        return token

    def start_repair(self, token: str, limit: int) -> RepairClaim:
        """Count one more Link token for a usable repair link, at most ``limit`` in all: its
        Item, or why not (``"exhausted"`` past the limit)."""
        key = digest(token)
        now = time.time()
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE repair_links SET link_tokens = link_tokens + 1 WHERE digest = ?"
                " AND used_at IS NULL AND expires_at > ? AND link_tokens < ?"
                " AND item_ref IN (SELECT id FROM items WHERE removed_at IS NULL)"
                " RETURNING item_ref, link_tokens",
                (key, now, limit),
            ).fetchall()
            if not rows:
                return self._repair_refusal(tx, key, now)
            item = self._repair_item(tx, rows[0]["item_ref"])
        return RepairClaim(item, None, rows[0]["link_tokens"])

    def complete_repair(self, token: str) -> RepairClaim:
        """The repair link's Link run succeeded: in one transaction, spend the link (exactly
        one caller, on any replica, wins), make its Item healthy again and spend the Item's
        other repair links. A link never given a Link token is refused (``"not_started"``)."""
        key = digest(token)
        now = time.time()
        with self.backend.transaction() as tx:
            rows = tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE digest = ? AND used_at IS NULL"
                " AND expires_at > ? AND link_tokens > 0"
                " AND item_ref IN (SELECT id FROM items WHERE removed_at IS NULL)"
                " RETURNING item_ref, link_tokens",
                (now, key, now),
            ).fetchall()
            if not rows:
                return self._repair_refusal(tx, key, now)
            item_ref = rows[0]["item_ref"]
            tx.execute(
                "UPDATE items SET health = ?, health_detail = NULL, health_at = ? WHERE id = ?",
                (HEALTHY, now, item_ref),
            )
            tx.execute(
                "UPDATE repair_links SET used_at = ? WHERE item_ref = ? AND used_at IS NULL",
                (now, item_ref),
            )
            item = self._repair_item(tx, item_ref)
        return RepairClaim(item, None, rows[0]["link_tokens"])

    @staticmethod
    def _repair_item(tx: Transaction, item_ref: int) -> RepairItem:
        row = tx.execute(
            "SELECT public_ref, item_id, access_token, institution, client_user_id"
            " FROM items WHERE id = ?",
            (item_ref,),
        ).fetchone()
        return RepairItem(
            row["public_ref"],
            row["item_id"],
            row["access_token"],
            row["institution"],
            row["client_user_id"],
        )

    @staticmethod
    def _repair_refusal(tx: Transaction, key: str, now: float) -> RepairClaim:
        """Why the repair link ``key`` cannot be used now."""
        row = tx.execute(
            "SELECT repair_links.expires_at, repair_links.used_at, repair_links.link_tokens,"
            " items.removed_at FROM repair_links JOIN items ON items.id = repair_links.item_ref"
            " WHERE repair_links.digest = ?",
            (key,),
        ).fetchone()
        if row is None:
            return RepairClaim(None, "unknown")
        count = row["link_tokens"]
        if row["used_at"] is not None:
            return RepairClaim(None, "used", count)
        if row["removed_at"] is not None:
            return RepairClaim(None, "removed", count)
        if row["expires_at"] <= now:
            return RepairClaim(None, "expired", count)
        return RepairClaim(None, "not_started" if count == 0 else "exhausted", count)

    def peek_repair_link(self, token: str) -> RepairClaim:
        """Whether the repair link can be used now, without using it (a page view, a link
        preview): read only."""
        now = time.time()
        with self.backend.read() as tx:
            row = tx.execute(
                "SELECT repair_links.expires_at, repair_links.used_at, repair_links.link_tokens,"
                " items.removed_at, items.public_ref, items.item_id, items.access_token,"
                " items.institution, items.client_user_id"
                " FROM repair_links JOIN items ON items.id = repair_links.item_ref"
                " WHERE repair_links.digest = ?",
                (digest(token),),
            ).fetchone()
        if row is None:
            return RepairClaim(None, "unknown")
        count = row["link_tokens"]
        if row["used_at"] is not None:
            return RepairClaim(None, "used", count)
        if row["removed_at"] is not None:
            return RepairClaim(None, "removed", count)
        if row["expires_at"] <= now:
            return RepairClaim(None, "expired", count)
        item = RepairItem(
            row["public_ref"],
            row["item_id"],
            row["access_token"],
            row["institution"],
            row["client_user_id"],
        )
        return RepairClaim(item, None, count)

    def purge_expired_repair_links(self, now: float | None = None) -> int:
        """Delete repair links a week past their expiry; returns how many went."""
        now = time.time() if now is None else now
        with self.backend.transaction() as tx:
            return tx.execute(
                "DELETE FROM repair_links WHERE expires_at < ?",
                (now - REPAIR_LINK_RETENTION_SECONDS,),
            ).rowcount

    # Housekeeping.

    def purge_expired(self, now: float | None = None) -> dict[str, int]:
        """Delete what can no longer be used: sessions and unused codes past their expiry
        (sessions after :data:`SESSION_RETENTION_SECONDS`), used codes a day after theirs,
        spent public tokens after an hour. Returns how many rows of each went."""
        now = time.time() if now is None else now
        with self.backend.transaction() as tx:
            sessions = tx.execute(
                "DELETE FROM sessions WHERE expires_at < ?", (now - SESSION_RETENTION_SECONDS,)
            ).rowcount
            codes = tx.execute(
                "DELETE FROM codes WHERE (used_at IS NULL AND expires_at < ?) OR expires_at < ?",
                (now, now - USED_CODE_RETENTION_SECONDS),
            ).rowcount
            spent = tx.execute(
                "DELETE FROM spent_public_tokens WHERE spent_at < ?",
                (now - SPENT_TOKEN_RETENTION_SECONDS,),
            ).rowcount
        return {"sessions": sessions, "codes": codes, "spent_public_tokens": spent}

    # Reading for notebooks.

    def authorizations(self) -> list[AuthorizationRow]:
        """One row per authorization (Item), newest first, with its code and token state."""
        with self.backend.read() as tx:
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
            AuthorizationRow(
                created_at=row["created_at"],
                client_id=row["client_id"],
                redirect_uri=row["redirect_uri"],
                item_id=row["item_id"],
                access_token=row["access_token"],
                institution=row["institution"],
                removed_at=row["removed_at"],
                code_expires_at=row["code_expires_at"],
                code_used_at=row["code_used_at"],
                issued=int(row["issued"]),
                revoked=int(row["revoked"]),
                last_refresh=row["last_refresh"],
            )
            for row in rows
        ]
