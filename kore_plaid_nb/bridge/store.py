"""The bridge's SQLite store: sessions, Items, authorization codes and refresh tokens.

Durability and safety choices:

* One file (``settings.bridge_db_path``), created with mode 0600 in a 0700 folder; WAL journal,
  ``synchronous=FULL``: a row is on disk before the response that mentions it is sent, so a
  ``kill -9`` loses nothing that was issued.
* Every multi-row change is one ``BEGIN IMMEDIATE`` transaction (Item + code + session in one
  commit), so a killed process leaves either the whole record or none of it.
* Sessions, authorization codes and refresh tokens are stored as SHA-256 digests only; they
  are 256-bit random values, so a plain digest is enough (no dictionary to attack). The Plaid
  access token is stored as is: the refresh grant must hand it out again, and it is what the
  0600 mode protects.
* Single use is enforced by the database: claiming a code or a session is a conditional
  ``UPDATE`` whose row count says who won, whatever the number of threads.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    auth_query TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    claimed_at REAL
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    institution TEXT,
    client_user_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    removed_at REAL
);
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    item_ref INTEGER NOT NULL REFERENCES items(id),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    replayed_at REAL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    item_ref INTEGER NOT NULL REFERENCES items(id),
    code_digest TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS refresh_by_code ON refresh_tokens(code_digest);
"""


