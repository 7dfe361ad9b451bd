"""The investment accounts' securities, holdings and investment transactions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from .ids import account_id, derived_id


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


class Holding(NamedTuple):
    mask: str  # of the account holding it
    security: str  # a key of _SECURITY_BY_KEY
    quantity: float
    institution_price: float
    cost_basis: float


_HOLDINGS = (
    Holding("5555", "USD", 210.76, 1.0, 210.76),
    Holding("5555", "EWZ", 2.0, 55.0, 100.0),
    Holding("6666", "DBLTX", 1000.0, 10.42, 10000.0),
    Holding("6666", "MIPTX", 300.0, 27.44, 7800.0),
    Holding("6666", "TBILL", 49.799805, 100.0, 4900.0),
)


def holdings(item_id: str) -> list[dict[str, object]]:
    return [
        {
            "account_id": account_id(item_id, h.mask),
            "security_id": _SECURITY_BY_KEY[h.security]["security_id"],
            "institution_price": h.institution_price,
            "institution_price_as_of": "2024-05-31",
            "institution_price_datetime": None,
            "institution_value": round(h.quantity * h.institution_price, 4),
            "cost_basis": h.cost_basis,
            "quantity": h.quantity,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "vested_quantity": None,
            "vested_value": None,
        }
        for h in _HOLDINGS
    ]


def securities() -> list[dict[str, object]]:
    return [dict(s) for s in SECURITIES]


class InvestmentTransaction(NamedTuple):
    days_before: int  # the Item's creation
    mask: str
    security: str  # a key of _SECURITY_BY_KEY
    name: str
    quantity: float
    amount: float
    price: float
    fees: float
    type: str
    subtype: str


_INVESTMENT_TRANSACTIONS = (
    InvestmentTransaction(2, "5555", "USD", "Cash deposit", 0.0, -310.0, 1.0, 0.0, "cash",
                          "deposit"),
    InvestmentTransaction(3, "5555", "EWZ", "BUY iShares Inc MSCI Brazil", 2.0, 100.0, 50.0,
                          0.0, "buy", "buy"),
    InvestmentTransaction(5, "5555", "USD", "Account maintenance fee", 0.0, 0.76, 1.0, 0.76,
                          "fee", "account fee"),
    InvestmentTransaction(11, "6666", "DBLTX", "DoubleLine Total Return Bond Fund dividend",
                          0.0, -41.7, 10.42, 0.0, "cash", "dividend"),
    InvestmentTransaction(14, "6666", "DBLTX", "BUY DoubleLine Total Return Bond Fund",
                          1000.0, 10000.0, 10.0, 0.0, "buy", "buy"),
    InvestmentTransaction(20, "6666", "MIPTX", "BUY Matthews Pacific Tiger Fund", 300.0,
                          7800.0, 26.0, 0.0, "buy", "buy"),
    InvestmentTransaction(25, "6666", "TBILL", "BUY U S Treasury Bill", 49.799805, 4900.0,
                          98.39, 0.0, "buy", "buy"),
    InvestmentTransaction(40, "6666", "MIPTX", "SELL Matthews Pacific Tiger Fund", -10.0,
                          -265.0, 26.5, 0.0, "sell", "sell"),
)  # fmt: skip


def investment_transactions(item_id: str, created: date) -> list[dict[str, object]]:
    """Investment transactions, newest first, dated relative to the Item's creation."""
    return [
        {
            "investment_transaction_id": derived_id("inv-txn", item_id, str(index)),
            "account_id": account_id(item_id, t.mask),
            "security_id": _SECURITY_BY_KEY[t.security]["security_id"],
            "date": (created - timedelta(days=t.days_before)).isoformat(),
            "transaction_datetime": None,
            "name": t.name,
            "quantity": t.quantity,
            "amount": t.amount,
            "price": t.price,
            "fees": t.fees,
            "type": t.type,
            "subtype": t.subtype,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "cancel_transaction_id": None,
        }
        for index, t in enumerate(_INVESTMENT_TRANSACTIONS)
    ]
