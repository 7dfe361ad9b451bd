"""Repairing a bank connection in Chromium, end to end, without authorizing again in Kore: an
end user authorizes (Authorization URL -> Link stand-in -> Kore's callback -> token), the bank
asks for its login again (the emulator's signed ITEM ERROR webhook reaches the bridge),
``list_items`` hands out a repair link, the user opens it and logs in through Link in update
mode, and Kore's old access token works again. Plus: a forged webhook changes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from browser_support import (
    DESKTOP,
    PHONE,
    Stack,
    browser,
    callback_standin,
    open_tab,
    origin,
    pkce_pair,
)
from cryptography.hazmat.primitives.asymmetric import ec
from plaid.model.accounts_get_request import AccountsGetRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kore_plaid_nb import plaid_client
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.items import list_items
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

__all__ = ["browser", "open_tab"]  # fixtures used by name

CALLBACK_PATH = "/workflows/callback"
REPAIRED = "Your bank connection is repaired. You can close this window."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Emulator, Kore's callback stand-in, and a bridge whose public URL is its own address
    (so ``list_items`` hands out repair links the browser can open)."""
    home = tmp_path_factory.mktemp("repair-home")
    received: list[dict[str, str]] = []
    base = Settings(home=home, env_file=home / ".env")
    port = free_port()
    with (
        serve_in_thread(callback_standin(received), what="Kore callback stand-in") as kore,
        running_emulator(base, state_path=home / "emulator.sqlite3") as emulator_url,
    ):
        callback_url = kore + CALLBACK_PATH
        settings = base.with_values(
            plaid_api_url=emulator_url,
            plaid_redirect_uri=callback_url,
            app_port=port,
            bridge_public_url=f"http://127.0.0.1:{port}",
        )
        with running_bridge(settings, port=port) as bridge_url:
            yield Stack(settings, emulator_url, bridge_url, callback_url, received)


def accounts(settings: Settings, access_token: str) -> list[str]:
    """``/accounts/get`` through plaid-python, as Kore's actions call Plaid."""
    answer = plaid_client.create(settings).accounts_get(
        AccountsGetRequest(access_token=access_token)
    )
    return [a.name for a in answer.accounts]


def plaid_error_code(settings: Settings, access_token: str) -> str:
    try:
        accounts(settings, access_token)
    except Exception as exc:
        return plaid_client.error_from_exception(exc).error_code
    return "none"


def one_unused_link(stack: Stack) -> bool:
    with contextlib.closing(sqlite3.connect(stack.settings.bridge_db_path)) as db:
        [(unused,)] = db.execute("SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL")
    return unused == 1


def delivered(stack: Stack) -> list[dict]:
    """Wait until the emulator has sent every queued webhook; what it sent."""
    s = stack.settings
    answer = wait_for_deliveries(stack.emulator_url, s.client_id, s.secret)
    assert answer["pending"] == 0, answer
    return answer["deliveries"]


def item_of(stack: Stack, access_token: str) -> dict:
    tail = access_token[-4:]
    [item] = [i for i in list_items(stack.settings) if i["access_token"].endswith(tail)]
    return item


