"""The Sandbox institutions, the products they support and the Sandbox credentials."""

from __future__ import annotations

from typing import NamedTuple, TypedDict

PRODUCTS = ("auth", "transactions", "identity", "investments", "liabilities")
# Every product plaid-python 46's ``Products`` enum knows (a test keeps them equal)
KNOWN_PRODUCTS = frozenset(
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
SANDBOX_USERNAME = "user_good"
SANDBOX_PASSWORD = "pass_good"  # noqa: S105 - Plaid's public Sandbox password  # nosec B105

_ROUTING = {
    "ins_109508": ["011401533", "021200339", "052000113"],
    "ins_109509": ["011103093", "021300077"],
    "ins_109510": ["011000138", "011075150"],
    "ins_109511": ["021200025", "031101169"],
    "ins_109512": ["011000015", "011001234"],
    "ins_127287": ["011401533"],
    "ins_117650": [],
}
_NAMES = {
    "ins_109508": "First Platypus Bank",
    "ins_109509": "First Gingham Credit Union",
    "ins_109510": "Tattersall Federal Credit Union",
    "ins_109511": "Tartan Bank",
    "ins_109512": "Houndstooth Bank",
    "ins_127287": "Platypus OAuth Bank",
    "ins_117650": "Flexible Platypus Open Banking",
}
OAUTH_INSTITUTIONS = frozenset({"ins_127287", "ins_117650"})
INSTITUTION_IDS = tuple(_NAMES)
# What a US Sandbox bank supports (every product in the pinned spec's ``Products`` enum)
_US_PRODUCTS = (
    "assets", "auth", "balance", "credit_details", "employment", "identity", "identity_match",
    "income", "income_verification", "investments", "investments_auth", "liabilities",
    "processor_identity", "processor_payments", "recurring_transactions", "signal",
    "statements", "transactions", "transactions_refresh", "transfer",
)  # fmt: skip
# A UK open-banking bank: no investments or liabilities (PRODUCTS_NOT_SUPPORTED for those)
_GB_PRODUCTS = ("assets", "auth", "balance", "identity", "payment_initiation",
                "standing_orders", "transactions")  # fmt: skip
_COUNTRY = {"ins_117650": "GB"}


class Brand(NamedTuple):
    """An institution's optional metadata (only with ``options.include_optional_metadata``)."""

    url: str
    color: str  # primary_color, #rrggbb


BRANDS = {
    "ins_109508": Brand("https://www.firstplatypusbank.com", "#1f6fb2"),
    "ins_109509": Brand("https://www.firstginghamcu.org", "#b8322d"),
    "ins_109510": Brand("https://www.tattersallfcu.org", "#2e7d32"),
    "ins_109511": Brand("https://www.tartanbank.com", "#6a1b9a"),
    "ins_109512": Brand("https://www.houndstoothbank.com", "#004966"),
    "ins_127287": Brand("https://www.platypusoauthbank.com", "#00897b"),
    "ins_117650": Brand("https://www.flexibleplatypus.co.uk", "#f57c00"),
}


class Institution(TypedDict):
    """Plaid's ``Institution`` object."""

    institution_id: str
    name: str
    products: list[str]
    country_codes: list[str]
    url: str | None
    primary_color: str | None
    logo: str | None
    routing_numbers: list[str]
    dtc_numbers: list[str]
    oauth: bool
    status: None
    payment_initiation_metadata: None
    auth_metadata: None
    connection_availability: str


def institution(institution_id: str) -> Institution | None:
    """The ``Institution`` object of a Sandbox institution (no optional metadata: ``url``,
    ``logo`` and ``primary_color`` are null), or None when unknown."""
    name = _NAMES.get(institution_id)
    if name is None:
        return None
    country = _COUNTRY.get(institution_id, "US")
    return {
        "institution_id": institution_id,
        "name": name,
        "products": list(_US_PRODUCTS if country == "US" else _GB_PRODUCTS),
        "country_codes": [country],
        "url": None,
        "primary_color": None,
        "logo": None,
        "routing_numbers": list(_ROUTING[institution_id]),
        "dtc_numbers": [],
        "oauth": institution_id in OAUTH_INSTITUTIONS,
        "status": None,
        "payment_initiation_metadata": None,
        "auth_metadata": None,
        "connection_availability": "SUPPORTED",
    }
