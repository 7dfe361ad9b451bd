"""The values Plaid accepts for PLAID_PRODUCTS and PLAID_COUNTRY_CODES.

Source: plaid-python's ``Products`` and ``CountryCode`` enums (the version pinned in
requirements.txt; a test keeps these equal to them). Copied here because importing
plaid-python's models costs ~0.3 s, and every command loads its settings.
"""

from __future__ import annotations

PRODUCTS = frozenset(
    {
        "assets", "auth", "balance", "balance_plus", "beacon", "cra_base_report",
        "cra_cashflow_insights", "cra_home_lending", "cra_income_insights", "cra_lend_score",
        "cra_monitoring", "cra_network_insights", "cra_partner_insights",
        "cra_plaid_credit_score", "cra_qualify", "credit_details", "employment", "identity",
        "identity_match", "identity_verification", "income", "income_verification",
        "investments", "investments_auth", "layer", "liabilities", "pay_by_bank",
        "payment_initiation", "processor_identity", "processor_payments", "profile",
        "protect_linked_bank", "protect_transactions", "recurring_transactions", "signal",
        "standing_orders", "statements", "transactions", "transactions_refresh", "transfer",
    }
)  # fmt: skip
COUNTRY_CODES = frozenset(
    {"AT", "BE", "CA", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "IE", "IT", "LT", "LV", "NL",
     "NO", "PL", "PT", "SE", "US"}
)  # fmt: skip
