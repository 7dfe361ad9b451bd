"""What an Item's accounts hold: ``/accounts/get``, ``/accounts/balance/get``, ``/auth/get``,
``/identity/get`` and ``/liabilities/get``."""

from __future__ import annotations

from . import data, fields
from .core import Body, Emulator
from .responses import item_json, selected_accounts


def accounts_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    return {"accounts": selected_accounts(item, body), "item": item_json(item)}


def accounts_balance_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    options = fields.obj(body, "options")
    fields.text(options, "min_last_updated_datetime", required=False)
    return {"accounts": selected_accounts(item, body), "item": item_json(item)}


def auth_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = selected_accounts(item, body)
    ids = {a["account_id"] for a in accounts}
    numbers = {
        kind: [n for n in entries if n["account_id"] in ids]
        for kind, entries in data.auth_numbers(
            item.item_id, data.country(item.institution_id)
        ).items()
    }
    return {"accounts": accounts, "numbers": numbers, "item": item_json(item)}


def identity_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = [{**a, "owners": data.owners()} for a in selected_accounts(item, body)]
    return {"accounts": accounts, "item": item_json(item)}


def liabilities_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = selected_accounts(item, body, ("credit", "loan"))
    ids = {a["account_id"] for a in accounts}
    liabilities = {
        kind: [entry for entry in entries if entry["account_id"] in ids]
        for kind, entries in data.liabilities(item.item_id).items()
    }
    return {"accounts": accounts, "liabilities": liabilities, "item": item_json(item)}
