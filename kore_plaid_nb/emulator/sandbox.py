"""The ``/sandbox/*`` endpoints that make and break Items without Link."""

from __future__ import annotations

from . import data, fields, transactions, webhooks
from .core import Body, Emulator


def sandbox_public_token_create(emulator: Emulator, body: Body) -> Body:
    institution_id = fields.text(body, "institution_id") or ""
    products = fields.strings(body, "initial_products", allowed=data.KNOWN_PRODUCTS) or []
    options = fields.obj(body, "options")
    username = fields.text(options, "override_username", required=False) or data.SANDBOX_USERNAME
    password = fields.text(options, "override_password", required=False) or data.SANDBOX_PASSWORD
    webhook = fields.text(options, "webhook", required=False)
    item = emulator.login(institution_id, products, username, password, webhook)
    transactions.item_created(emulator, item)
    return {"public_token": emulator.store.create_public_token(item.item_id)}


def sandbox_item_reset_login(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    emulator.store.set_item_error(item.item_id, "ITEM_LOGIN_REQUIRED")
    emulator.item_webhook(item, "ERROR", error=webhooks.error_object("ITEM_LOGIN_REQUIRED"))
    return {"reset_login": True}
