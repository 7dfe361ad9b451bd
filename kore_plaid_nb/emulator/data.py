"""The Sandbox data the emulator serves: institutions and the ``user_good`` data set.

Values follow Plaid's recorded Sandbox responses for ``user_good`` / ``pass_good`` (see
FACTS.md). Ids that Plaid makes up per Item (account ids, transaction ids) are derived from
the Item id, so one Item always answers the same and two Items never share ids.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from functools import lru_cache

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

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=65536)
def derived_id(*parts: str, length: int = 37) -> str:
    """A stable Plaid-looking id (base62) derived from ``parts``."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, rest = divmod(digest, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


# ---------------------------------------------------------------------------- institutions

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
# (homepage, brand colour): returned only with options.include_optional_metadata
BRANDS = {
    "ins_109508": ("https://www.firstplatypusbank.com", "#1f6fb2"),
    "ins_109509": ("https://www.firstginghamcu.org", "#b8322d"),
    "ins_109510": ("https://www.tattersallfcu.org", "#2e7d32"),
    "ins_109511": ("https://www.tartanbank.com", "#6a1b9a"),
    "ins_109512": ("https://www.houndstoothbank.com", "#004966"),
    "ins_127287": ("https://www.platypusoauthbank.com", "#00897b"),
    "ins_117650": ("https://www.flexibleplatypus.co.uk", "#f57c00"),
}


def institution(institution_id: str) -> dict[str, object] | None:
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


# ---------------------------------------------------------------------------- accounts

# (mask, name, official_name, type, subtype, available, current, limit)
_ACCOUNTS = (
    ("0000", "Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "depository",
     "checking", 100.0, 110.0, None),
    ("1111", "Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "depository",
     "savings", 200.0, 210.0, None),
    ("2222", "Plaid CD", "Plaid Bronze Standard 0.2% Interest CD", "depository", "cd",
     None, 1000.0, None),
    ("3333", "Plaid Credit Card", "Plaid Diamond 12.5% APR Interest Credit Card", "credit",
     "credit card", None, 410.0, 2000.0),
    ("4444", "Plaid Money Market", "Plaid Platinum Standard 1.85% Interest Money Market",
     "depository", "money market", 43200.0, 43200.0, None),
    ("5555", "Plaid IRA", None, "investment", "ira", None, 320.76, None),
    ("6666", "Plaid 401k", None, "investment", "401k", None, 23631.9805, None),
    ("7777", "Plaid Student Loan", None, "loan", "student", None, 65262.0, None),
    ("8888", "Plaid Mortgage", None, "loan", "mortgage", None, 56302.06, None),
)  # fmt: skip


def account_id(item_id: str, mask: str) -> str:
    return derived_id("account", item_id, mask)


def accounts(item_id: str) -> list[dict[str, object]]:
    """The ``AccountBase`` objects of a user_good Item."""
    result = []
    for mask, name, official, type_, subtype, available, current, limit in _ACCOUNTS:
        balances: dict[str, object] = {
            "available": available,
            "current": current,
            "limit": limit,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
        }
        if type_ == "investment":
            balances["margin_loan_amount"] = None
        result.append(
            {
                "account_id": account_id(item_id, mask),
                "balances": balances,
                "mask": mask,
                "name": name,
                "official_name": official,
                "type": type_,
                "subtype": subtype,
                "persistent_account_id": derived_id("persistent", item_id, mask, length=64),
                "holder_category": "personal",
            }
        )
    return result


def auth_numbers(item_id: str) -> dict[str, list[dict[str, object]]]:
    """``AuthGetNumbers`` for the checking (0000) and saving (1111) accounts."""
    ach = [
        {
            "account_id": account_id(item_id, mask),
            "account": f"111122223333{mask}",
            "routing": "011401533",
            "wire_routing": "021000021",
        }
        for mask in ("0000", "1111")
    ]
    return {"ach": ach, "eft": [], "international": [], "bacs": []}


def owners() -> list[dict[str, object]]:
    """The identity owner shared by every user_good account."""
    return [
        {
            "names": ["Alberta Bobbeth Charleson"],
            "phone_numbers": [
                {"data": "+1 111-555-3333", "primary": False, "type": "home"},
                {"data": "+1 111-555-4444", "primary": False, "type": "work"},
                {"data": "+1 111-555-5555", "primary": False, "type": "mobile"},
            ],
            "emails": [
                {"data": "accountholder0@example.com", "primary": True, "type": "primary"},
                {"data": "accountholder1@example.com", "primary": False, "type": "secondary"},
                {
                    "data": "extraordinarily.long.email.username.123456@reallylonghostname.com",
                    "primary": False,
                    "type": "other",
                },
            ],
            "addresses": [
                {
                    "data": {
                        "city": "Malakoff",
                        "country": "US",
                        "postal_code": "14236",
                        "region": "NY",
                        "street": "2992 Cameron Road",
                    },
                    "primary": True,
                },
                {
                    "data": {
                        "city": "San Matias",
                        "country": "US",
                        "postal_code": "93405-2255",
                        "region": "CA",
                        "street": "2493 Leisure Lane",
                    },
                    "primary": False,
                },
            ],
        }
    ]


