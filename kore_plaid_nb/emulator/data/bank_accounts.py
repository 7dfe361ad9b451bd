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


_GB_ACCOUNTS = (
    Account("0000", "Plaid Current Account", "Plaid Gold Standard Current Account",
            "depository", "checking", 100.0, 110.0, None),
    Account("1111", "Plaid Saver", "Plaid Silver Standard 0.1% Easy Access Saver",
            "depository", "savings", 200.0, 210.0, None),
    Account("2222", "Plaid Fixed Rate Bond", "Plaid Bronze Standard 0.2% Fixed Rate Bond",
            "depository", "savings", None, 1000.0, None),
    Account("3333", "Plaid Credit Card", "Plaid Diamond 12.5% APR Credit Card", "credit",
            "credit card", None, 410.0, 2000.0),
)  # fmt: skip
_EU_ACCOUNTS = (
    Account("0000", "Plaid Current Account", None, "depository", "checking", 100.0, 110.0,
            None),
    Account("1111", "Plaid Savings", None, "depository", "savings", 200.0, 210.0, None),
    Account("2222", "Plaid Term Deposit", None, "depository", "savings", None, 1000.0, None),
    Account("3333", "Plaid Credit Card", None, "credit", "credit card", None, 410.0, 2000.0),
)  # fmt: skip
_CA_ACCOUNTS = (
    Account("0000", "Plaid Chequing", "Plaid Gold Standard Chequing", "depository",
            "checking", 100.0, 110.0, None),
    Account("1111", "Plaid Savings", "Plaid Silver Standard 0.1% Savings", "depository",
            "savings", 200.0, 210.0, None),
    Account("2222", "Plaid High Interest Savings", None, "depository", "savings", None,
            1000.0, None),
    Account("3333", "Plaid Credit Card", "Plaid Diamond 12.5% APR Credit Card", "credit",
            "credit card", None, 410.0, 2000.0),
)  # fmt: skip
_CURRENCIES = {"US": "USD", "CA": "CAD", "GB": "GBP"}
# The emulator's own bank codes, made up (not a real bank's): each country's IBAN bank part
# before the branch, the branch (GB and IE: the sort code), and the account number's length.
SORT_CODE = "999999"  # the GB and IE banks' sort code
_BANK_CODES = {"GB": "PLAY", "IE": "PLAY", "NL": "PLAY", "ES": "9999", "FR": "99999",
               "DE": "99990000"}  # fmt: skip
_BRANCH_CODES = {"GB": SORT_CODE, "IE": SORT_CODE, "ES": "0001", "FR": "00001"}
_ACCOUNT_DIGITS = {"GB": 8, "IE": 8, "FR": 11}  # 10 elsewhere
EFT_INSTITUTION, EFT_BRANCH = "999", "00001"  # the CA bank's (made up)
NUMBERED_MASKS = ("0000", "1111")  # the accounts that have Auth numbers
_ES_WEIGHTS = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)


def currency(country: str) -> str:
    """The ISO currency of a Sandbox institution's country (EUR for the euro area)."""
    return _CURRENCIES.get(country, "EUR")


def _country_accounts(country: str) -> tuple[Account, ...]:
    if country == "US":
        return _ACCOUNTS
    if country == "GB":
        return _GB_ACCOUNTS
    return _CA_ACCOUNTS if country == "CA" else _EU_ACCOUNTS


def _account_json(item_id: str, account: Account, currency_code: str) -> dict[str, object]:
    balances: dict[str, object] = {
        "available": account.available,
        "current": account.current,
        "limit": account.limit,
        "iso_currency_code": currency_code,
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


def accounts(item_id: str, country: str = "US") -> list[dict[str, object]]:
    """The ``AccountBase`` objects of a user_good Item at a bank of ``country``."""
    code = currency(country)
    return [_account_json(item_id, account, code) for account in _country_accounts(country)]


def _es_digit(ten_digits: str) -> str:
    """One Spanish control digit (mod 11 over ten digits)."""
    digit = 11 - sum(int(c) * w for c, w in zip(ten_digits, _ES_WEIGHTS, strict=True)) % 11
    return {10: "1", 11: "0"}.get(digit, str(digit))


def _rib_key(bank: str, branch: str, account: str) -> str:
    """The French RIB key: 97 - (89 bank + 15 branch + 3 account) mod 97 (digits only)."""
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def bban(country: str, account_number: str) -> str:
    """The national account number inside the IBAN, its check digits computed: Spain's two
    control digits (entity+branch, account) and France's RIB key."""
    bank, branch = _BANK_CODES[country], _BRANCH_CODES.get(country, "")
    if country == "ES":
        control = _es_digit("00" + bank + branch) + _es_digit(account_number)
        return bank + branch + control + account_number
    if country == "FR":
        return bank + branch + account_number + _rib_key(bank, branch, account_number)
    return bank + branch + account_number


def iban(country: str, account_number: str) -> str:
    """An IBAN with valid check digits (ISO 13616, mod 97) for a Sandbox account."""
    national = bban(country, account_number)
    digits = "".join(str(int(c, 36)) for c in national + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{national}"


def _account_numbers(country: str, mask: str) -> dict[str, dict[str, object]]:
    """Number kind (``ach``, ``eft``, ``international``, ``bacs``) -> one account's numbers."""
    if country == "US":
        return {"ach": {"account": f"111122223333{mask}", "routing": "011401533",
                        "wire_routing": "021000021"}}  # fmt: skip
    if country == "CA":
        return {"eft": {"account": f"1122{mask}", "institution": EFT_INSTITUTION,
                        "branch": EFT_BRANCH}}  # fmt: skip
    digits = _ACCOUNT_DIGITS.get(country, 10)
    account_number = f"{'111122' + mask:0>{digits}}"[-digits:]
    numbers: dict[str, dict[str, object]] = {
        "international": {"iban": iban(country, account_number), "bic": f"PLAY{country}2L"}
    }
    if country == "GB":
        numbers["bacs"] = {"account": account_number, "sort_code": SORT_CODE}
    return numbers


def auth_numbers(item_id: str, country: str = "US") -> dict[str, list[dict[str, object]]]:
    """``AuthGetNumbers`` for the checking (0000) and saving (1111) accounts: ACH in the US,
    EFT in Canada, BACS and IBAN in the UK, IBAN in the euro area."""
    numbers: dict[str, list[dict[str, object]]] = {
        kind: [] for kind in ("ach", "eft", "international", "bacs")
    }
    for mask in NUMBERED_MASKS:
        for kind, values in _account_numbers(country, mask).items():
            numbers[kind].append({"account_id": account_id(item_id, mask), **values})
    return numbers


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
