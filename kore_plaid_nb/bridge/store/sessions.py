"""Sessions: one per authorization request, between the page and set_access_token.

Hosted Link sessions (LINK_MODE=hosted) are sessions too: the browser comes back with a
return id, not the session id, and Plaid's SESSION_FINISHED webhook names the Link token.
"""

from __future__ import annotations

from .database import Database, Row, Transaction
from .records import (
    HostedSession,
    LinkTokenGrant,
    SessionClaim,
    SessionRecord,
    StoreProblem,
    digest,
    from_row,
)

# A session stuck in "exchanging" (process killed mid-exchange) may be claimed again after this.
STALE_CLAIM_SECONDS = 60.0
INSERT_SESSION = (
    "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at, expires_at,"
    " link_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_SESSION_IN_LANGUAGE = (
    "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at, expires_at,"
    " link_tokens, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class Sessions:
    """The ``sessions`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        auth_query: str,
        ttl: float,
        link_tokens: int = 0,
        language: str | None = None,
    ) -> None:
        """Open a session; ``link_tokens``: how many Link tokens it was already given;
        ``language``: the end user's (:mod:`..i18n`)."""
        now = self.db.now()
        values = (digest(session_id), client_id, redirect_uri, auth_query, now, now + ttl,
                  link_tokens)  # fmt: skip
        with self.db.transaction() as tx:
            if language is None:  # left out (NULL), as a bridge of schema 10 wrote sessions
                tx.execute(INSERT_SESSION, values)
            else:
                tx.execute(INSERT_SESSION_IN_LANGUAGE, (*values, language))

    def count_link_token(self, session_id: str, limit: int) -> StoreProblem | None:
        """Count one more Link token for a live session, at most ``limit`` in all; None when
        granted, else why not: ``"unknown"``, ``"expired"`` or ``"exhausted"``. A completed
        session still gets one (a restored page then learns from set_access_token that it
        is finished)."""
        return self.grant_link_token(session_id, limit).problem

    def grant_link_token(self, session_id: str, limit: int) -> LinkTokenGrant:
        """:meth:`count_link_token`, with the session's language when granted."""
        key = digest(session_id)
        now = self.db.now()
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE sessions SET link_tokens = link_tokens + 1"
                " WHERE digest = ? AND expires_at > ? AND link_tokens < ?"
                " RETURNING link_tokens, language",
                (key, now, limit),
            ).fetchall()
            if rows:
                return LinkTokenGrant(None, rows[0]["language"])
            expires_at = _expires_at(tx, key)
        if expires_at is None:
            return LinkTokenGrant(StoreProblem.UNKNOWN)
        problem = StoreProblem.EXPIRED if expires_at <= now else StoreProblem.EXHAUSTED
        return LinkTokenGrant(problem)

    def claim(self, session_id: str) -> SessionClaim:
        """Move an open session to "exchanging": exactly one caller wins, on any replica."""
        key = digest(session_id)
        now = self.db.now()
        with self.db.transaction() as tx:
            rows = tx.execute(
                "UPDATE sessions SET status = 'exchanging', claimed_at = ?"
                " WHERE digest = ? AND expires_at > ?"
                " AND (status = 'open' OR (status = 'exchanging' AND claimed_at < ?))"
                " RETURNING client_id, redirect_uri, auth_query, expires_at",
                (now, key, now, now - STALE_CLAIM_SECONDS),
            ).fetchall()
            if rows:
                return SessionClaim(from_row(SessionRecord, rows[0], status="open"), None)
            expires_at = _expires_at(tx, key)
        if expires_at is None:
            return SessionClaim(None, StoreProblem.UNKNOWN)
        return SessionClaim(None, StoreProblem.EXPIRED if expires_at <= now else StoreProblem.USED)

    def release(self, session_id: str) -> None:
        """Give a claimed session back (the Plaid exchange failed; the user may retry)."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET status = 'open', claimed_at = NULL"
                " WHERE digest = ? AND status = 'exchanging'",
                (digest(session_id),),
            )

    def is_open(self, session_id: str) -> bool:
        """The session exists, is live, and is neither completed nor being completed."""
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT 1 FROM sessions WHERE digest = ? AND status = 'open' AND expires_at > ?",
                (digest(session_id), self.db.now()),
            ).fetchone()
        return row is not None

    def create_hosted(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        auth_query: str,
        ttl: float,
        link_token: str,
        return_id: str,
        salt: str,
        language: str | None = None,
    ) -> None:
        """Open a session that Plaid's Hosted Link completes (it was given one Link token)."""
        now = self.db.now()
        key = digest(session_id)
        sealed = self.db.keyring.seal(link_token, "sessions", "link_token", key)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
                " expires_at, link_tokens, link_token, link_token_digest, hosted_return,"
                " hosted_salt, language) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (key, client_id, redirect_uri, auth_query, now, now + ttl, sealed,
                 self.db.keyring.digest(link_token), digest(return_id), salt, language),
            )  # fmt: skip

    def find_hosted(self, return_id: str) -> HostedSession | None:
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT digest, hosted_salt AS salt, link_token, auth_query, client_id,"
                " redirect_uri, expires_at, status, hosted_status, hosted_public_token, language"
                " FROM sessions WHERE hosted_return = ?",
                (digest(return_id),),
            ).fetchone()
        return None if row is None else self._hosted(row)

    def _hosted(self, row: Row) -> HostedSession:
        keyring, key = self.db.keyring, row["digest"]
        public_token = row["hosted_public_token"]
        return from_row(
            HostedSession,
            row,
            link_token=keyring.unseal(row["link_token"], "sessions", "link_token", key),
            public_token=None
            if public_token is None
            else keyring.unseal(public_token, "sessions", "hosted_public_token", key),
        )

    def record_hosted_result(self, link_token: str, status: str, public_token: str | None) -> bool:
        """What SESSION_FINISHED reported for an open, live Hosted Link session: only the
        first report counts. False when no such session waits for one."""
        keyring = self.db.keyring
        match, digests = keyring.lookup("link_token_digest", link_token)
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT digest FROM sessions WHERE {match} LIMIT 1",  # noqa: S608  # nosec B608
                digests,
            ).fetchone()
            if row is None:
                return False
            key = row["digest"]
            sealed = None
            if public_token is not None:
                sealed = keyring.seal(public_token, "sessions", "hosted_public_token", key)
            cursor = tx.execute(
                "UPDATE sessions SET hosted_status = ?, hosted_public_token = ?"
                " WHERE digest = ? AND hosted_return IS NOT NULL AND status = 'open'"
                " AND hosted_status IS NULL AND expires_at > ?",
                (status, sealed, key, self.db.now()),
            )
            return cursor.rowcount > 0

    def close_claimed(self, session_id: str) -> None:
        """End a claimed session without an Item (the user left Hosted Link without a bank):
        nothing completes it afterwards, and a later SESSION_FINISHED is not recorded."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET status = 'completed', hosted_public_token = NULL"
                " WHERE digest = ? AND status = 'exchanging'",
                (digest(session_id),),
            )

    def forget_hosted_public_token(self, return_id: str) -> None:
        """The public token was sent to Plaid (or cannot be): it is not kept."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET hosted_public_token = NULL WHERE hosted_return = ?",
                (digest(return_id),),
            )


def _expires_at(tx: Transaction, key: str) -> float | None:
    row = tx.execute("SELECT expires_at FROM sessions WHERE digest = ?", (key,)).fetchone()
    return None if row is None else float(row["expires_at"])