# ---------------------------------------------------------------------------- investments


def _security(
    key: str,
    name: str,
    ticker: str | None,
    type_: str,
    close_price: float,
    *,
    cusip: str | None = None,
    isin: str | None = None,
    cash: bool = False,
    subtype: str | None = None,
    fixed_income: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "security_id": derived_id("security", key),
        "isin": isin,
        "cusip": cusip,
        "sedol": None,
        "institution_security_id": None,
        "institution_id": None,
        "proxy_security_id": None,
        "name": name,
        "ticker_symbol": ticker,
        "is_cash_equivalent": cash,
        "type": type_,
        "subtype": subtype,
        "close_price": close_price,
        "close_price_as_of": None if cash else "2024-05-31",
        "update_datetime": None,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
        "market_identifier_code": None if cash or fixed_income else "XNAS",
        "sector": None,
        "industry": None,
        "cfi_code": None,
        "figi": None,
        "option_contract": None,
        "fixed_income": fixed_income,
    }


SECURITIES = (
    _security("USD", "U S Dollar", "CUR:USD", "cash", 1.0, cash=True, subtype="cash"),
    _security(
        "EWZ", "iShares Inc MSCI Brazil", "EWZ", "etf", 55.0, cusip="464286400",
        isin="US4642864007", subtype="etf",
    ),
    _security(
        "DBLTX", "DoubleLine Total Return Bond Fund", "DBLTX", "mutual fund", 10.42,
        cusip="258620103", isin="US2586201038", subtype="mutual fund",
    ),
    _security(
        "MIPTX", "Matthews Pacific Tiger Fund Insti Class", "MIPTX", "mutual fund", 27.44,
        cusip="577130834", isin="US5771308344", subtype="mutual fund",
    ),
    _security(
        "912797", "U S Treasury Bill 0.00% 31/10/2024", None, "fixed income", 100.0,
        cusip="912797HE0", isin="US912797HE08", subtype="bill",
        fixed_income={
            "yield_rate": {"percentage": 5.2, "type": "yield"},
            "maturity_date": "2024-10-31",
            "issue_date": "2024-05-02",
            "face_value": 100.0,
        },
    ),
)  # fmt: skip
_SECURITY_BY_KEY = dict(zip(("USD", "EWZ", "DBLTX", "MIPTX", "TBILL"), SECURITIES, strict=True))

# account mask -> (security key, quantity, institution price, cost basis)
_HOLDINGS = (
    ("5555", "USD", 210.76, 1.0, 210.76),
    ("5555", "EWZ", 2.0, 55.0, 100.0),
    ("6666", "DBLTX", 1000.0, 10.42, 10000.0),
    ("6666", "MIPTX", 300.0, 27.44, 7800.0),
    ("6666", "TBILL", 49.799805, 100.0, 4900.0),
)


def holdings(item_id: str) -> list[dict[str, object]]:
    result = []
    for mask, key, quantity, price, cost in _HOLDINGS:
        result.append(
            {
                "account_id": account_id(item_id, mask),
                "security_id": _SECURITY_BY_KEY[key]["security_id"],
                "institution_price": price,
                "institution_price_as_of": "2024-05-31",
                "institution_price_datetime": None,
                "institution_value": round(quantity * price, 4),
                "cost_basis": cost,
                "quantity": quantity,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
                "vested_quantity": None,
                "vested_value": None,
            }
        )
    return result


def securities() -> list[dict[str, object]]:
    return [dict(s) for s in SECURITIES]


