"""The Sandbox data the emulator serves: institutions and the ``user_good`` data set.

Values follow Plaid's recorded Sandbox responses for ``user_good`` / ``pass_good`` (see
FACTS.md). Ids that Plaid makes up per Item (account ids, transaction ids) are derived from
the Item id, so one Item always answers the same and two Items never share ids.
"""

from __future__ import annotations

from .bank_accounts import Account, accounts, auth_numbers, currency, owners
from .debts import liabilities
from .health import status
from .ids import account_id, derived_id
from .institutions import (
    BANKS,
    BRANDS,
    EU_COUNTRIES,
    INSTITUTION_IDS,
    KNOWN_PRODUCTS,
    OAUTH_INSTITUTIONS,
    PRODUCTS,
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
    Bank,
    Brand,
    Institution,
    country,
    institution,
    payment_initiation_metadata,
    supports,
)
from .ledger import CATEGORIES, TRANSACTION_MONTHS, Category, Transaction, categories, transactions
from .portfolio import (
    SECURITIES,
    Holding,
    InvestmentTransaction,
    holdings,
    investment_transactions,
    securities,
)

__all__ = [
    "BANKS",
    "BRANDS",
    "CATEGORIES",
    "EU_COUNTRIES",
    "INSTITUTION_IDS",
    "KNOWN_PRODUCTS",
    "OAUTH_INSTITUTIONS",
    "PRODUCTS",
    "SANDBOX_PASSWORD",
    "SANDBOX_USERNAME",
    "SECURITIES",
    "TRANSACTION_MONTHS",
    "Account",
    "Bank",
    "Brand",
    "Category",
    "Holding",
    "Institution",
    "InvestmentTransaction",
    "Transaction",
    "account_id",
    "accounts",
    "auth_numbers",
    "categories",
    "country",
    "currency",
    "derived_id",
    "holdings",
    "institution",
    "investment_transactions",
    "liabilities",
    "owners",
    "payment_initiation_metadata",
    "securities",
    "status",
    "supports",
    "transactions",
]