def digest(secret: str) -> str:
    """The stored form of a session id, code or refresh token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    client_id: str
    redirect_uri: str
    auth_query: str
    expires_at: float
    status: str


@dataclass(frozen=True)
class ItemRecord:
    item_id: str
    access_token: str
    institution: str | None
    client_user_id: str


@dataclass(frozen=True)
class CodeRecord:
    digest: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    item_ref: int
    access_token: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True)
class RefreshRecord:
    client_id: str
    item_ref: int
    access_token: str
    revoked_at: float | None


class SessionClaim:
    """Outcome of :meth:`BridgeStore.claim_session`: the record, or why there is none."""

    def __init__(self, record: SessionRecord | None, problem: str | None) -> None:
        self.record = record
        self.problem = problem  # "unknown" | "expired" | "used" | None


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class BridgeStore:
    """Thread-safe access to the bridge database (one connection, one lock)."""

    # A session stuck in "exchanging" (process killed mid-exchange) may be retried after this.
    STALE_CLAIM_SECONDS = 60.0

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _create_private_file(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(items)")}
        if "removed_at" not in columns:  # a store written before Items could be removed
            self._db.execute("ALTER TABLE items ADD COLUMN removed_at REAL")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # Sessions: one per authorization request, between the page and set_access_token.

    def create_session(
        self, session_id: str, client_id: str, redirect_uri: str, auth_query: str, ttl: float
    ) -> None:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (digest(session_id), client_id, redirect_uri, auth_query, now, now + ttl),
            )

    def claim_session(self, session_id: str) -> SessionClaim:
        """Move an open session to "exchanging" (exactly one caller wins)."""
        key = digest(session_id)
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM sessions WHERE digest = ?", (key,)).fetchone()
            if row is None:
                return SessionClaim(None, "unknown")
            if row["expires_at"] <= now:
                return SessionClaim(None, "expired")
            stale = row["status"] == "exchanging" and (
                (row["claimed_at"] or 0) < now - self.STALE_CLAIM_SECONDS
            )
            if row["status"] != "open" and not stale:
                return SessionClaim(None, "used")
            db.execute(
                "UPDATE sessions SET status = 'exchanging', claimed_at = ? WHERE digest = ?",
                (now, key),
            )
        record = SessionRecord(
            row["client_id"], row["redirect_uri"], row["auth_query"], row["expires_at"], "open"
        )
        return SessionClaim(record, None)

    def release_session(self, session_id: str) -> None:
        """Give a claimed session back (the Plaid exchange failed; the user may retry)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE sessions SET status = 'open', claimed_at = NULL"
                " WHERE digest = ? AND status = 'exchanging'",
                (digest(session_id),),
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
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO items (item_id, access_token, institution, client_user_id,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (item.item_id, item.access_token, item.institution, item.client_user_id, now),
            )
            db.execute(
                "INSERT INTO codes (digest, client_id, redirect_uri, code_challenge,"
                " code_challenge_method, item_ref, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(code),
                    client_id,
                    redirect_uri,
                    code_challenge,
                    code_challenge_method,
                    cursor.lastrowid,
                    now,
                    now + code_ttl,
                ),
            )
            db.execute(
                "UPDATE sessions SET status = 'completed' WHERE digest = ?",
                (digest(session_id),),
            )

    # Codes.

    def find_code(self, code: str) -> CodeRecord | None:
        rows = self._query(
            "SELECT codes.*, items.access_token FROM codes JOIN items ON items.id = codes.item_ref"
            " WHERE codes.digest = ?",
            (digest(code),),
        )
        if not rows:
            return None
        row = rows[0]
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

    def consume_code(self, code: str) -> bool:
        """Mark the code used; True only for the one caller that used it first, in time."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE codes SET used_at = ? WHERE digest = ? AND used_at IS NULL"
                " AND expires_at > ?",
                (now, digest(code), now),
            )
            return cursor.rowcount == 1

    def revoke_code_grant(self, code: str) -> int:
        """Revoke every refresh token issued from this code (a replay). Returns how many."""
        now = time.time()
        with self._transaction() as db:
            db.execute("UPDATE codes SET replayed_at = ? WHERE digest = ?", (now, digest(code)))
            cursor = db.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE code_digest = ?"
                " AND revoked_at IS NULL",
                (now, digest(code)),
            )
            return cursor.rowcount

    # Refresh tokens.

    def save_refresh_token(self, refresh_token: str, code: str) -> None:
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT client_id, item_ref, replayed_at FROM codes WHERE digest = ?",
                (digest(code),),
            ).fetchone()
            # A replay that raced this issue has already happened: born revoked.
            revoked_at = now if row["replayed_at"] is not None else None
            db.execute(
                "INSERT INTO refresh_tokens (digest, client_id, item_ref, code_digest,"
                " created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    digest(refresh_token),
                    row["client_id"],
                    row["item_ref"],
                    digest(code),
                    now,
                    revoked_at,
                ),
            )

    def find_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        rows = self._query(
            "SELECT refresh_tokens.*, items.access_token FROM refresh_tokens"
            " JOIN items ON items.id = refresh_tokens.item_ref WHERE refresh_tokens.digest = ?",
            (digest(refresh_token),),
        )
        if not rows:
            return None
        row = rows[0]
        return RefreshRecord(
            row["client_id"], row["item_ref"], row["access_token"], row["revoked_at"]
        )

    def touch_refresh_token(self, refresh_token: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE refresh_tokens SET last_used_at = ? WHERE digest = ?",
                (time.time(), digest(refresh_token)),
            )

    # Items at teardown.

    def live_items(self) -> list[tuple[int, str]]:
        """(item ref, Plaid access token) of every Item not yet removed."""
        rows = self._query("SELECT id, access_token FROM items WHERE removed_at IS NULL")
        return [(row["id"], row["access_token"]) for row in rows]

    def mark_item_removed(self, item_ref: int) -> None:
        """The Item is gone at Plaid: record it and revoke its refresh tokens."""
        now = time.time()
        with self._transaction() as db:
            db.execute("UPDATE items SET removed_at = ? WHERE id = ?", (now, item_ref))
            db.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE item_ref = ?"
                " AND revoked_at IS NULL",
                (now, item_ref),
            )

    # Reading for notebooks.

    def authorizations(self) -> list[sqlite3.Row]:
        """One row per authorization (code), newest first, with its Item and token state."""
        return self._query(
            "SELECT codes.created_at, codes.client_id, codes.redirect_uri, codes.expires_at,"
            " codes.used_at, items.item_id, items.access_token, items.institution,"
            " items.removed_at,"
            " (SELECT COUNT(*) FROM refresh_tokens r WHERE r.code_digest = codes.digest)"
            "   AS issued,"
            " (SELECT COUNT(*) FROM refresh_tokens r WHERE r.code_digest = codes.digest"
            "   AND r.revoked_at IS NOT NULL) AS revoked,"
            " (SELECT MAX(r.last_used_at) FROM refresh_tokens r"
            "   WHERE r.code_digest = codes.digest) AS last_refresh"
            " FROM codes JOIN items ON items.id = codes.item_ref"
            " ORDER BY codes.created_at DESC"
        )
