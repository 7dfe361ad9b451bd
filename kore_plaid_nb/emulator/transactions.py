"""``/transactions/sync`` (with its opaque cursor), ``/transactions/get`` and
``/transactions/refresh``, and the ``TRANSACTIONS`` webhooks Plaid sends about them.

As Plaid: an Item with ``transactions`` hears INITIAL_UPDATE (the last 30 days) then
HISTORICAL_UPDATE (the rest) once created, or once ``/transactions/sync`` or
``/transactions/get`` adds the product (that first call finds no data yet). Once
``/transactions/sync`` was called for an Item, new data also fires SYNC_UPDATES_AVAILABLE."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta

from . import catalog, data, fields, webhooks
from .core import Body, Emulator
from .errors import PlaidAPIError
from .responses import (
    created_on,
    dated_page,
    item_accounts,
    item_json,
    item_transactions,
    selected_accounts,
)
from .store import Item


def encode_cursor(item: Item, position: int) -> str:
    raw = json.dumps({"v": 1, "i": item.item_id[:12], "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(item: Item, cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = decoded["p"]
        if decoded["i"] != item.item_id[:12] or not isinstance(position, int) or position < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise fields.invalid(
            "cursor", "is not a cursor returned by /transactions/sync for this Item"
        ) from None
    return position


INITIAL_PULL_DAYS = 30
FIRST_PULL_SECONDS = 1.0  # from Link to INITIAL_UPDATE (the emulator's; Plaid takes longer)


def pull_counts(item: Item) -> tuple[int, int]:
    """``new_transactions`` of INITIAL_UPDATE (the last 30 days) and HISTORICAL_UPDATE (the
    older ones, which it makes available)."""
    created = created_on(item)
    since = (created - timedelta(days=INITIAL_PULL_DAYS)).isoformat()
    everything = data.transactions(item.item_id, created)
    initial = sum(1 for t in everything if str(t["date"]) > since)
    return initial, len(everything) - initial


def announce_pull(emulator: Emulator, item: Item) -> None:
    """Plaid's first pull of an Item's transactions, told to its webhook: INITIAL_UPDATE then
    HISTORICAL_UPDATE, each followed by SYNC_UPDATES_AVAILABLE once /transactions/sync was
    called for the Item."""
    if not item.webhook:
        return
    initial, historical = pull_counts(item)
    synced = emulator.store.synced(item.item_id)
    bodies: list[Body] = []
    for code, count in (("INITIAL_UPDATE", initial), ("HISTORICAL_UPDATE", historical)):
        bodies.append(
            webhooks.transactions_webhook(item.item_id, code, error=None, new_transactions=count)
        )
        if synced:
            bodies.append(webhooks.sync_updates_available(
                item.item_id, historical_update_complete=code == "HISTORICAL_UPDATE"))  # fmt: skip
    # Plaid pulls for seconds or more after Link: the app has exchanged the public token and
    # stored its Item by then (sent at once, they could reach it before it knows the Item)
    emulator.webhooks.send_later(item.webhook, bodies, FIRST_PULL_SECONDS)


def item_created(emulator: Emulator, item: Item) -> None:
    """What a new Item (Link or /sandbox/public_token/create) hears about its transactions."""
    if "transactions" in item.products:
        announce_pull(emulator, item)


def start_pull(emulator: Emulator, item: Item) -> bool:
    """/transactions/sync or /transactions/get called on an Item without the product: Plaid
    adds it and starts the pull, and that first call finds nothing ready yet (the pull's
    webhooks follow; later calls get the data). True if the pull started now."""
    if "transactions" in item.products:
        return False
    emulator.store.add_products(item.item_id, ["transactions"])
    announce_pull(emulator, emulator.store.item(item.item_id) or item)
    return True


def transactions_sync(emulator: Emulator, body: Body) -> Body:
    """Before the first pull: no data, ``NOT_READY`` and an empty cursor (the spec's "if
    transactions are not yet available, this will be an empty string")."""
    item = emulator.healthy_item(body)
    cursor = fields.text(body, "cursor", required=False) or ""
    count = fields.integer(body, "count", default=100, minimum=1, maximum=500)
    fields.obj(body, "options")
    position = decode_cursor(item, cursor) if cursor else 0
    emulator.store.mark_synced(item.item_id)
    if start_pull(emulator, item):
        return {"transactions_update_status": "NOT_READY", "accounts": [], "added": [],
                "modified": [], "removed": [], "next_cursor": "", "has_more": False}  # fmt: skip
    everything = item_transactions(item)
    position = min(position, len(everything))
    page = everything[position : position + count]
    next_position = position + len(page)
    return {
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "accounts": item_accounts(item),
        "added": page,
        "modified": [],
        "removed": [],
        "next_cursor": encode_cursor(item, next_position),
        "has_more": next_position < len(everything),
    }


def transactions_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    page = dated_page(body)
    fields.integer(page.options, "days_requested", default=90, minimum=1, maximum=730)
    original = catalog.flag(page.options, "include_original_description")
    accounts = selected_accounts(item, body)
    ids = {a["account_id"] for a in accounts}
    if start_pull(emulator, item):
        raise PlaidAPIError(
            "PRODUCT_NOT_READY",
            "the transactions of this Item are being pulled now; wait for its INITIAL_UPDATE "
            "webhook, or call /transactions/get again",
        )
    matching = [
        t
        for t in reversed(item_transactions(item))  # newest first
        if t["account_id"] in ids and page.covers(t["date"])
    ]
    shown = matching[page.offset : page.offset + page.count]
    if original:
        shown = [{**t, "original_description": t["name"]} for t in shown]
    return {
        "accounts": accounts,
        "transactions": shown,
        "total_transactions": len(matching),
        "item": item_json(item),
    }


def transactions_refresh(emulator: Emulator, body: Body) -> Body:
    """An on-demand update of an Item that has Transactions (Plaid: "The Item must already
    have Transactions added as a product"; refused with PRODUCTS_NOT_SUPPORTED, the closest
    documented code, as Plaid's docs name none). Plaid fires DEFAULT_UPDATE or
    SYNC_UPDATES_AVAILABLE only if the refresh finds changes; the ``user_good`` data is fixed,
    so it finds none and fires nothing."""
    item = emulator.healthy_item(body)
    if "transactions" not in item.products:
        raise PlaidAPIError(
            "PRODUCTS_NOT_SUPPORTED",
            "/transactions/refresh needs an Item with transactions: call /transactions/sync "
            "(or /transactions/get) for it first, or link it with transactions",
        )
    return {}
