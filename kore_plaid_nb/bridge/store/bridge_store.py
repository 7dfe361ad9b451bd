"""The bridge's state, the same on every backend: sessions, Items, codes, refresh tokens and
the public tokens already sent to Plaid.

* Secrets (session ids, codes, refresh tokens, public tokens) are stored as SHA-256 digests;
  they are 256-bit random values, so a plain digest is enough. What must be read back (the
  Plaid access token, the refresh grant hands it out again; Hosted Link's Link and public
  tokens) is sealed with AES-256-GCM (:mod:`.sealed`), found by a keyed digest.
* Every multi-row change is one transaction (Item + code + session; code + refresh token),
  so a killed process or a lost database leaves the whole record or none of it.
* Single use is decided by one conditional ``UPDATE`` whose row count (or returned row) says
  who won, whatever the number of threads, processes or hosts.
* Expired sessions and codes are deleted by :meth:`BridgeStore.purge_expired`; the shapes
  of Kore's requests keep the newest :data:`..request_shapes.KEPT_SHAPES` only.

:class:`BridgeStore` is a façade over one part per record type (:mod:`.sessions`,
:mod:`.grants`, :mod:`.spent_tokens`, :mod:`.items`, :mod:`.repair_links`,
:mod:`.kore_requests`, :mod:`.purge`), all on one :class:`.database.Database` (backend and
clock).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType

from ..request_shapes import KEPT_SHAPES, RequestShape
from . import migrations
from .audit import LISTING_LIMIT, AuditRecord, AuditTrail
from .database import Backend, Clock, Database
from .errors import StoreConfigError, StoreUnavailable, StoreVersionError
from .grants import Grants
from .items import Items
from .kore_requests import KoreRequests
from .purge import Purge
from .records import (
    AuthorizationRow,
    CodeRecord,
    Health,
    HostedSession,
    ItemRecord,
    ItemStatus,
    LinkTokenGrant,
    RefreshRecord,
    RepairClaim,
    SessionClaim,
    StoreProblem,
)
from .repair_links import REPAIR_LINK_TTL_SECONDS, IssuedRepairLink, RepairLinks
from .resealing import (
    DEFAULT_BATCH,
    ResealCounts,
    reseal_all,
    scrub,
    seal_leftovers,
    seal_plain_rows,
)
from .sealed import Keyring
from .sessions import Sessions
from .spent_tokens import SpentPublicTokens
from .sqlite import waiting_at_most

__all__ = ["BridgeStore"]


SEALED_SINCE = 8  # the schema version from which the store's secrets are sealed


def _migrate(db: Database) -> tuple[int, int]:
    """Bring the store to the latest schema (a store of an older one gets its secrets sealed
    in the same transaction, and what they were cleared from disk); a store that cannot be
    prepared is closed and refused with one readable line."""
    backend = db.backend
    try:
        with backend.transaction() as tx:
            before, after = migrations.migrate(tx, backend.dialect, backend.describe(), db.now())
            sealed = seal_plain_rows(tx, db.keyring) if before < SEALED_SINCE <= after else 0
        if sealed:
            scrub(db, rebuild=True)
        return before, after
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


class BridgeStore:
    """The bridge's state on a :class:`Backend` (SQLite or PostgreSQL); thread-safe.
    ``clock``: seconds since the epoch (tests pass one they move); ``keyring``: the keys that
    seal its secrets (:func:`.key_file.store_keyring`). Closes itself at the end of a
    ``with`` block."""

    def __init__(self, backend: Backend, clock: Clock = time.time, *, keyring: Keyring) -> None:
        self.db = Database(backend, keyring, clock)
        self.schema_versions = _migrate(self.db)
        if self.schema_versions[1] >= SEALED_SINCE:
            self._seal_leftovers()
        self.sessions = Sessions(self.db)
        self.grants = Grants(self.db)
        self.spent_public_tokens = SpentPublicTokens(self.db)
        self.items = Items(self.db)
        self.repair_links = RepairLinks(self.db)
        self.kore_requests = KoreRequests(self.db)
        self.purge = Purge(self.db)
        self.audit = AuditTrail(self.db)

    @property
    def backend(self) -> Backend:
        return self.db.backend

    @backend.setter
    def backend(self, backend: Backend) -> None:
        self.db.backend = backend

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @property
    def dialect(self) -> str:
        return self.db.backend.dialect

    def describe(self) -> str:
        """Where the store is, without any password."""
        return self.db.backend.describe()

    def close(self) -> None:
        self.db.backend.close()

    def __enter__(self) -> BridgeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _seal_leftovers(self) -> None:
        """Seal what a bridge of schema 7 wrote since the migration (a rolling upgrade); a
        database busy now leaves them to the next start."""
        with contextlib.suppress(StoreUnavailable):
            if seal_leftovers(self.db):
                scrub(self.db, rebuild=True)

    def waiting_at_most(self, seconds: float) -> AbstractContextManager[None]:
        """Store calls made inside wait at most ``seconds`` (0: not at all) for a lock another
        request or program holds, then :class:`StoreUnavailable`: for calls on the event loop.
        SQLite only: PostgreSQL's row locks and pool keep their own timeouts."""
        if self.dialect == "sqlite":
            return waiting_at_most(seconds)
        return contextlib.nullcontext()

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers."""
        with self.db.read() as tx:
            tx.execute("SELECT 1").fetchall()

    # Sessions (see :class:`.sessions.Sessions`).

    def create_session(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        auth_query: str,
        ttl: float,
        link_tokens: int = 0,
        language: str | None = None,
    ) -> None:
        self.sessions.create(
            session_id, client_id, redirect_uri, auth_query, ttl, link_tokens, language
        )

    def count_link_token(self, session_id: str, limit: int) -> StoreProblem | None:
        return self.sessions.count_link_token(session_id, limit)

    def grant_link_token(self, session_id: str, limit: int) -> LinkTokenGrant:
        return self.sessions.grant_link_token(session_id, limit)

    def claim_session(self, session_id: str) -> SessionClaim:
        return self.sessions.claim(session_id)

    def release_session(self, session_id: str) -> None:
        self.sessions.release(session_id)

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
        language: str | None = None,
    ) -> None:
        self.sessions.create_hosted(
            session_id, client_id, redirect_uri, auth_query, ttl, link_token, return_id, salt,
            language,
        )  # fmt: skip

    def find_hosted_session(self, return_id: str) -> HostedSession | None:
        return self.sessions.find_hosted(return_id)

    def record_hosted_result(self, link_token: str, status: str, public_token: str | None) -> bool:
        return self.sessions.record_hosted_result(link_token, status, public_token)

    def close_claimed_session(self, session_id: str) -> None:
        self.sessions.close_claimed(session_id)

    def forget_hosted_public_token(self, return_id: str) -> None:
        self.sessions.forget_hosted_public_token(return_id)

    # Grants: the authorization, codes and refresh tokens (see :class:`.grants.Grants`).

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
        self.grants.save_authorization(
            session_id, item, code, client_id, redirect_uri, code_challenge,
            code_challenge_method, code_ttl, audit,
        )  # fmt: skip

    def find_code(self, code: str) -> CodeRecord | None:
        return self.grants.find_code(code)

    def redeem_code(self, code: str, refresh_token: str) -> bool:
        return self.grants.redeem_code(code, refresh_token)

    def redeem_code_of(
        self, code: str, client_id: str, refresh_token: str
    ) -> tuple[CodeRecord | None, bool]:
        return self.grants.redeem_code_of(code, client_id, refresh_token)

    def revoke_code_grant(self, code: str) -> int:
        return self.grants.revoke_code_grant(code)

    def find_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        return self.grants.find_refresh_token(refresh_token)

    def revoke_refresh_token(self, refresh_token: str) -> None:
        self.grants.revoke_refresh_token(refresh_token)

    def use_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        return self.grants.use_refresh_token(refresh_token)

    def refresh_token_item(self, refresh_token: str) -> int | None:
        return self.grants.item_of_refresh_token(refresh_token)

    def refresh_token_state(self, refresh_token: str) -> tuple[int, float | None] | None:
        return self.grants.refresh_token_state(refresh_token)

    # Public tokens whose exchange ended ambiguously (see :mod:`.spent_tokens`).

    def is_public_token_spent(self, public_token: str) -> bool:
        return self.spent_public_tokens.is_spent(public_token)

    def mark_public_token_spent(self, public_token: str) -> None:
        self.spent_public_tokens.mark_spent(public_token)

    # Items (see :class:`.items.Items`).

    def live_items(self) -> list[tuple[int, str]]:
        return self.items.live()

    def items_without_institution(self) -> list[tuple[int, str]]:
        return self.items.without_institution()

    def set_institution(self, item_ref: int, institution: str) -> None:
        self.items.set_institution(item_ref, institution)

    def mark_item_removed(self, item_ref: int) -> None:
        self.items.mark_removed(item_ref)

    def abandoned_items(self) -> list[tuple[int, str]]:
        return self.items.abandoned()

    def record_webhook(
        self,
        item_id: str,
        webhook: str,
        health: Health | None,
        detail: str | None,
        only_over: Health | None = None,
    ) -> bool:
        return self.items.record_webhook(item_id, webhook, health, detail, only_over)

    def record_item_health(self, access_token: str, health: Health, detail: str | None) -> bool:
        return self.items.record_health(access_token, health, detail)

    def replace_access_token(
        self, ref_or_item_ref: str | int, old_access_token: str, new_access_token: str
    ) -> bool:
        return self.items.replace_access_token(ref_or_item_ref, old_access_token, new_access_token)

    def mark_item_healthy(self, ref: str) -> bool:
        return self.items.mark_healthy(ref)

    def fill_missing_refs(self) -> int:
        return self.items.fill_missing_refs()

    def items_by_health(self) -> dict[str, int]:
        return self.items.count_by_health()

    def item_statuses(self) -> list[ItemStatus]:
        return self.items.statuses()

    def find_item(self, ref: str) -> ItemStatus | None:
        return self.items.find(ref)

    def authorizations(self) -> list[AuthorizationRow]:
        return self.items.authorizations()

    # Repair links (see :class:`.repair_links.RepairLinks`).

    def create_repair_link(self, ref: str, ttl: float = REPAIR_LINK_TTL_SECONDS) -> str | None:
        return self.repair_links.create(ref, ttl)

    def issue_repair_link(self, ref: str, replace: bool = False) -> IssuedRepairLink | None:
        return self.repair_links.issue(ref, replace=replace)

    def repair_links_by_state(self) -> dict[str, int]:
        return self.repair_links.count_by_state()

    def start_repair(self, token: str, limit: int) -> RepairClaim:
        return self.repair_links.start(token, limit)

    def complete_repair(self, token: str) -> RepairClaim:
        return self.repair_links.complete(token)

    def peek_repair_link(self, token: str) -> RepairClaim:
        return self.repair_links.peek(token)

    def record_repair_link_token(self, token: str, link_token: str) -> None:
        self.repair_links.record_link_token(token, link_token)

    def is_repair_link_token(self, token: str, link_token: str) -> bool:
        return self.repair_links.is_link_token(token, link_token)

    # The shapes of the requests Kore sends (see :class:`.kore_requests.KoreRequests`).

    def record_requests(self, shapes: Sequence[RequestShape]) -> None:
        self.kore_requests.record(shapes)

    def recent_requests(
        self, limit: int = KEPT_SHAPES, kore_only: bool = False
    ) -> list[RequestShape]:
        return self.kore_requests.recent(limit, kore_only)

    # Encryption at rest (see :mod:`.resealing`).

    def reseal(self, batch: int = DEFAULT_BATCH) -> ResealCounts:
        """Seal every stored secret under the current key (``kore-plaid keys rotate``), and
        clear the values it replaced from disk."""
        counts = reseal_all(self.db, batch)
        if counts.resealed:
            counts.scrubbed = scrub(self.db, rebuild=False)
        return counts

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are sealed with (never the key)."""
        return self.db.keyring.current.kid

    # Housekeeping (see :class:`.purge.Purge`).

    def purge_expired_repair_links(self) -> int:
        return self.purge.expired_repair_links()

    def purge_expired(self) -> dict[str, int]:
        return self.purge.expired()

    # The audit trail (see :mod:`.audit`; :func:`..audit.record_audit` fills in the request).

    def record_audit(self, record: AuditRecord) -> None:
        self.audit.record(record)

    def audit_since(self, at: float | None = None, limit: int = LISTING_LIMIT) -> list[AuditRecord]:
        return self.audit.since(at, limit)

    def purge_audit(self, keep_days: float) -> int:
        return self.audit.purge(keep_days)
