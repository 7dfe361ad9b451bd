"""Housekeeping: deleting the records that stopped mattering, some time after they did."""

from __future__ import annotations

from .database import Database

SESSION_RETENTION_SECONDS = 3600.0  # past expiry: the user still reads "expired", not "unknown"
USED_CODE_RETENTION_SECONDS = 86400.0  # past expiry: a replay still revokes what the code issued
SPENT_TOKEN_RETENTION_SECONDS = 3600.0  # Plaid's public tokens live 30 minutes
REPAIR_LINK_RETENTION_SECONDS = 7 * 86400.0  # past expiry: its user still reads "expired"


class Purge:
    """Deletes expired sessions, codes, spent public tokens and repair links."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def expired(self) -> dict[str, int]:
        """Delete what can no longer be used: sessions and unused codes past their expiry
        (sessions after :data:`SESSION_RETENTION_SECONDS`), used codes a day after theirs,
        spent public tokens after an hour. Returns how many rows of each went."""
        now = self.db.now()
        with self.db.transaction() as tx:
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

    def expired_repair_links(self) -> int:
        """Delete repair links a week past their expiry; returns how many went."""
        now = self.db.now()
        with self.db.transaction() as tx:
            return tx.execute(
                "DELETE FROM repair_links WHERE expires_at < ?",
                (now - REPAIR_LINK_RETENTION_SECONDS,),
            ).rowcount
