"""*Allow Users to Authorize the Integration*: several end users, each with their own Item.

Each simulated user authorizes at a different sandbox bank through the bridge, as Kore's
per-user link would make them; then each user's token must reach that user's Item only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..settings import Settings
from ..tls import client_context
from .diagnosis import json_object
from .simulator import KoreFlowError, KoreSimulator

SANDBOX_BANKS = (
    ("ins_109508", "First Platypus Bank"),
    ("ins_109509", "First Gingham Credit Union"),
    ("ins_109510", "Tattersall Federal Credit Union"),
    ("ins_109511", "Tartan Bank"),
    ("ins_109512", "Houndstooth Bank"),
)


@dataclass(frozen=True)
class EndUserResult:
    user: str
    bank: str
    accounts: int
    item_id: str

    def row(self, own_item_only: bool) -> tuple[str, str, str, str]:
        return (self.user, self.bank, str(self.accounts), "yes" if own_item_only else "NO")


def authorize_end_users(
    settings: Settings, base_url: str, count: int = 3
) -> list[tuple[str, str, str, str]]:
    """Authorize ``count`` users (one bank each); rows of user, bank, accounts, own Item."""
    results = []
    with KoreSimulator(settings, base_url) as sim:
        for index in range(count):
            institution_id, bank = SANDBOX_BANKS[index % len(SANDBOX_BANKS)]
            request, code = sim.authorize(institution_id=institution_id)
            token = sim.exchange_code_form_basic(request, code)
            item = item_of(sim, token.access_token)
            if item.get("institution_id") != institution_id:
                raise KoreFlowError(
                    f"End user {index + 1}'s token reaches another bank's Item.",
                    fix="The bridge must keep one Item per authorization.",
                    step="4.vii-x",
                )
            results.append(
                EndUserResult(
                    f"user {index + 1}",
                    bank,
                    _account_count(sim, token.access_token),
                    str(item.get("item_id")),
                )
            )
    item_ids = [r.item_id for r in results]
    distinct = len(set(item_ids)) == len(item_ids)
    if not distinct:
        raise KoreFlowError(
            "Two end users share one Item.",
            step="4.vii-x",
            fix="The bridge must keep one Item per authorization.",
        )
    return [r.row(distinct) for r in results]


def plaid_call(sim: KoreSimulator, path: str, access_token: str) -> tuple[int, dict[str, Any]]:
    """POST ``{"access_token": ...}`` to Plaid as Kore's actions do: (status, JSON body)."""
    response = httpx.post(
        sim.plaid_base_url(access_token) + path,
        json={"access_token": access_token},
        headers={"PLAID-CLIENT-ID": sim.client_id, "PLAID-SECRET": sim.client_secret},
        timeout=30,
        verify=client_context(),
    )
    return response.status_code, json_object(response)


def _post(sim: KoreSimulator, path: str, access_token: str) -> dict[str, Any]:
    status, body = plaid_call(sim, path, access_token)
    if status != 200:
        raise KoreFlowError(
            f"Plaid refused {path}: {body.get('error_code')}: {body.get('error_message')}",
            step="8",
        )
    return body


def item_of(sim: KoreSimulator, access_token: str) -> dict[str, Any]:
    return dict(_post(sim, "/item/get", access_token)["item"])


def _account_count(sim: KoreSimulator, access_token: str) -> int:
    return len(_post(sim, "/accounts/get", access_token)["accounts"])
