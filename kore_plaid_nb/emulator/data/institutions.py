"""The Sandbox institutions, the products they support and the Sandbox credentials.

The US, CA and GB banks are the Sandbox-only institutions Plaid's docs list
(plaid.com/docs/sandbox/institutions), with their ids and names; their routing numbers, colours
and product lists are stand-ins. Plaid's Sandbox also serves every Production institution:
``ins_1`` (Bank of America, routing numbers from Plaid's API reference example for
``/institutions/get``) stands for those here. The ``ins_9901xx`` banks (one GB, five in the EU)
are the emulator's own, made up so the other countries have a bank each.
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

from ...settings.plaid_vocabulary import PRODUCTS as PLAID_PRODUCTS

PRODUCTS = ("auth", "transactions", "identity", "investments", "liabilities")
# Every product plaid-python 46's ``Products`` enum knows (a test keeps them equal)
KNOWN_PRODUCTS = PLAID_PRODUCTS  # what Plaid names a product (plaid-python's Products)
SANDBOX_USERNAME = "user_good"
SANDBOX_PASSWORD = "pass_good"  # noqa: S105 - Plaid's public Sandbox password  # nosec B105

# What a US Sandbox bank supports (every product in the pinned spec's ``Products`` enum)
_US_PRODUCTS = (
    "assets", "auth", "balance", "credit_details", "employment", "identity", "identity_match",
    "income", "income_verification", "investments", "investments_auth", "liabilities",
    "processor_identity", "processor_payments", "recurring_transactions", "signal",
    "statements", "transactions", "transactions_refresh", "transfer",
)  # fmt: skip
# A bank that only reports balances and transactions (no Instant Auth, no wealth products)
_US_BASIC_PRODUCTS = ("assets", "balance", "identity", "signal", "transactions")
# A UK open-banking bank (the products of ``ins_117650`` in the spec's /auth/get example)
_GB_PRODUCTS = ("assets", "auth", "balance", "identity", "payment_initiation", "transactions")
_EU_PRODUCTS = ("auth", "balance", "identity", "payment_initiation", "transactions")
_CA_PRODUCTS = ("assets", "auth", "balance", "identity", "transactions")
# Plaid's API reference example for /institutions/get (ins_1)
_BOFA_PRODUCTS = ("assets", "auth", "balance", "identity", "liabilities", "transactions")
_BOFA_ROUTING = (
    "011000138", "011200365", "011400495", "011500010", "011900254", "021000322", "021200339",
    "026009593", "031202084", "051000017", "052001633", "053000196", "053904483", "054001204",
    "061000052", "063100277", "064000020", "071214579", "072000805", "073000176", "081000032",
    "081904808", "082000073", "101100045", "103000017", "107000327", "111000025", "121000358",
    "122101706", "122400724", "123103716", "125000024", "323070380",
)  # fmt: skip
EU_COUNTRIES = frozenset({"ES", "FR", "NL", "DE", "IE"})


class Bank(NamedTuple):
    """One Sandbox institution."""

    institution_id: str
    name: str
    country: str
    products: tuple[str, ...]
    routing_numbers: tuple[str, ...]
    url: str
    color: str | None  # primary_color, #rrggbb (None: not known)
    oauth: bool = False
    health: str = "HEALTHY"  # its status: HEALTHY, DEGRADED or DOWN
    has_logo: bool = True


_BANKS = (
    Bank("ins_109508", "First Platypus Bank", "US", _US_PRODUCTS,
         ("011401533", "021200339", "052000113"), "https://www.firstplatypusbank.com", "#1f6fb2"),
    Bank("ins_109509", "First Gingham Credit Union", "US", _US_PRODUCTS,
         ("011103093", "021300077"), "https://www.firstginghamcu.org", "#b8322d"),
    Bank("ins_109510", "Tattersall Federal Credit Union", "US", _US_PRODUCTS,
         ("011000138", "011075150"), "https://www.tattersallfcu.org", "#2e7d32"),
    Bank("ins_109511", "Tartan Bank", "US", _US_PRODUCTS, ("021200025", "031101169"),
         "https://www.tartanbank.com", "#6a1b9a"),
    Bank("ins_109512", "Houndstooth Bank", "US", _US_PRODUCTS, ("011000015", "011001234"),
         "https://www.houndstoothbank.com", "#004966"),
    Bank("ins_127287", "Platypus OAuth Bank", "US", _US_PRODUCTS, ("011401533",),
         "https://www.platypusoauthbank.com", "#00897b", oauth=True),
    Bank("ins_130016", "First Platypus Balance Bank", "US", _US_BASIC_PRODUCTS, ("031300164",),
         "https://www.firstplatypusbalancebank.com", "#3949ab"),
    Bank("ins_132241", "First Platypus OAuth App2App Bank", "US", _US_PRODUCTS,
         ("021322411",), "https://www.firstplatypusapp2app.com", "#00695c", oauth=True),
    Bank("ins_135858", "Windowpane Bank", "US", _US_BASIC_PRODUCTS, ("333333334",),
         "https://www.windowpanebank.com", "#5d4037"),
    Bank("ins_132363", "Unhealthy Platypus Bank - Degraded", "US", _US_PRODUCTS,
         ("051323639",), "https://www.unhealthyplatypus.com", "#c62828", health="DEGRADED"),
    Bank("ins_132361", "Unhealthy Platypus Bank - Down", "US", _US_PRODUCTS, ("061323616",),
         "https://www.unhealthyplatypus.com", "#b71c1c", health="DOWN"),
    Bank("ins_133402", "Unsupported Platypus Bank - Institution Not Supported", "US",
         _US_BASIC_PRODUCTS, ("071334022",), "https://www.unsupportedplatypus.com", "#616161",
         has_logo=False),
    Bank("ins_133502", "Platypus Bank RUX Auth", "US", _US_PRODUCTS, ("081335024",),
         "https://www.platypusrux.com", "#ef6c00"),
    Bank("ins_133503", "Platypus Bank RUX Match", "US", _US_PRODUCTS, ("091335030",),
         "https://www.platypusrux.com", "#f9a825"),
    Bank("ins_1", "Bank of America", "US", _BOFA_PRODUCTS, _BOFA_ROUTING,
         "https://www.bankofamerica.com", None, has_logo=False),
    Bank("ins_117650", "Royal Bank of Plaid", "GB", _GB_PRODUCTS, (),
         "https://www.royalbankofplaid.co.uk", "#0d47a1", oauth=True),
    Bank("ins_116834", "Flexible Platypus Open Banking", "GB", _GB_PRODUCTS, (),
         "https://www.flexibleplatypus.co.uk", "#f57c00", oauth=True),
    # the same name again: Plaid's bank for testing OAuth QR code authentication
    Bank("ins_117181", "Flexible Platypus Open Banking", "GB", _GB_PRODUCTS, (),
         "https://www.flexibleplatypus.co.uk", "#ef6c00", oauth=True),
    Bank("ins_990106", "Platypus Building Society", "GB", _GB_PRODUCTS, (),
         "https://www.platypusbuildingsociety.co.uk", "#4e342e", oauth=True),
    Bank("ins_43", "Tartan-Dominion Bank of Canada", "CA", _CA_PRODUCTS, (),
         "https://www.tartandominion.ca", "#2e7d32"),
    Bank("ins_990101", "Banco Ornitorrinco", "ES", _EU_PRODUCTS, (),
         "https://www.bancoornitorrinco.es", "#d32f2f", oauth=True),
    Bank("ins_990102", "Banque Ornithorynque", "FR", _EU_PRODUCTS, (),
         "https://www.banqueornithorynque.fr", "#1565c0", oauth=True),
    Bank("ins_990103", "Vogelbekdier Bank", "NL", _EU_PRODUCTS, (),
         "https://www.vogelbekdierbank.nl", "#ff6f00", oauth=True),
    Bank("ins_990104", "Schnabeltier Bank", "DE", _EU_PRODUCTS, (),
         "https://www.schnabeltierbank.de", "#2e7d32", oauth=True),
    Bank("ins_990105", "Emerald Platypus Bank", "IE", _EU_PRODUCTS, (),
         "https://www.platypus.ie", "#006064", oauth=True),
)  # fmt: skip
BANKS = {bank.institution_id: bank for bank in _BANKS}
INSTITUTION_IDS = tuple(BANKS)
OAUTH_INSTITUTIONS = frozenset(b.institution_id for b in _BANKS if b.oauth)


class Brand(NamedTuple):
    """An institution's optional metadata (only with ``options.include_optional_metadata``)."""

    url: str
    color: str | None  # primary_color, #rrggbb
    has_logo: bool = True


