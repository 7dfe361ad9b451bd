"""Public tokens whose exchange ended ambiguously: never sent to Plaid again (shared by
every replica, kept across restarts)."""

from __future__ import annotations

from .database import Database
from .records import digest


class SpentPublicTokens:
    """The ``spent_public_tokens`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def is_spent(self, public_token: str) -> bool:
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT 1 AS spent FROM spent_public_tokens WHERE digest = ?",
                (digest(public_token),),
            ).fetchone()
        return row is not None

    def mark_spent(self, public_token: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO spent_public_tokens (digest, spent_at) VALUES (?, ?)"
                " ON CONFLICT (digest) DO NOTHING",
                (digest(public_token), self.db.now()),
            )