# (days before the Item was created, mask, security key, name, quantity, amount, price, fees,
#  type, subtype)
_INVESTMENT_TRANSACTIONS = (
    (2, "5555", "USD", "Cash deposit", 0.0, -310.0, 1.0, 0.0, "cash", "deposit"),
    (3, "5555", "EWZ", "BUY iShares Inc MSCI Brazil", 2.0, 100.0, 50.0, 0.0, "buy", "buy"),
    (5, "5555", "USD", "Account maintenance fee", 0.0, 0.76, 1.0, 0.76, "fee",
     "account fee"),
    (11, "6666", "DBLTX", "DoubleLine Total Return Bond Fund dividend", 0.0, -41.7, 10.42,
     0.0, "cash", "dividend"),
    (14, "6666", "DBLTX", "BUY DoubleLine Total Return Bond Fund", 1000.0, 10000.0, 10.0,
     0.0, "buy", "buy"),
    (20, "6666", "MIPTX", "BUY Matthews Pacific Tiger Fund", 300.0, 7800.0, 26.0, 0.0, "buy",
     "buy"),
    (25, "6666", "TBILL", "BUY U S Treasury Bill", 49.799805, 4900.0, 98.39, 0.0, "buy",
     "buy"),
    (40, "6666", "MIPTX", "SELL Matthews Pacific Tiger Fund", -10.0, -265.0, 26.5, 0.0,
     "sell", "sell"),
)  # fmt: skip


def investment_transactions(item_id: str, created: date) -> list[dict[str, object]]:
    """Investment transactions, newest first, dated relative to the Item's creation."""
    result = []
    for index, row in enumerate(_INVESTMENT_TRANSACTIONS):
        days, mask, key, name, quantity, amount, price, fees, type_, subtype = row
        result.append(
            {
                "investment_transaction_id": derived_id("inv-txn", item_id, str(index)),
                "account_id": account_id(item_id, mask),
                "security_id": _SECURITY_BY_KEY[key]["security_id"],
                "date": (created - timedelta(days=days)).isoformat(),
                "transaction_datetime": None,
                "name": name,
                "quantity": quantity,
                "amount": amount,
                "price": price,
                "fees": fees,
                "type": type_,
                "subtype": subtype,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
                "cancel_transaction_id": None,
            }
        )
    return result


# ---------------------------------------------------------------------------- liabilities


def liabilities(item_id: str) -> dict[str, object]:
    return {
        "credit": [
            {
                "account_id": account_id(item_id, "3333"),
                "aprs": [
                    {
                        "apr_percentage": 15.24,
                        "apr_type": "balance_transfer_apr",
                        "balance_subject_to_apr": 1562.32,
                        "interest_charge_amount": 130.22,
                    },
                    {
                        "apr_percentage": 27.95,
                        "apr_type": "cash_apr",
                        "balance_subject_to_apr": 56.22,
                        "interest_charge_amount": 14.81,
                    },
                    {
                        "apr_percentage": 12.5,
                        "apr_type": "purchase_apr",
                        "balance_subject_to_apr": 157.01,
                        "interest_charge_amount": 25.66,
                    },
                    {
                        "apr_percentage": 0.0,
                        "apr_type": "special",
                        "balance_subject_to_apr": 1000.0,
                        "interest_charge_amount": 0.0,
                    },
                ],  # fmt: skip
                "is_overdue": False,
                "last_payment_amount": 168.25,
                "last_payment_date": "2019-05-22",
                "last_statement_issue_date": "2019-05-28",
                "last_statement_balance": 1708.77,
                "minimum_payment_amount": 20.0,
                "next_payment_due_date": "2020-05-28",
            }
        ],
        "mortgage": [
            {
                "account_id": account_id(item_id, "8888"),
                "account_number": "3120194154",
                "current_late_fee": 25.0,
                "escrow_balance": 3141.54,
                "has_pmi": True,
                "has_prepayment_penalty": True,
                "interest_rate": {"percentage": 3.99, "type": "fixed"},
                "last_payment_amount": 3141.54,
                "last_payment_date": "2019-08-01",
                "loan_term": "30 year",
                "loan_type_description": "conventional",
                "maturity_date": "2045-07-31",
                "next_monthly_payment": 3141.54,
                "next_payment_due_date": "2019-11-15",
                "origination_date": "2015-08-01",
                "origination_principal_amount": 425000.0,
                "past_due_amount": 2304.0,
                "property_address": {
                    "city": "Malakoff",
                    "country": "US",
                    "postal_code": "14236",
                    "region": "NY",
                    "street": "2992 Cameron Road",
                },
                "ytd_interest_paid": 12300.4,
                "ytd_principal_paid": 12340.5,
            }
        ],
        "student": [
            {
                "account_id": account_id(item_id, "7777"),
                "account_number": "4277075694",
                "disbursement_dates": ["2002-08-28"],
                "expected_payoff_date": "2032-07-28",
                "guarantor": "DEPT OF ED",
                "interest_rate_percentage": 5.25,
                "is_overdue": False,
                "last_payment_amount": 138.05,
                "last_payment_date": "2019-04-22",
                "last_statement_balance": 1708.77,
                "last_statement_issue_date": "2019-04-28",
                "loan_name": "Consolidation",
                "loan_status": {"end_date": "2032-07-28", "type": "repayment"},
                "minimum_payment_amount": 25.0,
                "next_payment_due_date": "2019-05-28",
                "origination_date": "2002-08-28",
                "origination_principal_amount": 25000.0,
                "outstanding_interest_amount": 6227.36,
                "payment_reference_number": "4277075694",
                "pslf_status": {
                    "estimated_eligibility_date": "2021-01-01",
                    "payments_made": 200,
                    "payments_remaining": 160,
                },
                "repayment_plan": {"description": "Standard Repayment", "type": "standard"},
                "sequence_number": "1",
                "servicer_address": {
                    "city": "Pittsburgh",
                    "country": "US",
                    "postal_code": "15219",
                    "region": "PA",
                    "street": "123 Main Street",
                },
                "ytd_interest_paid": 280.55,
                "ytd_principal_paid": 271.65,
            }
        ],
    }


