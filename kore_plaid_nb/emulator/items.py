"""The ``/item/*`` endpoints: exchanging a public token, reading, removing an Item and
rotating its access token."""

from __future__ import annotations

from . import fields
from .core import Body, Emulator
from .errors import PlaidAPIError
from .responses import item_json
from .store import ENVIRONMENT


def item_public_token_exchange(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "public_token") or ""
    if not token.startswith(f"public-{ENVIRONMENT}-"):
        raise PlaidAPIError("INVALID_PUBLIC_TOKEN")
    status, item = emulator.store.redeem_public_token(token)
    if status == "used":
        raise PlaidAPIError(
            "INVALID_PUBLIC_TOKEN", "provided public token has already been exchanged"
        )
    if status == "expired":
        raise PlaidAPIError(
            "INVALID_PUBLIC_TOKEN",
            "provided public token is expired. Public tokens expire 30 minutes after creation "
            "at which point they can no longer be exchanged",
        )
    if item is None or item.removed:
        raise PlaidAPIError("INVALID_PUBLIC_TOKEN", "provided public token is not known")
    return {"access_token": item.access_token, "item_id": item.item_id}


def item_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    return {"item": item_json(item)}


def item_remove(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "access_token") or ""
    removed = emulator.store.item_by_access_token(token)
    if removed is not None and removed.removed:
        raise PlaidAPIError(
            "ITEM_NOT_FOUND",
            "the requested item was not found: this Item was already removed with /item/remove",
        )
    item = emulator.item(body)
    emulator.store.remove_item(item.item_id)
    return {}


def item_access_token_invalidate(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    return {"new_access_token": emulator.store.rotate_access_token(item.item_id)}
