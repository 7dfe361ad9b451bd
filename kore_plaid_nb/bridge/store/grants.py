"""Grants: the authorization (Item + code + session completion in one transaction), the
single-use codes and the refresh tokens they grant."""

from __future__ import annotations

import hmac

from .audit import AuditRecord
from .audit import insert as audit_insert
from .database import Database, Transaction
from .items import access_token_of, sealed_access_token
from .records import CodeRecord, ItemRecord, RefreshRecord, digest, from_row, public_ref


def _same(given: str, expected: str) -> bool:
    """Constant-time string comparison (as :func:`..client_auth.equal_secrets`)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


FIND_CODE = (
    "SELECT codes.digest, codes.client_id, codes.redirect_uri, codes.code_challenge,"
    " codes.code_challenge_method, codes.item_ref, codes.expires_at, codes.used_at,"
    " items.item_id, items.access_token FROM codes"
    " JOIN items ON items.id = codes.item_ref WHERE codes.digest = ?"
)


def _redeem(tx: Transaction, key: str, refresh_token: str, now: float) -> bool:
    """Mark the code (digest ``key``) used and store the refresh token it grants; True only
    for the one caller, on any replica, that redeemed it first and in time."""
    rows = tx.execute(
        "UPDATE codes SET used_at = ? WHERE digest = ? AND used_at IS NULL"
        " AND expires_at > ? RETURNING client_id, item_ref",
        (now, key, now),
    ).fetchall()
    if not rows:
        return False
    tx.execute(
        "INSERT INTO refresh_tokens (digest, client_id, item_ref, code_digest,"
        " created_at) VALUES (?, ?, ?, ?, ?)",
        (digest(refresh_token), rows[0]["client_id"], rows[0]["item_ref"], key, now),
    )
    return True


class Grants:
    """The ``codes`` and ``refresh_tokens`` tables (and the Item an authorization saves)."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        audit: AuditRecord | None = None,
    ) -> None:
        """The Item (with the session's language), its code and the session's completion
        (and ``audit``: the record of the authorization) in one transaction."""
        now = self.db.now()
        sealed, token_digest = sealed_access_token(self.db.keyring, item.item_id, item.access_token)
        with self.db.transaction() as tx:
            item_ref = tx.execute(
                "INSERT INTO items (item_id, access_token, access_token_digest, institution,"
                " client_user_id, created_at, client_id, redirect_uri, public_ref, language)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " (SELECT language FROM sessions WHERE digest = ?)) RETURNING id",
                (item.item_id, sealed, token_digest, item.institution, item.client_user_id, now,
                 client_id, redirect_uri, public_ref(item.item_id), digest(session_id)),
            ).fetchall()[0]["id"]  # fmt: skip
            tx.execute(
                "INSERT INTO codes (digest, client_id, redirect_uri, code_challenge,"
                " code_challenge_method, item_ref, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (digest(code), client_id, redirect_uri, code_challenge, code_challenge_method,
                 item_ref, now, now + code_ttl),
            )  # fmt: skip
            tx.execute(
                "UPDATE sessions SET status = 'completed' WHERE digest = ?",
                (digest(session_id),),
            )
            if audit is not None:
                audit_insert(tx, audit)

    def find_code(self, code: str) -> CodeRecord | None:
        with self.db.read() as tx:
            row = tx.execute(FIND_CODE, (digest(code),)).fetchone()
        if row is None:
            return None
        return from_row(CodeRecord, row, access_token=access_token_of(self.db.keyring, row))

    def redeem_code_of(
        self, code: str, client_id: str, refresh_token: str
    ) -> tuple[CodeRecord | None, bool]:
        """:meth:`find_code`, then :meth:`redeem_code` when the code is ``client_id``'s and
        unused, in one transaction: (the code's record as found, whether this caller
        redeemed it). A code of another client is left as it was."""
        now = self.db.now()
        key = digest(code)
        with self.db.transaction() as tx:
            row = tx.execute(FIND_CODE, (key,)).fetchone()
            if row is None:
                return None, False
            record = from_row(CodeRecord, row, access_token=access_token_of(self.db.keyring, row))
            if record.used_at is not None or not _same(client_id, record.client_id):
                return record, False
            return record, _redeem(tx, key, refresh_token, now)

    def redeem_code(self, code: str, refresh_token: str) -> bool:
        """Honour the code and store the refresh token it grants, in one transaction; True
        only for the one caller, on any replica, that redeemed it first and in time."""
        now = self.db.now()
        key = digest(code)
        with self.db.transaction() as tx:
            return _redeem(tx, key, refresh_token, now)

    def revoke_code_grant(self, code: str) -> int:
        """Revoke every refresh token issued from this code (a replay). Returns how many."""
        now = self.db.now()
        with self.db.transaction() as tx:
            tx.execute("UPDATE codes SET replayed_at = ? WHERE digest = ?", (now, digest(code)))
            cursor = tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE code_digest = ?"
                " AND revoked_at IS NULL",
                (now, digest(code)),
            )
            return cursor.rowcount

    def find_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT refresh_tokens.client_id, refresh_tokens.item_ref,"
                " refresh_tokens.revoked_at, items.item_id, items.access_token"
                " FROM refresh_tokens JOIN items ON items.id = refresh_tokens.item_ref"
                " WHERE refresh_tokens.digest = ?",
                (digest(refresh_token),),
            ).fetchone()
        if row is None:
            return None
        return from_row(RefreshRecord, row, access_token=access_token_of(self.db.keyring, row))

    def item_of_refresh_token(self, refresh_token: str) -> int | None:
        """The row number of the Item a refresh token (revoked or not) is for, without
        opening anything sealed (an audit record's Item under a wrong key)."""
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT item_ref FROM refresh_tokens WHERE digest = ?", (digest(refresh_token),)
            ).fetchone()
        return None if row is None else int(row["item_ref"])

    def refresh_token_state(self, refresh_token: str) -> tuple[int, float | None] | None:
        """(Item row number, revoked at) of a refresh token, without opening anything
        sealed; None for an unknown one."""
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT item_ref, revoked_at FROM refresh_tokens WHERE digest = ?",
                (digest(refresh_token),),
            ).fetchone()
        return None if row is None else (int(row["item_ref"]), row["revoked_at"])

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL",
                (self.db.now(), digest(refresh_token)),
            )

    def use_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        """A refresh: the live (not revoked) token's record, its use recorded in the same
        transaction; None for an unknown or revoked token."""
        with self.db.transaction() as tx:
            rows = tx.execute(  # one statement: the Item's columns come with the update
                "UPDATE refresh_tokens SET last_used_at = ? WHERE digest = ?"
                " AND revoked_at IS NULL RETURNING client_id, item_ref,"
                " (SELECT item_id FROM items WHERE items.id = refresh_tokens.item_ref) AS item_id,"
                " (SELECT access_token FROM items WHERE items.id = refresh_tokens.item_ref)"
                " AS access_token",
                (self.db.now(), digest(refresh_token)),
            ).fetchall()
            if not rows:
                return None
            # Opened inside the transaction: a key that does not open it undoes the refresh.
            access_token = access_token_of(self.db.keyring, rows[0])
        return from_row(RefreshRecord, rows[0], access_token=access_token, revoked_at=None)