BRANDS = {b.institution_id: Brand(b.url, b.color, b.has_logo) for b in _BANKS}


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
    status: dict[str, object] | None
    payment_initiation_metadata: dict[str, object] | None
    auth_metadata: None
    connection_availability: str


def country(institution_id: str) -> str:
    """The country of a Sandbox institution (US when unknown)."""
    bank = BANKS.get(institution_id)
    return bank.country if bank else "US"


def supports(institution_id: str, product: str) -> bool:
    bank = BANKS.get(institution_id)
    return bank is not None and product in bank.products


def institution(institution_id: str) -> Institution | None:
    """The ``Institution`` object of a Sandbox institution (no optional metadata: ``url``,
    ``logo`` and ``primary_color`` are null), or None when unknown."""
    bank = BANKS.get(institution_id)
    if bank is None:
        return None
    return {
        "institution_id": institution_id,
        "name": bank.name,
        "products": list(bank.products),
        "country_codes": [bank.country],
        "url": None,
        "primary_color": None,
        "logo": None,
        "routing_numbers": list(bank.routing_numbers),
        "dtc_numbers": [],
        "oauth": bank.oauth,
        "status": None,
        "payment_initiation_metadata": None,
        "auth_metadata": None,
        "connection_availability": "SUPPORTED",
    }


def payment_initiation_metadata(institution_id: str) -> dict[str, object] | None:
    """``PaymentInitiationMetadata`` of a bank with Payment Initiation (None otherwise):
    stand-in values in the spec's shape; GB banks take standing orders, EU banks SEPA Instant."""
    bank = BANKS.get(institution_id)
    if bank is None or "payment_initiation" not in bank.products:
        return None
    uk = bank.country == "GB"
    return {
        "supports_international_payments": False,
        "supports_sepa_instant": not uk,
        "maximum_payment_amount": {"GBP" if uk else "EUR": "2500000"},
        "supports_refund_details": uk,
        "standing_order_metadata": {
            "supports_standing_order_end_date": True,
            "supports_standing_order_negative_execution_days": False,
            "valid_standing_order_intervals": ["WEEKLY", "MONTHLY"],
        }
        if uk
        else None,
        "supports_payment_consents": uk,
        # not in the pinned spec (it takes additional properties); plaid-python 46 requires it
        "supports_commercial_payment_consents": False,
    }