# ---------------------------------------------------------------------------- categories

# Plaid's legacy transaction categories (/categories/get): (category_id, group, hierarchy).
# A part of Plaid's list, holding every category the transactions below use.
CATEGORIES = (
    ("10000000", "special", ("Bank Fees",)),
    ("10001000", "special", ("Bank Fees", "Overdraft")),
    ("10002000", "special", ("Bank Fees", "ATM")),
    ("10007000", "special", ("Bank Fees", "Wire Transfer")),
    ("12000000", "place", ("Community",)),
    ("12008000", "place", ("Community", "Education")),
    ("13000000", "place", ("Food and Drink",)),
    ("13005000", "place", ("Food and Drink", "Restaurants")),
    ("13005032", "place", ("Food and Drink", "Restaurants", "Fast Food")),
    ("13005043", "place", ("Food and Drink", "Restaurants", "Coffee Shop")),
    ("14000000", "place", ("Healthcare",)),
    ("15000000", "special", ("Interest",)),
    ("16000000", "special", ("Payment",)),
    ("16001000", "special", ("Payment", "Credit Card")),
    ("16002000", "special", ("Payment", "Rent")),
    ("17000000", "place", ("Recreation",)),
    ("17018000", "place", ("Recreation", "Gyms and Fitness Centers")),
    ("18000000", "place", ("Service",)),
    ("18068000", "place", ("Service", "Utilities")),
    ("19000000", "place", ("Shops",)),
    ("19013000", "place", ("Shops", "Computers and Electronics")),
    ("19046000", "place", ("Shops", "Sporting Goods")),
    ("19047000", "place", ("Shops", "Supermarkets and Groceries")),
    ("20000000", "special", ("Tax",)),
    ("21000000", "special", ("Transfer",)),
    ("21001000", "special", ("Transfer", "Internal Account Transfer")),
    ("21005000", "special", ("Transfer", "Credit")),
    ("21006000", "special", ("Transfer", "Debit")),
    ("21007000", "special", ("Transfer", "Deposit")),
    ("21009000", "special", ("Transfer", "Payroll")),
    ("22000000", "place", ("Travel",)),
    ("22001000", "place", ("Travel", "Airlines and Aviation Services")),
    ("22012000", "place", ("Travel", "Lodging")),
    ("22016000", "place", ("Travel", "Taxi")),
)  # fmt: skip
_CATEGORY_IDS = {hierarchy: category_id for category_id, _, hierarchy in CATEGORIES}


def categories() -> list[dict[str, object]]:
    """The ``Category`` objects of /categories/get."""
    return [
        {"category_id": category_id, "group": group, "hierarchy": list(hierarchy)}
        for category_id, group, hierarchy in CATEGORIES
    ]


# ---------------------------------------------------------------------------- transactions

