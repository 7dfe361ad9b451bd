"""Each end user's Item health, from Plaid's ``ITEM`` webhooks and from the errors Plaid
returns to the bridge's own calls with an Item's access token.

===============================================  ===========================
webhook (``webhook_type webhook_code``)          health
===============================================  ===========================
``ITEM ERROR``, error ITEM_LOGIN_REQUIRED        ``ITEM_LOGIN_REQUIRED``
``ITEM PENDING_EXPIRATION``                      ``PENDING_EXPIRATION``
``ITEM PENDING_DISCONNECT``                      ``PENDING_DISCONNECT``
``ITEM USER_PERMISSION_REVOKED``                 ``USER_PERMISSION_REVOKED``
``ITEM LOGIN_REPAIRED``                          ``healthy``
``ITEM NEW_ACCOUNTS_AVAILABLE``                  ``NEW_ACCOUNTS_AVAILABLE``
===============================================  ===========================

A Plaid error answering one of the bridge's own calls with an Item's access token:
ITEM_LOGIN_REQUIRED and USER_PERMISSION_REVOKED as above, and INVALID_ACCESS_TOKEN (Plaid no
longer accepts the token the store holds: rotated or removed elsewhere) -> health
``INVALID_ACCESS_TOKEN``, with a detail that says what to do.

Any other webhook only updates the Item's last webhook. NEW_ACCOUNTS_AVAILABLE does not
hide a state that needs the user. A webhook for an item_id the store does not hold changes
nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Final

from .store import BridgeStore, Health, StoreUnavailable
from .store import items as stored_items

HEALTHY: Final = stored_items.HEALTHY
LOGIN_REQUIRED: Final = "ITEM_LOGIN_REQUIRED"
PENDING_EXPIRATION: Final = "PENDING_EXPIRATION"
PENDING_DISCONNECT: Final = "PENDING_DISCONNECT"
PERMISSION_REVOKED: Final = "USER_PERMISSION_REVOKED"
NEW_ACCOUNTS: Final = "NEW_ACCOUNTS_AVAILABLE"
INVALID_TOKEN: Final = stored_items.INVALID_ACCESS_TOKEN
# The states the Item's user fixes through Link in update mode (a repair link).
NEEDS_REPAIR = (LOGIN_REQUIRED, PENDING_EXPIRATION, PENDING_DISCONNECT)

ITEM_WEBHOOKS: dict[str, Health] = {
    "PENDING_EXPIRATION": PENDING_EXPIRATION,
    "PENDING_DISCONNECT": PENDING_DISCONNECT,
    "USER_PERMISSION_REVOKED": PERMISSION_REVOKED,
    "LOGIN_REPAIRED": HEALTHY,
    "NEW_ACCOUNTS_AVAILABLE": NEW_ACCOUNTS,
}
# Plaid error codes (webhook ``ITEM ERROR`` or an answer to the bridge's call) -> health.
ITEM_ERRORS: dict[str, Health] = {
    "ITEM_LOGIN_REQUIRED": LOGIN_REQUIRED,
    "USER_PERMISSION_REVOKED": PERMISSION_REVOKED,
    "INVALID_ACCESS_TOKEN": INVALID_TOKEN,
}
# What to do, for a health a code alone does not explain (else the detail is the error code).
HEALTH_DETAILS: dict[Health, str] = {
    INVALID_TOKEN: "Plaid no longer accepts the access token the bridge holds (rotated or "
    "removed elsewhere). If `kore-plaid items --rotate ITEM_REF` did not finish, run it again; "
    "otherwise the user must authorize again in Kore.",
}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
DETAIL_LENGTH = 200


class MalformedWebhook(ValueError):
    """The (verified) body is not a Plaid webhook."""


@dataclass(frozen=True)
class Webhook:
    webhook_type: str
    webhook_code: str
    item_id: str | None
    error_code: str | None
    detail: str | None

    @property
    def label(self) -> str:
        return f"{self.webhook_type} {self.webhook_code}"


def parse_webhook(body: bytes) -> Webhook:
    """The fields the bridge uses from a webhook body, or :class:`MalformedWebhook`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedWebhook("The webhook body is not JSON.") from None
    if not isinstance(data, dict):
        raise MalformedWebhook("The webhook body is not a JSON object.")
    if not _storable(data):
        raise MalformedWebhook(
            "The webhook body holds text that is not UTF-8 (a lone surrogate) or a NUL character."
        )
    kind, code = data.get("webhook_type"), data.get("webhook_code")
    if not (isinstance(kind, str) and NAME.fullmatch(kind)):
        raise MalformedWebhook("The webhook has no webhook_type (a name such as ITEM).")
    if not (isinstance(code, str) and NAME.fullmatch(code)):
        raise MalformedWebhook("The webhook has no webhook_code (a name such as ERROR).")
    item_id = data.get("item_id")
    if item_id is not None and not isinstance(item_id, str):
        raise MalformedWebhook("The webhook's item_id is not a string.")
    error = data.get("error")
    error_code = error.get("error_code") if isinstance(error, dict) else None
    error_code = error_code if isinstance(error_code, str) else None
    detail = error_code or _text(data.get("consent_expiration_time")) or _text(data.get("reason"))
    return Webhook(kind, code, item_id or None, error_code, detail)


def _storable(data: object) -> bool:
    """Every key and text in ``data`` is UTF-8 without NUL, as SQLite and PostgreSQL store
    text (walked without recursion: the JSON may nest deeply)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _text(value: object) -> str | None:
    return value[:DETAIL_LENGTH] if isinstance(value, str) and value else None


def health_of(webhook: Webhook) -> Health | None:
    """The health a webhook puts its Item in; None: the webhook says nothing of it."""
    if webhook.webhook_type != "ITEM":
        return None
    if webhook.webhook_code == "ERROR":
        return ITEM_ERRORS.get(webhook.error_code or "")
    return ITEM_WEBHOOKS.get(webhook.webhook_code)


class ItemHealth:
    """Records what Plaid says of the store's Items."""

    def __init__(self, store: BridgeStore) -> None:
        self.store = store

    def apply(self, webhook: Webhook) -> bool:
        """Record a verified webhook; False when it names no Item the store holds."""
        if webhook.item_id is None:
            return False
        health = health_of(webhook)
        only_over: Health | None = (
            HEALTHY if health == NEW_ACCOUNTS else None
        )  # never hides a repair
        detail = webhook.detail if health not in (None, HEALTHY) else None
        return self.store.record_webhook(webhook.item_id, webhook.label, health, detail, only_over)

    def plaid_error(self, access_token: str, error_code: str) -> None:
        """A Plaid answer to one of the bridge's calls with this access token (see
        :class:`.plaid_link.PlaidLink`'s ``item_errors``). The health is a record for people:
        a store that cannot answer now leaves it for the next call."""
        health = ITEM_ERRORS.get(error_code)
        if health is None:
            return
        with contextlib.suppress(StoreUnavailable):
            self.store.record_item_health(
                access_token, health, HEALTH_DETAILS.get(health, error_code)
            )
