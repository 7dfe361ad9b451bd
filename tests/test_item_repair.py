"""Notebook 07's walk of one Item over time (kore/item_repair.py), against a real bridge and
the emulator: healthy -> ITEM_LOGIN_REQUIRED by a signed webhook -> repaired, Kore's token
unchanged; and what it says when a part is missing."""

from __future__ import annotations

import dataclasses
import time

import pytest
from store_inspect import one

from kore_plaid_nb import settings
from kore_plaid_nb.bridge import items, running_bridge
from kore_plaid_nb.bridge.store import open_store
from kore_plaid_nb.kore import item_repair
from kore_plaid_nb.kore.simulator import KoreFlowError, KoreSimulator, StepSkipped


def test_the_walk_breaks_and_repairs_one_item_with_kores_token_unchanged(
    embedded: settings.Settings,
) -> None:
    with running_bridge(embedded, port=embedded.app_port) as url:
        rows = item_repair.walk_item_repair(embedded, url)
        listed = items.list_items(embedded, lookup=False)

    assert [(health, call) for _what, health, call in rows] == [
        ("healthy", "works (9 accounts)"),
        ("ITEM_LOGIN_REQUIRED", "fails: ITEM_LOGIN_REQUIRED"),
        ("healthy", "works (9 accounts)"),
    ]
    assert len(listed) == 1  # repaired in place: no second Item
    assert listed[0]["health"] == "healthy"
    assert listed[0]["last_webhook"] == "ITEM LOGIN_REPAIRED"
    assert listed[0]["repair_url"] is None


def test_the_simulated_user_gives_the_item_the_link_tokens_webhook(
    embedded: settings.Settings,
) -> None:
    with (
        running_bridge(embedded, port=embedded.app_port) as url,
        KoreSimulator(embedded, url) as sim,
    ):
        session = sim.get_link_token(sim.authorization_request())
        webhook = sim.link_token_webhook(session)

    assert webhook == f"{url}/plaid/webhook"


def test_the_walk_needs_the_sandbox(embedded: settings.Settings) -> None:
    production = dataclasses.replace(embedded, plaid_env="production")

    with pytest.raises(StepSkipped, match="Only Plaid's Sandbox"):
        item_repair.walk_item_repair(production, "http://127.0.0.1:9")


def test_no_webhook_heard_names_the_tunnel_and_the_bridge(
    embedded: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(items, "item_health", lambda _settings, _ref: "healthy")

    with pytest.raises(KoreFlowError) as caught:
        item_repair._wait_for_health(embedded, "itm_000000000000", "ITEM_LOGIN_REQUIRED", 0.3)

    assert "did not hear Plaid's webhook" in caught.value.message
    assert "tunnel" in caught.value.fix and "bridge" in caught.value.fix


def test_the_walk_mints_a_repair_link_for_its_own_item_only(embedded: settings.Settings) -> None:
    store = open_store(embedded.bridge_store, pool_size=1)
    try:
        with store.backend.transaction() as tx:
            for n in range(3):
                tx.execute(
                    "INSERT INTO items (item_id, access_token, client_user_id, created_at,"
                    " public_ref, health) VALUES (?, ?, ?, ?, ?, ?)",
                    (f"item-{n}", f"access-sandbox-{n}", "u", time.time(), f"itm_00000000000{n}",
                     "healthy" if n == 2 else "ITEM_LOGIN_REQUIRED"),
                )  # fmt: skip
    finally:
        store.close()

    url = item_repair._repair_url(embedded, "itm_000000000001")
    with pytest.raises(KoreFlowError, match="no repair link"):
        item_repair._repair_url(embedded, "itm_000000000002")  # healthy: nothing to repair

    assert "/repair/" in url
    assert one(embedded, "SELECT COUNT(*) FROM repair_links") == 1
    assert one(embedded, "SELECT public_ref FROM items WHERE id = (SELECT item_ref FROM"
                         " repair_links)") == "itm_000000000001"  # fmt: skip


def test_a_refused_repair_step_says_the_bridges_message() -> None:
    """The repair routes answer the bridge's ``{"error", "message", "fix"}``: the walk tells
    that message, not the raw body."""
    import httpx

    refused = httpx.Response(
        410,
        json={"error": "repair_used", "message": "This repair link was used.", "fix": "f"},
    )
    with pytest.raises(KoreFlowError) as told:
        item_repair._json(refused, "link_token")
    assert told.value.message == (
        "The repair did not complete: HTTP 410: repair_used: This repair link was used."
    )
    assert item_repair._json(httpx.Response(200, json={"link_token": "lt"}), "link_token") == "lt"
    with pytest.raises(KoreFlowError, match="HTTP 200: Sign in to the Wi-Fi"):
        item_repair._json(httpx.Response(200, text="<p>Sign in to the Wi-Fi</p>"), "link_token")