# (name, merchant, amount, mask, day of the 30-day cycle, channel, pfc primary, pfc detailed,
#  legacy category)
_TRANSACTION_CYCLE = (
    ("United Airlines", "United Airlines", 500.0, "3333", 1, "in store", "TRAVEL",
     "TRAVEL_FLIGHTS", ["Travel", "Airlines and Aviation Services"]),
    ("Uber 063015 SF**POOL**", "Uber", 5.4, "3333", 3, "online", "TRANSPORTATION",
     "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", ["Travel", "Taxi"]),
    ("Tectra Inc", None, 500.0, "3333", 4, "in store", "ENTERTAINMENT",
     "ENTERTAINMENT_OTHER_ENTERTAINMENT", ["Food and Drink", "Restaurants"]),
    ("AUTOMATIC PAYMENT - THANK", None, 2078.5, "0000", 5, "other", "LOAN_PAYMENTS",
     "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", ["Payment"]),
    ("KFC", "KFC", 500.0, "3333", 6, "in store", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_FAST_FOOD", ["Food and Drink", "Restaurants", "Fast Food"]),
    ("Madison Bicycle Shop", "Madison Bicycle Shop", 500.0, "3333", 8, "in store",
     "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SPORTING_GOODS", ["Shops",
     "Sporting Goods"]),
    ("CREDIT CARD 3333 PAYMENT *//", None, 25.0, "0000", 10, "other", "LOAN_PAYMENTS",
     "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", ["Payment", "Credit Card"]),
    ("Uber 072515 SF**POOL**", "Uber", 6.33, "3333", 12, "online", "TRANSPORTATION",
     "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", ["Travel", "Taxi"]),
    ("McDonald's", "McDonald's", 12.0, "3333", 15, "in store", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_FAST_FOOD", ["Food and Drink", "Restaurants", "Fast Food"]),
    ("Starbucks", "Starbucks", 4.33, "3333", 16, "in store", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_COFFEE", ["Food and Drink", "Restaurants", "Coffee Shop"]),
    ("SparkFun", "SparkFun", 89.4, "3333", 18, "online", "GENERAL_MERCHANDISE",
     "GENERAL_MERCHANDISE_ELECTRONICS", ["Food and Drink", "Restaurants"]),
    ("INTRST PYMNT", None, -4.22, "1111", 20, "other", "INCOME", "INCOME_INTEREST_EARNED",
     ["Transfer", "Credit"]),
    ("Touchstone Climbing", "Touchstone", 78.5, "3333", 22, "in store", "PERSONAL_CARE",
     "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", ["Recreation", "Gyms and Fitness Centers"]),
    ("ACH Electronic CreditGUSTO PAY 123456", None, 5850.0, "0000", 24, "online",
     "TRANSFER_OUT", "TRANSFER_OUT_ACCOUNT_TRANSFER", ["Transfer", "Debit"]),
    ("CD DEPOSIT .INITIAL.", None, 1000.0, "2222", 26, "other", "TRANSFER_IN",
     "TRANSFER_IN_DEPOSIT", ["Transfer", "Deposit"]),
    ("Payroll Deposit", None, -2500.0, "0000", 28, "other", "INCOME", "INCOME_WAGES",
     ["Transfer", "Payroll"]),
)  # fmt: skip
TRANSACTION_MONTHS = 3


def transactions(item_id: str, created: date) -> list[dict[str, object]]:
    """Every transaction of an Item, oldest first (the order /transactions/sync pages in)."""
    rows = []
    for month in range(TRANSACTION_MONTHS):
        for index, row in enumerate(_TRANSACTION_CYCLE):
            name, merchant, amount, mask, day, channel, primary, detailed, category = row
            when = created - timedelta(days=30 * month + day)
            rows.append((when, month, index, name, merchant, amount, mask, channel, primary,
                         detailed, category))  # fmt: skip
    rows.sort(key=lambda r: (r[0], -r[1], r[2]))
    result = []
    for when, month, index, name, merchant, amount, mask, channel, primary, detailed, cat in rows:
        result.append(
            {
                "transaction_id": derived_id("txn", item_id, str(month), str(index)),
                "account_id": account_id(item_id, mask),
                "account_owner": None,
                "amount": amount,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
                "category": list(cat),
                "category_id": _CATEGORY_IDS[tuple(cat)],
                "check_number": None,
                "counterparties": [],
                "date": when.isoformat(),
                "datetime": None,
                "authorized_date": when.isoformat(),
                "authorized_datetime": None,
                "location": {
                    "address": None,
                    "city": None,
                    "region": None,
                    "postal_code": None,
                    "country": None,
                    "lat": None,
                    "lon": None,
                    "store_number": None,
                },
                "name": name,
                "merchant_name": merchant,
                "merchant_entity_id": None,
                "logo_url": None,
                "website": None,
                "payment_meta": {
                    "by_order_of": None,
                    "payee": None,
                    "payer": None,
                    "payment_method": None,
                    "payment_processor": None,
                    "ppd_id": None,
                    "reason": None,
                    "reference_number": None,
                },
                "payment_channel": channel,
                "pending": False,
                "pending_transaction_id": None,
                "personal_finance_category": {
                    "primary": primary,
                    "detailed": detailed,
                    "confidence_level": "VERY_HIGH",
                },
                "personal_finance_category_icon_url": (
                    f"https://plaid-category-icons.plaid.com/PFC_{primary}.png"
                ),
                "transaction_code": None,
                "transaction_type": "place" if channel == "in store" else "special",
            }
        )
    return result
