"""One end user's Item over time, as notebook 07 walks it.

1. The user authorizes; Kore's access token reaches the Item.
2. The bank asks the user to log in again (Sandbox ``/sandbox/item/reset_login``): Plaid
   sends the Item's signed webhook ITEM ERROR (ITEM_LOGIN_REQUIRED) to the bridge, which
   records it; Kore's calls now fail with ITEM_LOGIN_REQUIRED.
3. The user opens the repair link (``kore-plaid items``) and logs in again in Link's update
   mode; the Item is healthy again and Kore's *old* access token works again: nothing is
   re-authorized in Kore.

The user's part of step 3 is played by posting what the repair page and the Link stand-in
post, so it runs only in the embedded mode; elsewhere the walk stops at the repair link.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from .. import plaid_client
from ..bridge import items
from ..bridge.item_health import HEALTHY, LOGIN_REQUIRED
from ..bridge.store import public_ref
from ..emulator.webhooks import wait_for_deliveries
from ..settings import Settings
from ..tls import client_context
from .diagnosis import error_text, json_object
from .end_users import SANDBOX_BANKS, item_of, plaid_call
from .simulator import KoreFlowError, KoreSimulator, StepSkipped

SANDBOX_USERNAME = "user_good"  # Plaid's public Sandbox login
SANDBOX_PASSWORD = "pass_good"  # noqa: S105 - Plaid's public Sandbox password  # nosec B105
WEBHOOK_WAIT_SECONDS = 20.0
Row = tuple[str, str, str]


def walk_item_repair(settings: Settings, base_url: str) -> list[Row]:
    """Rows of (what happened, the Item's health in ``kore-plaid items``, Kore's call)."""
    if settings.plaid_env != "sandbox":
        raise StepSkipped(
            "Only Plaid's Sandbox can make a bank ask for a new login (reset_login).",
            fix="Run this walk with Sandbox keys (PLAID_ENV=sandbox) or in the embedded mode.",
        )
    institution_id, bank = SANDBOX_BANKS[-1]
    rows: list[Row] = []
    with KoreSimulator(settings, base_url) as sim:
        request, code = sim.authorize(institution_id=institution_id)
        access_token = sim.exchange_code_form_basic(request, code).access_token
        ref = public_ref(str(item_of(sim, access_token)["item_id"]))
        health = _wait_for_health(settings, ref, HEALTHY)
        rows.append((f"1. the user authorizes at {bank}", health, _kore_call(sim, access_token)))
        _wait_for_first_pull(settings)

        plaid_client.sandbox_reset_login(settings, access_token)
        health = _wait_for_health(settings, ref, LOGIN_REQUIRED)
        rows.append(("2. the bank asks for a new login (webhook ITEM ERROR)", health,
                     _kore_call(sim, access_token)))  # fmt: skip

        if not settings.embedded:  # a real user logs in: the link is theirs to open
            rows.append(("3. send the user the repair link (`kore-plaid items` prints it)",
                         health, "-"))  # fmt: skip
            return rows
        _user_logs_in_again(settings, _repair_url(settings, ref), institution_id)
        health = _wait_for_health(settings, ref, HEALTHY)
        rows.append(("3. the user opens the repair link and logs in again", health,
                     _kore_call(sim, access_token)))  # fmt: skip
    return rows


def _wait_for_first_pull(settings: Settings) -> None:
    """Embedded mode: let the emulator's first-pull webhooks (TRANSACTIONS INITIAL_UPDATE,
    HISTORICAL_UPDATE, sent seconds after Link as Plaid does) reach the bridge before the bank
    asks for a login, so the Item's last webhook is the walk's own, whatever the machine's
    speed."""
    if settings.embedded and settings.plaid_api_url:
        wait_for_deliveries(
            settings.plaid_api_url, settings.client_id, settings.secret, WEBHOOK_WAIT_SECONDS
        )


def _kore_call(sim: KoreSimulator, access_token: str) -> str:
    """Kore's balance action with its (unchanged) access token, told in a few words."""
    status, body = plaid_call(sim, "/accounts/get", access_token)
    if status == 200:
        return f"works ({len(body.get('accounts') or [])} accounts)"
    return f"fails: {body.get('error_code') or f'HTTP {status}'}"


def _wait_for_health(
    settings: Settings,
    ref: str,
    wanted: str,
    timeout: float = WEBHOOK_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The Item's health once it is ``wanted``; fails with what to check after ``timeout``."""
    deadline = clock() + timeout
    health = items.item_health(settings, ref)
    while health != wanted and clock() < deadline:
        time.sleep(0.1)
        health = items.item_health(settings, ref)
    if health != wanted:
        raise KoreFlowError(
            f"The Item's health stayed {health!r}: the bridge did not hear Plaid's webhook "
            f"({wanted} expected).",
            fix="Plaid sends webhooks to the bridge's public URL: keep the tunnel open "
            "(notebook 04) and the bridge running (notebook 03), then run this cell again.",
        )
    return health


def _repair_url(settings: Settings, ref: str) -> str:
    url = items.repair_link(settings, ref)
    if url:
        return url
    raise KoreFlowError(
        "The bridge offers no repair link for the Item that needs its user.",
        fix="Run `kore-plaid items` and read the Item's health.",
    )


def _user_logs_in_again(settings: Settings, repair_url: str, institution_id: str) -> None:
    """What the repair page and the Link stand-in post when the user logs in again."""
    with httpx.Client(timeout=30, verify=client_context()) as http:
        link_token = _json(http.post(repair_url + "/link_token", json={}), "link_token")
        login = http.post(
            (settings.plaid_api_url or "").rstrip("/") + "/link/_standin/complete",
            json={
                "link_token": link_token,
                "institution_id": institution_id,
                "username": SANDBOX_USERNAME,
                "password": SANDBOX_PASSWORD,
            },
        )
        _json(login, "public_token")
        _json(http.post(repair_url + "/done", json={"link_token": link_token}), "repaired")


def _json(response: httpx.Response, field: str) -> object:
    body = json_object(response)
    if response.status_code != 200 or field not in body:
        raise KoreFlowError(
            f"The repair did not complete: HTTP {response.status_code}: "
            f"{error_text(response)[:200]}",
            fix="Read the bridge's log (kore-plaid status), then run this cell again.",
        )
    return body[field]
