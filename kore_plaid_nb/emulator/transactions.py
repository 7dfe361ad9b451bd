"""``/transactions/sync`` (with its opaque cursor), ``/transactions/get`` and
``/transactions/refresh``."""

from __future__ import annotations

import base64
import binascii
import json

from . import catalog, data, fields
from .core import Body, Emulator
from .responses import created_on, dated_page, item_json, selected_accounts
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


def transactions_sync(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    cursor = fields.text(body, "cursor", required=False) or ""
    count = fields.integer(body, "count", default=100, minimum=1, maximum=500)
    fields.obj(body, "options")
    emulator.store.add_products(item.item_id, ["transactions"])
    everything = data.transactions(item.item_id, created_on(item))
    position = min(decode_cursor(item, cursor), len(everything)) if cursor else 0
    page = everything[position : position + count]
    next_position = position + len(page)
    return {
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "accounts": data.accounts(item.item_id),
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
    emulator.store.add_products(item.item_id, ["transactions"])
    matching = [
        t
        for t in reversed(data.transactions(item.item_id, created_on(item)))  # newest first
        if t["account_id"] in ids and page.covers(t["date"])
    ]
    shown = matching[page.offset : page.offset + page.count]
    if original:
        shown = [{**t, "original_description": t["name"]} for t in shown]
    item = emulator.store.item(item.item_id) or item
    return {
        "accounts": accounts,
        "transactions": shown,
        "total_transactions": len(matching),
        "item": item_json(item),
    }


def transactions_refresh(emulator: Emulator, body: Body) -> Body:
    """Sandbox data is always fresh: nothing to fetch, but the Item must be healthy."""
    emulator.healthy_item(body)
    return {}
