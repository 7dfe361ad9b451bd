"""Rotating an Item's access token: Plaid's ``/item/access_token/invalidate`` answers with a
new token and, from then on, only that one works; the bridge stores it in the Item's row, and
Kore gets it with its next refresh (the grants read the token from the Item).

Plaid's answer cannot be asked for again, so storing it must not lose it: the conditional
write (:meth:`.BridgeStore.replace_access_token`) is retried while the database cannot
answer, then the new token is kept in a file only this user can read
(``$KORE_PLAID_HOME/pending_rotations/<item_ref>.json``) and the same command, run again,
stores it without calling Plaid. Access tokens are only ever shown masked.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path

from .. import plaid_client
from ..errors import RunbookError
from ..settings import Settings, mask
from .audit import AuditEvent, record_audit
from .item_health import INVALID_TOKEN, ItemHealth
from .store import BridgeStore, ItemStatus, StoreUnavailable, digest

PENDING_DIR = "pending_rotations"
ITEM_REF = re.compile(r"itm_[0-9a-f]{12}")
STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds between the attempts to store the new token
REAUTHORIZE = (
    "The end user must authorize again in Kore (a new Item); the old Item cannot be reached "
    "any more (Plaid's dashboard lists it)."
)


def rotate(settings: Settings, store: BridgeStore, ref: str, timeout: float = 30.0) -> None:
    """Rotate the live Item ``ref``'s access token at Plaid and store the new one (or finish
    a rotation whose new token could not be stored). :class:`RunbookError` says what happened
    and what to do when it cannot."""
    item = find_live_item(settings, store, ref)
    pending = pending_path(settings, ref)
    if pending.exists():
        _finish_pending(store, item, pending)
        record_audit(store, AuditEvent.ACCESS_TOKEN_ROTATED, item.ref, "kept new token stored")
        return
    try:
        new_token = plaid_client.invalidate_access_token(settings, item.access_token, timeout)
    except plaid_client.PLAID_FAILURES as exc:
        raise _plaid_failed(settings, store, item, exc) from None
    _store_new_token(store, item, new_token, pending)
    record_audit(store, AuditEvent.ACCESS_TOKEN_ROTATED, item.ref, "rotated at Plaid")


def find_live_item(settings: Settings, store: BridgeStore, ref: str) -> ItemStatus:
    item = store.find_item(ref)
    if item is not None:
        if item.removed_at is not None:
            raise RunbookError(
                f"Item {ref} was removed at Plaid: it has no access token to rotate.",
                fix="Nothing to rotate; its user authorizes again in Kore to connect a bank.",
            )
        return item
    # Echo only what looks like a reference: a pasted access token is never shown.
    named = f"No Item {ref!r}" if ITEM_REF.fullmatch(ref) else "No Item with the reference given"
    raise RunbookError(
        f"{named} in the bridge's store ({settings.bridge_store_shown}).",
        fix="Run `kore-plaid items` and copy the Item's reference (itm_ and 12 hex digits).",
    )


def pending_path(settings: Settings, ref: str) -> Path:
    return settings.home / PENDING_DIR / f"{ref}.json"


def _store_new_token(store: BridgeStore, item: ItemStatus, new_token: str, pending: Path) -> None:
    """Write the new token in place of the old one; retried while the database cannot answer
    (the write is conditional, so a retry after a lost answer changes nothing)."""
    failure = ""
    for delay in (0.0, *STORE_RETRY_DELAYS):
        time.sleep(delay)
        try:
            if store.replace_access_token(item.ref, item.access_token, new_token):
                return
            if _current_token(store, item.ref) == new_token:
                return  # an earlier attempt was written though its answer was lost
            failure = (
                "the store's row no longer held the token this rotation started from "
                "(changed by someone else meanwhile), so it was not overwritten"
            )
            break
        except StoreUnavailable as exc:
            failure = f"the store could not answer ({exc.message})"
    kept = _keep_pending(pending, item, new_token)
    where = (
        f"The new token is kept in {pending} (readable by this user only): run "
        f"`kore-plaid items --rotate {item.ref}` again on this machine to store it."
        if kept
        else f"It could not be kept either, so it is lost. {REAUTHORIZE}"
    )
    raise RunbookError(
        f"Plaid rotated the access token of Item {item.ref}: the old one "
        f"({mask(item.access_token)}) no longer works, only the new one "
        f"({mask(new_token)}) does; but storing the new one failed: {failure}. Until it is "
        "stored, Kore's calls for this Item fail with INVALID_ACCESS_TOKEN.",
        fix=where,
    )


def _current_token(store: BridgeStore, ref: str) -> str | None:
    with contextlib.suppress(StoreUnavailable):
        item = store.find_item(ref)
        return None if item is None else item.access_token
    return None


def _keep_pending(pending: Path, item: ItemStatus, new_token: str) -> bool:
    record = {
        "item_ref": item.ref,
        "old_access_token_sha256": digest(item.access_token),
        "new_access_token": new_token,
        "rotated_at": time.time(),
    }
    try:
        pending.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
    except OSError:
        return False
    return True


def _finish_pending(store: BridgeStore, item: ItemStatus, pending: Path) -> None:
    """Store the new token an earlier rotation kept, without calling Plaid again."""
    try:
        record = json.loads(pending.read_text())
        new_token = str(record["new_access_token"])
        started_from = str(record["old_access_token_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        raise RunbookError(
            f"The unfinished rotation of Item {item.ref} kept in {pending} cannot be read.",
            fix=f"Restore that file if you can; otherwise remove it. {REAUTHORIZE}",
        ) from None
    if item.access_token != new_token:
        if digest(item.access_token) != started_from:
            raise RunbookError(
                f"The unfinished rotation of Item {item.ref} kept in {pending} started from "
                "another access token than the one the store holds now: it was not applied.",
                fix="If the store was restored or edited by hand, remove that file and run "
                "`kore-plaid items` (a health of INVALID_ACCESS_TOKEN means the store's token "
                f"no longer works); otherwise keep it and ask for help. {REAUTHORIZE}",
            )
        if not store.replace_access_token(item.ref, item.access_token, new_token):
            raise RunbookError(
                f"Another change of Item {item.ref} came first; its unfinished rotation is "
                f"still kept in {pending}.",
                fix=f"Run `kore-plaid items --rotate {item.ref}` again.",
            )
    pending.unlink()


def _plaid_failed(
    settings: Settings, store: BridgeStore, item: ItemStatus, exc: BaseException
) -> RunbookError:
    """What a failed ``/item/access_token/invalidate`` means for the Item."""
    error = plaid_client.error_from_exception(exc)
    health = ItemHealth(store)
    if error.error_code == INVALID_TOKEN:
        if _current_token(store, item.ref) not in (None, item.access_token):
            return RunbookError(
                f"Another rotation of Item {item.ref} came first: the store holds its new "
                "access token, so this one changed nothing.",
                fix="Nothing to do; `kore-plaid items` shows the Item.",
            )
        if pending_path(settings, item.ref).exists():
            return RunbookError(
                f"Another rotation of Item {item.ref} came first and kept its new access "
                f"token in {pending_path(settings, item.ref)}.",
                fix=f"Run `kore-plaid items --rotate {item.ref}` again to store it.",
            )
        health.plaid_error(item.access_token, error.error_code)
        return RunbookError(
            f"Plaid no longer accepts the access token the bridge holds for Item {item.ref} "
            "(rotated or removed elsewhere), so it cannot be rotated.",
            fix=REAUTHORIZE,
        )
    if error.status == 0 or error.status >= 500:
        # Plaid may have rotated before its answer was lost: the old token tells.
        what, fix = _after_lost_answer(settings, health, item, timeout=10.0)
        return RunbookError(
            f"Plaid's answer to the rotation of Item {item.ref} was lost ({error}). {what}",
            fix=fix,
        )
    failure = plaid_client.explain(error, plaid_client.api_host(settings))
    failure.message = f"Rotating the access token of Item {item.ref} failed: {failure.message}"
    return failure


def _after_lost_answer(
    settings: Settings, health: ItemHealth, item: ItemStatus, timeout: float
) -> tuple[str, str]:
    """(what happened, what to do), from Plaid's ``/item/get`` with the old token."""
    again = f"Run `kore-plaid items --rotate {item.ref}` again"
    try:
        plaid_client.call_json(
            plaid_client.create(settings, timeout),
            "item_get",
            {"access_token": item.access_token},
            timeout,
        )
    except plaid_client.PLAID_FAILURES as exc:
        code = plaid_client.error_from_exception(exc).error_code
        if code == INVALID_TOKEN:
            health.plaid_error(item.access_token, code)
            return "Plaid did rotate it: the old token no longer works and the new one is lost.", (
                REAUTHORIZE
            )
        return "Whether Plaid rotated it is not known yet.", (
            f"{again} once Plaid answers; if Plaid then reports INVALID_ACCESS_TOKEN, the token "
            f"was rotated and the new one is lost. {REAUTHORIZE}"
        )
    return "Plaid did not rotate it: the old token still works.", f"{again}."
