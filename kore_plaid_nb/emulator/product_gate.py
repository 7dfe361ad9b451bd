"""Product endpoints answer only for a product the Item's bank supports.

As Plaid does, an Item at a bank that lacks the product gets ``PRODUCTS_NOT_SUPPORTED``. A
product the bank has but the Item was not created with is added to the Item (and billed) by
its endpoint's first call, here, before the handler runs. Not Balance, which Plaid bills per
call and never lists in ``billed_products``; not Transactions, whose first call starts the
pull and answers "not ready" (``transactions.start_pull``).
"""

from __future__ import annotations

from . import data
from .core import Body, Emulator, Handler
from .errors import PlaidAPIError
from .store import Item

# path -> the product it serves
PRODUCT_OF_PATH = {
    "/accounts/balance/get": "balance",
    "/auth/get": "auth",
    "/identity/get": "identity",
    "/investments/holdings/get": "investments",
    "/investments/transactions/get": "investments",
    "/liabilities/get": "liabilities",
    "/transactions/get": "transactions",
    "/transactions/sync": "transactions",
    "/transactions/refresh": "transactions",
}
# the products the gate adds to an Item on their endpoint's first call
ADDED_BY_FIRST_CALL = frozenset({"auth", "identity", "investments", "liabilities"})


def check_product(emulator: Emulator, body: Body, product: str) -> Item:
    """The body's (healthy) Item; refuse ``product`` if its bank lacks it."""
    item = emulator.healthy_item(body)
    if not data.supports(item.institution_id, product):
        institution = data.institution(item.institution_id)
        bank = institution["name"] if institution else item.institution_id
        raise PlaidAPIError(
            "PRODUCTS_NOT_SUPPORTED",
            f"{bank} does not support {product}; link an Item at an institution whose "
            f"products (/institutions/get_by_id) include {product}",
        )
    return item


def gated(path: str, handler: Handler) -> Handler:
    """``handler``, refusing first the products the Item's bank lacks and adding to the Item
    the product ``path`` serves (if it serves one)."""
    product = PRODUCT_OF_PATH.get(path)
    if product is None:
        return handler

    def call(emulator: Emulator, body: Body) -> Body:
        item = check_product(emulator, body, product)
        if product in ADDED_BY_FIRST_CALL and product not in item.products:
            emulator.store.add_products(item.item_id, [product])
        return handler(emulator, body)

    return call
