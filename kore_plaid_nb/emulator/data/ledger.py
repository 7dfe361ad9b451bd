"""The transactions of a ``user_good`` Item (a 30-day cycle repeated) and their legacy
categories (``/categories/get``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from .ids import account_id, derived_id


class Category(NamedTuple):
    category_id: str
    group: str  # "place" or "special"
    hierarchy: tuple[str, ...]


# Plaid's legacy transaction categories: a part of Plaid's list, holding every category the
# transactions below use.
CATEGORIES = (
    Category("10000000", "special", ("Bank Fees",)),
    Category("10001000", "special", ("Bank Fees", "Overdraft")),
    Category("10002000", "special", ("Bank Fees", "ATM")),
    Category("10007000", "special", ("Bank Fees", "Wire Transfer")),
    Category("12000000", "place", ("Community",)),
    Category("12008000", "place", ("Community", "Education")),
    Category("13000000", "place", ("Food and Drink",)),
    Category("13005000", "place", ("Food and Drink", "Restaurants")),
    Category("13005032", "place", ("Food and Drink", "Restaurants", "Fast Food")),
    Category("13005043", "place", ("Food and Drink", "Restaurants", "Coffee Shop")),
    Category("14000000", "place", ("Healthcare",)),
    Category("15000000", "special", ("Interest",)),
    Category("16000000", "special", ("Payment",)),
    Category("16001000", "special", ("Payment", "Credit Card")),
    Category("16002000", "special", ("Payment", "Rent")),
    Category("17000000", "place", ("Recreation",)),
    Category("17018000", "place", ("Recreation", "Gyms and Fitness Centers")),
    Category("18000000", "place", ("Service",)),
    Category("18068000", "place", ("Service", "Utilities")),
    Category("19000000", "place", ("Shops",)),
    Category("19013000", "place", ("Shops", "Computers and Electronics")),
    Category("19046000", "place", ("Shops", "Sporting Goods")),
    Category("19047000", "place", ("Shops", "Supermarkets and Groceries")),
    Category("20000000", "special", ("Tax",)),
    Category("21000000", "special", ("Transfer",)),
    Category("21001000", "special", ("Transfer", "Internal Account Transfer")),
    Category("21005000", "special", ("Transfer", "Credit")),
    Category("21006000", "special", ("Transfer", "Debit")),
    Category("21007000", "special", ("Transfer", "Deposit")),
    Category("21009000", "special", ("Transfer", "Payroll")),
    Category("22000000", "place", ("Travel",)),
    Category("22001000", "place", ("Travel", "Airlines and Aviation Services")),
    Category("22012000", "place", ("Travel", "Lodging")),
    Category("22016000", "place", ("Travel", "Taxi")),
)  # fmt: skip
_CATEGORY_IDS = {c.hierarchy: c.category_id for c in CATEGORIES}


def categories() -> list[dict[str, object]]:
    """The ``Category`` objects of /categories/get."""
    return [
        {"category_id": c.category_id, "group": c.group, "hierarchy": list(c.hierarchy)}
        for c in CATEGORIES
    ]


class Transaction(NamedTuple):
    """One transaction of the 30-day cycle."""

    name: str
    merchant: str | None
    amount: float
    mask: str  # of the account
    day: int  # of the cycle: dated that many days before the Item's creation (+30 a month)
    channel: str  # payment_channel
    pfc_primary: str  # personal_finance_category
    pfc_detailed: str
    category: tuple[str, ...]  # legacy category hierarchy


_TRANSACTION_CYCLE = (
    Transaction("United Airlines", "United Airlines", 500.0, "3333", 1, "in store", "TRAVEL",
                "TRAVEL_FLIGHTS", ("Travel", "Airlines and Aviation Services")),
    Transaction("Uber 063015 SF**POOL**", "Uber", 5.4, "3333", 3, "online", "TRANSPORTATION",
                "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", ("Travel", "Taxi")),
    Transaction("Tectra Inc", None, 500.0, "3333", 4, "in store", "ENTERTAINMENT",
                "ENTERTAINMENT_OTHER_ENTERTAINMENT", ("Food and Drink", "Restaurants")),
    Transaction("AUTOMATIC PAYMENT - THANK", None, 2078.5, "0000", 5, "other",
                "LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", ("Payment",)),
    Transaction("KFC", "KFC", 500.0, "3333", 6, "in store", "FOOD_AND_DRINK",
                "FOOD_AND_DRINK_FAST_FOOD", ("Food and Drink", "Restaurants", "Fast Food")),
    Transaction("Madison Bicycle Shop", "Madison Bicycle Shop", 500.0, "3333", 8, "in store",
                "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SPORTING_GOODS",
                ("Shops", "Sporting Goods")),
    Transaction("CREDIT CARD 3333 PAYMENT *//", None, 25.0, "0000", 10, "other",
                "LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", ("Payment", "Credit Card")),
    Transaction("Uber 072515 SF**POOL**", "Uber", 6.33, "3333", 12, "online", "TRANSPORTATION",
                "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", ("Travel", "Taxi")),
    Transaction("McDonald's", "McDonald's", 12.0, "3333", 15, "in store", "FOOD_AND_DRINK",
                "FOOD_AND_DRINK_FAST_FOOD", ("Food and Drink", "Restaurants", "Fast Food")),
    Transaction("Starbucks", "Starbucks", 4.33, "3333", 16, "in store", "FOOD_AND_DRINK",
                "FOOD_AND_DRINK_COFFEE", ("Food and Drink", "Restaurants", "Coffee Shop")),
    Transaction("SparkFun", "SparkFun", 89.4, "3333", 18, "online", "GENERAL_MERCHANDISE",
                "GENERAL_MERCHANDISE_ELECTRONICS", ("Food and Drink", "Restaurants")),
    Transaction("INTRST PYMNT", None, -4.22, "1111", 20, "other", "INCOME",
                "INCOME_INTEREST_EARNED", ("Transfer", "Credit")),
    Transaction("Touchstone Climbing", "Touchstone", 78.5, "3333", 22, "in store",
                "PERSONAL_CARE", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS",
                ("Recreation", "Gyms and Fitness Centers")),
    Transaction("ACH Electronic CreditGUSTO PAY 123456", None, 5850.0, "0000", 24, "online",
                "TRANSFER_OUT", "TRANSFER_OUT_ACCOUNT_TRANSFER", ("Transfer", "Debit")),
    Transaction("CD DEPOSIT .INITIAL.", None, 1000.0, "2222", 26, "other", "TRANSFER_IN",
                "TRANSFER_IN_DEPOSIT", ("Transfer", "Deposit")),
    Transaction("Payroll Deposit", None, -2500.0, "0000", 28, "other", "INCOME",
                "INCOME_WAGES", ("Transfer", "Payroll")),
)  # fmt: skip
TRANSACTION_MONTHS = 3


class _Dated(NamedTuple):
    """A transaction of the cycle in one month (0: the latest), on its day."""

    when: date
    month: int
    position: int  # in the cycle
    transaction: Transaction


def _transaction_json(item_id: str, dated: _Dated, currency: str) -> dict[str, object]:
    t, when = dated.transaction, dated.when.isoformat()
    return {
        "transaction_id": derived_id("txn", item_id, str(dated.month), str(dated.position)),
        "account_id": account_id(item_id, t.mask),
        "account_owner": None,
        "amount": t.amount,
        "iso_currency_code": currency,
        "unofficial_currency_code": None,
        "category": list(t.category),
        "category_id": _CATEGORY_IDS[t.category],
        "check_number": None,
        "counterparties": [],
        "date": when,
        "datetime": None,
        "authorized_date": when,
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
        "name": t.name,
        "merchant_name": t.merchant,
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
        "payment_channel": t.channel,
        "pending": False,
        "pending_transaction_id": None,
        "personal_finance_category": {
            "primary": t.pfc_primary,
            "detailed": t.pfc_detailed,
            "confidence_level": "VERY_HIGH",
        },
        "personal_finance_category_icon_url": (
            f"https://plaid-category-icons.plaid.com/PFC_{t.pfc_primary}.png"
        ),
        "transaction_code": None,
        "transaction_type": "place" if t.channel == "in store" else "special",
    }


def transactions(item_id: str, created: date, currency: str = "USD") -> list[dict[str, object]]:
    """Every transaction of an Item, oldest first (the order /transactions/sync pages in), in
    ``currency`` (its bank's)."""
    dated = sorted(
        (
            _Dated(created - timedelta(days=30 * month + t.day), month, index, t)
            for month in range(TRANSACTION_MONTHS)
            for index, t in enumerate(_TRANSACTION_CYCLE)
        ),
        key=lambda d: (d.when, -d.month, d.position),
    )
    return [_transaction_json(item_id, d, currency) for d in dated]
