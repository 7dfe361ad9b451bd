"""The accounts of a ``user_good`` Item, their Auth numbers and their Identity owner."""

from __future__ import annotations

from typing import NamedTuple

from .ids import account_id, derived_id


class Account(NamedTuple):
    """One account every ``user_good`` Item has (its ids are derived per Item)."""

    mask: str
    name: str
    official_name: str | None
    type: str
    subtype: str
    available: float | None
    current: float
    limit: float | None


_ACCOUNTS = (
    Account("0000", "Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "depository",
            "checking", 100.0, 110.0, None),
    Account("1111", "Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "depository",
            "savings", 200.0, 210.0, None),
    Account("2222", "Plaid CD", "Plaid Bronze Standard 0.2% Interest CD", "depository", "cd",
            None, 1000.0, None),
    Account("3333", "Plaid Credit Card", "Plaid Diamond 12.5% APR Interest Credit Card",
            "credit", "credit card", None, 410.0, 2000.0),
    Account("4444", "Plaid Money Market", "Plaid Platinum Standard 1.85% Interest Money Market",
            "depository", "money market", 43200.0, 43200.0, None),
    Account("5555", "Plaid IRA", None, "investment", "ira", None, 320.76, None),
    Account("6666", "Plaid 401k", None, "investment", "401k", None, 23631.9805, None),
    Account("7777", "Plaid Student Loan", None, "loan", "student", None, 65262.0, None),
    Account("8888", "Plaid Mortgage", None, "loan", "mortgage", None, 56302.06, None),
)  # fmt: skip


def _account_json(item_id: str, account: Account) -> dict[str, object]:
    balances: dict[str, object] = {
        "available": account.available,
        "current": account.current,
        "limit": account.limit,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
    }
    if account.type == "investment":
        balances["margin_loan_amount"] = None
    return {
        "account_id": account_id(item_id, account.mask),
        "balances": balances,
        "mask": account.mask,
        "name": account.name,
        "official_name": account.official_name,
        "type": account.type,
        "subtype": account.subtype,
        "persistent_account_id": derived_id("persistent", item_id, account.mask, length=64),
        "holder_category": "personal",
    }


def accounts(item_id: str) -> list[dict[str, object]]:
    """The ``AccountBase`` objects of a user_good Item."""
    return [_account_json(item_id, account) for account in _ACCOUNTS]


def auth_numbers(item_id: str) -> dict[str, list[dict[str, object]]]:
    """``AuthGetNumbers`` for the checking (0000) and saving (1111) accounts."""
    ach: list[dict[str, object]] = [
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
