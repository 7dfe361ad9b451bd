"""The Plaid endpoints the emulator answers: path -> handler, in one table."""

from __future__ import annotations

from . import accounts, catalog, investments, items, link_tokens, sandbox, transactions
from . import webhook_endpoints as hooks
from .core import Body, Emulator, Handler, OriginHandler
from .product_gate import gated

# Plaid endpoints that take no client_id / secret (``security: []`` in Plaid's spec)
NO_CREDENTIALS = frozenset({"/categories/get"})

# every endpoint but /link/token/create, whose answer names the emulator's own URL
HANDLERS: dict[str, Handler] = {
    "/sandbox/public_token/create": sandbox.sandbox_public_token_create,
    "/item/public_token/exchange": items.item_public_token_exchange,
    "/item/get": items.item_get,
    "/item/remove": items.item_remove,
    "/accounts/get": accounts.accounts_get,
    "/accounts/balance/get": accounts.accounts_balance_get,
    "/auth/get": accounts.auth_get,
    "/transactions/sync": transactions.transactions_sync,
    "/identity/get": accounts.identity_get,
    "/investments/holdings/get": investments.investments_holdings_get,
    "/investments/transactions/get": investments.investments_transactions_get,
    "/liabilities/get": accounts.liabilities_get,
    "/institutions/get_by_id": catalog.institutions_get_by_id,
    "/institutions/get": catalog.institutions_get,
    "/institutions/search": catalog.institutions_search,
    "/categories/get": catalog.categories_get,
    "/transactions/get": transactions.transactions_get,
    "/transactions/refresh": transactions.transactions_refresh,
    "/item/access_token/invalidate": items.item_access_token_invalidate,
    "/sandbox/item/reset_login": sandbox.sandbox_item_reset_login,
    "/link/token/get": link_tokens.link_token_get,
    "/item/webhook/update": hooks.item_webhook_update,
    "/sandbox/item/fire_webhook": hooks.sandbox_item_fire_webhook,
    "/webhook_verification_key/get": hooks.webhook_verification_key_get,
}


def _without_origin(handler: Handler) -> OriginHandler:
    def call(emulator: Emulator, body: Body, origin: str) -> Body:
        return handler(emulator, body)

    return call


# what the app calls: ``ENDPOINTS[path](emulator, body, origin)``
ENDPOINTS: dict[str, OriginHandler] = {
    "/link/token/create": link_tokens.link_token_create,
    **{path: _without_origin(gated(path, handler)) for path, handler in HANDLERS.items()},
}
