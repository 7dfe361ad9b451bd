"""The endpoints about webhooks: ``/item/webhook/update``, ``/sandbox/item/fire_webhook`` and
``/webhook_verification_key/get`` (the public key a receiver checks signatures with)."""

from __future__ import annotations

from . import fields, webhooks
from .core import Body, Emulator
from .errors import PlaidAPIError
from .responses import item_json

WEBHOOK_TYPES = frozenset({"AUTH", "HOLDINGS", "INVESTMENTS_TRANSACTIONS", "ITEM", "LIABILITIES",
                           "TRANSACTIONS", "ASSETS", "IDENTITY"})  # fmt: skip


def item_webhook_update(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    webhook = fields.text(body, "webhook", required=False)
    if webhook is not None and not webhooks.valid_webhook_url(webhook):
        raise fields.invalid("webhook", "must be an http or https URL")
    emulator.store.set_item_webhook(item.item_id, webhook or None)
    item = emulator.store.item(item.item_id) or item
    if webhook:
        emulator.item_webhook(item, "WEBHOOK_UPDATE_ACKNOWLEDGED", error=None,
                              new_webhook_url=webhook)  # fmt: skip
    return {"item": item_json(item)}


def sandbox_item_fire_webhook(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    code = fields.text(body, "webhook_code") or ""
    kind = fields.text(body, "webhook_type", required=False)
    allowed = {"DEFAULT_UPDATE", *webhooks.FIRE_TYPES, *webhooks.NOT_EMULATED}
    if code not in allowed:
        raise fields.invalid("webhook_code", f"must be one of {', '.join(sorted(allowed))}")
    if kind is not None and kind not in WEBHOOK_TYPES:
        raise fields.invalid("webhook_type", f"must be one of {', '.join(sorted(WEBHOOK_TYPES))}")
    if not item.webhook or not webhooks.valid_webhook_url(item.webhook):
        raise PlaidAPIError(
            "SANDBOX_WEBHOOK_INVALID",
            "Webhook for this item is either empty or has been malformed: set one with "
            "/item/webhook/update",
        )
    emulator.webhooks.send(item.webhook, webhooks.fire_body(item, code, kind))
    return {"webhook_fired": True}


def webhook_verification_key_get(emulator: Emulator, body: Body) -> Body:
    key_id = fields.text(body, "key_id") or ""
    key = emulator.webhooks.jwk(key_id)
    if key is None:
        raise PlaidAPIError("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    return {"key": key}