def authorize_in_browser(stack: Stack, open_tab) -> str:
    """The end user authorizes; Kore redeems the code: Kore's access token."""
    tab = open_tab(DESKTOP)
    state = "repair-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()
    tab.page.goto(stack.authorize_url(state, challenge))
    tab.page.locator("#plaid-standin-dialog").wait_for(state="visible")
    tab.page.click("#plaid-standin-continue")
    tab.page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    query = {k: v[0] for k, v in parse_qs(urlsplit(tab.page.url).query).items()}
    assert query["state"] == state
    answer = stack.exchange(query["code"], verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_the_user_repairs_the_connection_and_kores_old_token_works_again(
    stack: Stack, open_tab
) -> None:
    access_token = authorize_in_browser(stack, open_tab)
    assert "Plaid Checking" in accounts(stack.settings, access_token)
    delivered(stack)
    assert item_of(stack, access_token)["health"] == "healthy"
    items_before = len(list_items(stack.settings, lookup=False))

    # The bank asks for the login again: Plaid's signed ITEM ERROR webhook reaches the bridge.
    api = plaid_client.create(stack.settings)
    plaid_client.call_json(api, "sandbox_item_reset_login", {"access_token": access_token})
    sent = [d for d in delivered(stack) if d["webhook_code"] == "ERROR"]
    assert sent and sent[-1]["url"] == stack.bridge_url + "/plaid/webhook"
    assert sent[-1]["status_code"] == 200, sent
    item = item_of(stack, access_token)
    assert item["health"] == "ITEM_LOGIN_REQUIRED" and item["last_webhook"] == "ITEM ERROR"
    repair_url = item["repair_url"]
    assert repair_url.startswith(stack.bridge_url + "/repair/")
    assert plaid_error_code(stack.settings, access_token) == "ITEM_LOGIN_REQUIRED"

    # The user opens the repair link and logs in to the bank again (Link in update mode).
    tab = open_tab(PHONE)
    page = tab.page
    page.goto(repair_url)
    assert "Reconnect your bank" in page.locator("h1").inner_text()
    dialog = page.locator("#plaid-standin-dialog")
    dialog.wait_for(state="visible")
    # Closing Link first repairs nothing and leaves the way to try again.
    page.click("#plaid-standin-exit")
    page.locator("#message").filter(has_text="not repaired yet").wait_for()
    assert one_unused_link(stack)
    page.click("#connect")
    dialog.wait_for(state="visible")
    assert "Reconnect your bank" in page.locator("#plaid-standin-title").inner_text()
    page.fill("#plaid-standin-username", "user_good")
    page.fill("#plaid-standin-password", "pass_good")
    tab.shot("20-repair-link-update-mode-phone")
    page.click("#plaid-standin-continue")
    message = page.locator("#message")
    message.filter(has_text=REPAIRED).wait_for()  # not the earlier "not repaired yet"
    assert message.inner_text() == REPAIRED
    assert page.locator("h1").inner_text() == "Bank connection repaired"
    assert page.locator("#connect").is_hidden()
    tab.shot("21-repair-done-phone")
    assert {origin(r.url) for r in tab.requests} <= {
        origin(stack.bridge_url),
        origin(stack.emulator_url),
    }

    # Healthy again; Kore's OLD access token works; no new Item, nothing new for Kore.
    repaired = [d for d in delivered(stack) if d["webhook_code"] == "LOGIN_REPAIRED"]
    assert repaired and repaired[-1]["status_code"] == 200
    item = item_of(stack, access_token)
    assert item["health"] == "healthy" and item["repair_url"] is None
    assert "Plaid Checking" in accounts(stack.settings, access_token)
    assert len(list_items(stack.settings, lookup=False)) == items_before

    # The link was single use: opened again, it says so and what to do.
    again = open_tab(PHONE)
    response = again.page.goto(repair_url)
    assert response.status == 410
    assert "already used" in again.page.locator("main").inner_text()
    assert "kore-plaid items" in again.page.locator("main").inner_text()


def capture_app(captured: list[tuple[bytes, str]]) -> Starlette:
    async def receive(request: Request) -> Response:
        captured.append((await request.body(), request.headers.get("plaid-verification", "")))
        return Response(status_code=200)

    return Starlette(routes=[Route("/hook", receive, methods=["POST"])])


def authorize_over_http(stack: Stack) -> str:
    """An authorization without a browser (the page's JSON calls): Kore's access token."""
    verifier, challenge = pkce_pair()
    with httpx.Client(timeout=15) as http:
        start = http.get(
            stack.authorize_url("forge", challenge), headers={"Accept": "application/json"}
        )
        public = plaid_client.call_json(
            plaid_client.create(stack.settings),
            "sandbox_public_token_create",
            {
                "institution_id": "ins_109508",
                "initial_products": ["transactions"],
                "options": {"webhook": stack.bridge_url + "/plaid/webhook"},
            },
        )["public_token"]
        done = http.post(
            stack.bridge_url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": public},
        )
        assert done.status_code == 200, done.text
    code = parse_qs(urlsplit(done.json()["redirect_to"]).query)["code"][0]
    return stack.exchange(code, verifier).json()["access_token"]


def test_a_forged_item_error_webhook_gets_401_and_changes_nothing(stack: Stack) -> None:
    access_token = authorize_over_http(stack)
    delivered(stack)
    before = item_of(stack, access_token)
    assert before["health"] == "healthy"

    # A genuine webhook of the emulator (sent to a capture server) names Plaid's key.
    api = plaid_client.create(stack.settings)
    captured: list[tuple[bytes, str]] = []
    with serve_in_thread(capture_app(captured), what="webhook capture") as capture:
        plaid_client.call_json(
            api, "item_webhook_update", {"access_token": access_token, "webhook": capture + "/hook"}
        )
        delivered(stack)
    [(genuine_body, genuine_jwt)] = captured
    kid = jwt.get_unverified_header(genuine_jwt)["kid"]
    item_id = json.loads(genuine_body)["item_id"]
    after_update = item_of(stack, access_token)

    body = json.dumps(
        {
            "webhook_type": "ITEM",
            "webhook_code": "ERROR",
            "item_id": item_id,
            "error": {"error_code": "ITEM_LOGIN_REQUIRED"},
            "environment": "sandbox",
        },
        indent=2,
    ).encode()
    other_key = ec.generate_private_key(ec.SECP256R1())
    claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
    forged = {
        "another key under Plaid's kid": jwt.encode(
            claims, other_key, algorithm="ES256", headers={"kid": kid}
        ),
        "Plaid's signature on another body": genuine_jwt,
    }
    for case, signature in forged.items():
        answer = httpx.post(
            stack.bridge_url + "/plaid/webhook",
            content=body,
            headers={"Content-Type": "application/json", "Plaid-Verification": signature},
        )
        assert answer.status_code == 401, (case, answer.text)
        assert answer.json()["error"] == "invalid_webhook"
    item = item_of(stack, access_token)
    assert item["health"] == "healthy" and item["repair_url"] is None
    assert item["last_webhook"] == after_update["last_webhook"]
    assert item["last_webhook_at"] == after_update["last_webhook_at"]
    assert "Plaid Checking" in accounts(stack.settings, access_token)
