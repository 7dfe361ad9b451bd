"""What every Plaid endpoint of the emulator shares: the :class:`Emulator` a handler is given,
the ``Body`` it reads and answers, and the handler types.

A handler takes the parsed JSON body and returns the response (without ``request_id``, which
the app adds) or raises :class:`PlaidAPIError`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ..settings import Settings
from . import data, fields, webhooks
from .errors import PlaidAPIError
from .store import ENVIRONMENT, Item, Store

Body = dict[str, object]
Handler = Callable[["Emulator", Body], Body]
# a handler whose answer names the emulator itself: it also gets the request's origin
# (scheme://host:port, as the client reached the emulator)
OriginHandler = Callable[["Emulator", Body, str], Body]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Emulator:
    """What every handler needs: the settings, the store, the allowed redirect URIs and the
    webhook sender."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        allowed_redirect_uris: tuple[str, ...],
        webhook_sender: webhooks.WebhookSender | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.allowed_redirect_uris = allowed_redirect_uris
        self.webhooks = webhook_sender or webhooks.WebhookSender(store)

    def item_webhook(self, item: Item, webhook_code: str, **extra: object) -> bool:
        """Send an ITEM webhook to the Item's webhook URL (if it has one), in the background."""
        body = webhooks.item_webhook(item.item_id, webhook_code, "ITEM", **extra)
        return self.webhooks.send(item.webhook, body)

    # ------------------------------------------------------------------ shared steps

    def redirect_uri_allowed(self, uri: str) -> bool:
        """The emulator's "Allowed redirect URIs" (Plaid dashboard): the configured ones, and
        any http(s) URL on this machine (loopback), as Plaid's Sandbox allows localhost."""
        if uri in self.allowed_redirect_uris:
            return True
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS

    def login(
        self,
        institution_id: str,
        products: list[str],
        username: str | None,
        password: str | None,
        webhook: str | None = None,
    ) -> Item:
        """Check the institution, products and Sandbox credentials; create an Item."""
        institution = data.institution(institution_id)
        if institution is None:
            raise PlaidAPIError("INVALID_INSTITUTION")
        unsupported = [p for p in products if p not in institution["products"]]
        if unsupported:
            raise PlaidAPIError(
                "PRODUCTS_NOT_SUPPORTED",
                f"{institution['name']} does not support: {', '.join(unsupported)}",
            )
        check_credentials(username, password)
        return self.store.create_item(institution_id, products, webhook)

    def item(self, body: Body) -> Item:
        """The Item of the body's ``access_token`` (any state but removed)."""
        token = fields.text(body, "access_token") or ""
        if not token.startswith(f"access-{ENVIRONMENT}-"):
            raise PlaidAPIError("INVALID_ACCESS_TOKEN")
        item = self.store.item_by_access_token(token)
        if item is None:
            raise PlaidAPIError(
                "INVALID_ACCESS_TOKEN", "provided access token does not match any Item"
            )
        if item.removed:
            raise PlaidAPIError("INVALID_ACCESS_TOKEN", "the Item of this access token was removed")
        return item

    def healthy_item(self, body: Body) -> Item:
        """Like :meth:`item`, but an Item in an error state fails with that error."""
        item = self.item(body)
        if item.error_code:
            raise PlaidAPIError(item.error_code)
        return item


def check_credentials(username: str | None, password: str | None) -> None:
    """Sandbox logins: any username with ``pass_good``; ``error_<CODE>`` fails with CODE."""
    password = password or ""
    if password.startswith("error_") and len(password) > len("error_"):
        raise PlaidAPIError(password[len("error_") :])
    if not username or password != data.SANDBOX_PASSWORD:
        raise PlaidAPIError("INVALID_CREDENTIALS")
