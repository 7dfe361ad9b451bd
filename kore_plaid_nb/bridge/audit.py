"""The bridge's audit trail: one record per security event, in the store (so every replica
writes to the same trail), kept ``BRIDGE_AUDIT_DAYS`` (default 90) and printed by
``kore-plaid audit``.

A record holds the time, the event (:class:`AuditEvent`), the Item's public reference
(``itm_...``), the client's address and the request's id (:mod:`.request_ids`; outside a
request, ``local:<user>`` and no id) and a short reason; never a secret (no code, token,
session id, state or key). Events::

    authorization_granted    the end user authorized: an Item and its code were stored
                             (written in the same transaction)
    code_replayed            a code came back: the grant is revoked
    refresh_refused          a refresh token that is revoked or unknown, presented by
                             another client, or whose Item's Plaid token the configured
                             keys cannot open (503; nothing changed)
    access_token_rotated     ``kore-plaid items --rotate``
    item_repaired            a repair link finished (or the runbook marked the Item healthy)
    item_removed             an Item removed at Plaid
    webhook_refused          a webhook not verifiably Plaid's (the reason); at most
                             :data:`WEBHOOK_REFUSALS_PER_MINUTE` records a minute per
                             process, the rest counted in the next record
    encryption_key_rotated   ``kore-plaid keys rotate``

A code exchange that meets a wrong key records nothing: the code is read, not redeemed, so
nothing was decided (the same request succeeds once the key is set) and none of the events
above happened; the 503 and its reason are in the bridge's log.

Recording is synchronous and cheap: the events are rare, and the frequent one (an
authorization) is folded into the write it belongs to (:func:`audit_record`, passed to the
store). A request stores each record once (a SQLite refresh may be tried twice). A record
that cannot be stored costs one log line naming the event, never the request.
"""

from __future__ import annotations

import getpass
import logging
import threading
import time
import weakref
from collections.abc import Callable
from enum import StrEnum
from functools import partial

from .deferred_audit import audit_later
from .request_ids import current_request
from .store import BridgeStore, RefreshRecord, StoreKeyError, StoreUnavailable
from .store.audit import AuditRecord

__all__ = [
    "GRANTED",
    "AuditEvent",
    "AuditRecord",
    "RecordBudget",
    "audit_record",
    "record_audit",
    "record_refused_refresh",
    "record_webhook_refusal",
    "use_refresh_token",
]

log = logging.getLogger("kore_plaid_nb.bridge")
WEBHOOK_REFUSALS_PER_MINUTE = 30
KEY_NOT_CONFIGURED = "encryption key not configured"


class AuditEvent(StrEnum):
    AUTHORIZATION_GRANTED = "authorization_granted"
    CODE_REPLAYED = "code_replayed"
    REFRESH_REFUSED = "refresh_refused"
    ACCESS_TOKEN_ROTATED = "access_token_rotated"  # noqa: S105 - an event name  # nosec B105
    ITEM_REPAIRED = "item_repaired"
    ITEM_REMOVED = "item_removed"
    WEBHOOK_REFUSED = "webhook_refused"
    ENCRYPTION_KEY_ROTATED = "encryption_key_rotated"


def local_actor() -> str:
    """Who acts outside a request (a command, a notebook): ``local:<user>``."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local"


def audit_record(
    event: AuditEvent,
    at: float,
    item: str | int | None = None,
    detail: str | None = None,
) -> AuditRecord:
    """A record of ``event`` at ``at`` (the store's clock) for the current request (its id
    and client address), or for the local user outside a request. ``item``: the Item's
    public reference, or its row number in the store."""
    request = current_request()
    if request is None:
        return AuditRecord(at, event.value, item, local_actor(), None, detail)
    return AuditRecord(at, event.value, item, request.client, request.request_id, detail)


def record_audit(
    store: BridgeStore,
    event: AuditEvent,
    item: str | int | None = None,
    detail: str | None = None,
) -> None:
    """Store one record of ``event`` (see :func:`audit_record`) in a transaction of its own,
    once per request. Never raises for a store that cannot answer: the event is logged
    (without any secret)."""
    request = current_request()
    once = (event.value, item, detail)
    if request is not None and once in request.audited:
        return
    record = audit_record(event, store.clock(), item, detail)
    try:
        store.record_audit(record)
    except StoreUnavailable as exc:
        log.warning("audit record %s not stored: %s", event.value, exc.message)
        return
    if request is not None:
        request.audited.add(once)


GRANTED = AuditEvent.AUTHORIZATION_GRANTED


def record_refused_refresh(store: BridgeStore, refresh_token: str) -> None:
    """Record a refused refresh grant: its Item and why (revoked, or unknown). Reads only
    digests and row numbers: recorded under a wrong key too."""
    known = store.refresh_token_state(refresh_token)
    if known is None:
        record_audit(store, AuditEvent.REFRESH_REFUSED, None, "unknown refresh token")
        return
    item_ref, revoked_at = known
    why = "refresh token revoked" if revoked_at is not None else "refresh refused"
    record_audit(store, AuditEvent.REFRESH_REFUSED, item_ref, why)


def _record_key_refusal(store: BridgeStore, refresh_token: str) -> None:
    try:
        item = store.refresh_token_item(refresh_token)
    except StoreUnavailable:
        item = None
    record_audit(store, AuditEvent.REFRESH_REFUSED, item, KEY_NOT_CONFIGURED)


def use_refresh_token(store: BridgeStore, refresh_token: str) -> RefreshRecord | None:
    """:meth:`BridgeStore.use_refresh_token`; when the configured keys cannot open the Item's
    Plaid token (:class:`StoreKeyError`, a 503), the refusal is recorded (through
    :func:`.deferred_audit.audit_later`: not inside a no-wait store scope), then raised."""
    try:
        return store.use_refresh_token(refresh_token)
    except StoreKeyError:
        audit_later(partial(_record_key_refusal, store, refresh_token))
        raise


class RecordBudget:
    """At most ``per_minute`` records a minute; the ones beyond are counted. ``clock``:
    seconds (:func:`time.monotonic`, or a test's)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._window = float("-inf")
        self._used = 0
        self._skipped = 0

    def take(self) -> int | None:
        """None when over budget (counted); else how many were skipped before this one."""
        now = self.clock()
        with self._lock:
            if now - self._window >= 60.0:
                self._window, self._used = now, 0
            if self._used >= self.per_minute:
                self._skipped += 1
                return None
            self._used += 1
            skipped, self._skipped = self._skipped, 0
            return skipped


_webhook_budgets: weakref.WeakKeyDictionary[BridgeStore, RecordBudget] = weakref.WeakKeyDictionary()
_budgets_lock = threading.Lock()


def record_webhook_refusal(store: BridgeStore, reason: str) -> None:
    """Record a refused webhook and why (``reason``: a short code, never the JWT); anyone
    can send those, so at most :data:`WEBHOOK_REFUSALS_PER_MINUTE` a minute are stored one
    by one, and the next stored one counts the others."""
    with _budgets_lock:
        budget = _webhook_budgets.setdefault(store, RecordBudget(WEBHOOK_REFUSALS_PER_MINUTE))
    skipped = budget.take()
    if skipped is None:
        return
    detail = reason if not skipped else f"{reason} ({skipped} more refused before, not recorded)"
    record_audit(store, AuditEvent.WEBHOOK_REFUSED, detail=detail)
