"""``/investments/holdings/get`` and ``/investments/transactions/get``."""

from __future__ import annotations

from . import data
from .core import Body, Emulator
from .responses import created_on, dated_page, item_json, selected_accounts


def investments_holdings_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = selected_accounts(item, body, ("investment",))
    ids = {a["account_id"] for a in accounts}
    holdings = [h for h in data.holdings(item.item_id) if h["account_id"] in ids]
    security_ids = {h["security_id"] for h in holdings}
    securities = [s for s in data.securities() if s["security_id"] in security_ids]
    return {
        "accounts": accounts,
        "holdings": holdings,
        "securities": securities,
        "item": item_json(item),
        "is_investments_fallback_item": False,
    }


def investments_transactions_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    page = dated_page(body)
    accounts = selected_accounts(item, body, ("investment",))
    ids = {a["account_id"] for a in accounts}
    matching = [
        t
        for t in data.investment_transactions(item.item_id, created_on(item))
        if t["account_id"] in ids and page.covers(t["date"])
    ]
    shown = matching[page.offset : page.offset + page.count]
    security_ids = {t["security_id"] for t in shown}
    return {
        "item": item_json(item),
        "accounts": accounts,
        "securities": [s for s in data.securities() if s["security_id"] in security_ids],
        "investment_transactions": shown,
        "total_investment_transactions": len(matching),
        "is_investments_fallback_item": False,
    }
