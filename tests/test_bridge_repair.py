"""Repair links over HTTP (``/repair/{token}``): the page is a read (a link preview cannot
spend the link), Link in update mode through the emulator's Link stand-in, the single use
spent on ``done``, readable 4xx for every link that cannot be used, JSON only, and Kore's
access token working again, the same one. A real bridge on each store backend, against the
Plaid emulator and its signed webhooks."""

from __future__ import annotations

import calendar
import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from bridge_support import Bridge
from plaid.model.accounts_get_request import AccountsGetRequest
from store_inspect import change, one, stored_access_tokens

from kore_plaid_nb import cli, plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.items import list_items, new_repair_link
from kore_plaid_nb.bridge.problems import LINK_TOKENS_PER_REPAIR_LINK
from kore_plaid_nb.bridge.store import StoreUnavailable, open_store
from kore_plaid_nb.bridge.store.repair_links import REPAIR_LINK_TTL_SECONDS
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.serving import serve_in_thread

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql"),
    # The Items send their webhooks to the bridge, verified with the emulator's keys as
    # Plaid's would be; the store's clock is the test's.
    pytest.mark.bridge(item_webhooks=True, fake_clock=True),
]

NEW_LINK_ADVICE = "kore-plaid items"


def accounts(settings: settings_module.Settings, access_token: str) -> list[str]:
    """``/accounts/get`` through plaid-python, as Kore's actions call Plaid."""
    api = plaid_client.create(settings)
    answer = api.accounts_get(AccountsGetRequest(access_token=access_token))
    return [a.name for a in answer.accounts]


def plaid_error_code(settings: settings_module.Settings, access_token: str) -> str:
    try:
        accounts(settings, access_token)
    except Exception as exc:
        return plaid_client.error_from_exception(exc).error_code
    return "none"


def test_repair_keeps_kores_access_token_and_spends_the_link_once(bridge: Bridge) -> None:
    access_token = bridge.authorize().access_token
    assert "Plaid Checking" in accounts(bridge.settings, access_token)
    token = bridge.break_login(access_token)
    assert plaid_error_code(bridge.settings, access_token) == "ITEM_LOGIN_REQUIRED"
    codes_before = one(bridge.settings, "SELECT COUNT(*) FROM codes")
    refresh_before = one(bridge.settings, "SELECT COUNT(*) FROM refresh_tokens")

    # The page is only read: viewing it twice (a link preview, then the user) spends nothing.
    for _ in range(2):
        page = bridge.http.get(f"{bridge.url}/repair/{token}")
        assert page.status_code == 200, page.text
        assert "Reconnect your bank" in page.text and "/static/repair.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1

    # "done" before Link was even opened: nothing can have been repaired, nothing is spent.
    unopened = bridge.post(f"/repair/{token}/done", json={})
    assert unopened.status_code == 409, unopened.text
    assert unopened.json()["error"] == "repair_not_started"
    assert "Log in to your bank again" in unopened.json()["fix"]

    # Link in update mode, for the Item's own access token, without products.
    issued = bridge.post(f"/repair/{token}/link_token", json={})
    assert issued.status_code == 200, issued.text
    link_token = issued.json()["link_token"]
    # "done" before the user logged in: Plaid still reports the error, nothing is spent.
    early = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert early.status_code == 409, early.text
    assert early.json()["error"] == "not_repaired" and early.json()["fix"]
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1
    got = plaid_client.call_json(
        plaid_client.create(bridge.settings), "link_token_get", {"link_token": link_token}
    )
    assert got["metadata"]["webhook"] == bridge.url + "/plaid/webhook"
    bridge.link_update_mode(link_token)

    done = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert done.status_code == 200, done.text
    assert done.json() == {"repaired": True}
    again = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert again.status_code == 410 and again.json()["error"] == "repair_link_used"
    assert NEW_LINK_ADVICE in again.json()["fix"]
    assert bridge.post(f"/repair/{token}/link_token", json={}).status_code == 410
    used = bridge.http.get(f"{bridge.url}/repair/{token}")
    assert used.status_code == 410 and "already used" in used.text
    assert NEW_LINK_ADVICE in used.text

    [item] = list_items(bridge.settings, lookup=False)
    assert item["health"] == "healthy" and item["repair_url"] is None
    # Kore's own access token works again: same Item, nothing new issued to Kore.
    assert "Plaid Checking" in accounts(bridge.settings, access_token)
    assert one(bridge.settings, "SELECT COUNT(*) FROM items") == 1
    assert stored_access_tokens(bridge.settings) == [access_token]
    assert one(bridge.settings, "SELECT COUNT(*) FROM codes") == codes_before
    assert one(bridge.settings, "SELECT COUNT(*) FROM refresh_tokens") == refresh_before


def test_links_that_cannot_be_used_get_a_readable_4xx_page(bridge: Bridge) -> None:
    access_token = bridge.authorize().access_token
    token = bridge.break_login(access_token)
    shapes = {
        "unknown": (secrets.token_urlsafe(32), 404),
        "mistyped": ("not%20a%20token", 404),
        "cut short": (token[:10], 404),
        "very long": ("a" * 5000, 404),
    }
    for case, (bad, status) in shapes.items():
        page = bridge.http.get(f"{bridge.url}/repair/{bad}")
        assert page.status_code == status, case
        assert "not one this bridge made" in page.text, case
        assert NEW_LINK_ADVICE in page.text, case
        answer = bridge.post(f"/repair/{bad}/done", json={})
        assert answer.status_code == status and answer.json()["error"] == "repair_link_unknown"

    store_ref = one(bridge.settings, "SELECT public_ref FROM items")
    bridge.clock.advance(REPAIR_LINK_TTL_SECONDS + 1)
    expired = bridge.http.get(f"{bridge.url}/repair/{token}")
    assert expired.status_code == 410 and "expired" in expired.text
    assert NEW_LINK_ADVICE in expired.text
    link = bridge.post(f"/repair/{token}/link_token", json={})
    assert link.status_code == 410 and link.json()["error"] == "repair_link_expired"

    [item] = list_items(bridge.settings, lookup=False, clock=bridge.clock)  # a fresh link
    fresh = item["repair_url"].rsplit("/", 1)[1]
    assert item["item_ref"] == store_ref  # for the same Item
    assert bridge.http.get(f"{bridge.url}/repair/{fresh}").status_code == 200
    change(bridge.settings, "UPDATE items SET removed_at = ?", (bridge.clock(),))  # at Plaid
    removed = bridge.http.get(f"{bridge.url}/repair/{fresh}")
    assert removed.status_code == 410 and "was removed" in removed.text
    assert "authorize the bot again" in removed.text
    assert bridge.post(f"/repair/{fresh}/done", json={}).json()["error"] == "item_removed"
    # no page leaks the token
    for text in (expired.text, removed.text):
        assert token not in text and fresh not in text


def test_the_repair_endpoints_take_json_only_and_a_refusal_spends_nothing(
    bridge: Bridge,
) -> None:
    token = bridge.break_login(bridge.authorize().access_token)
    for path in (f"/repair/{token}/link_token", f"/repair/{token}/done"):
        form = bridge.post(path, data={"x": "1"})
        assert form.status_code == 415, form.text
        assert form.json()["error"] == "unsupported_media_type"
        bare = bridge.post(path, content=b"{}")
        assert bare.status_code == 415
        huge = bridge.post(path, content=b"{" + b" " * 20000 + b"}",
                           headers={"Content-Type": "application/json"})  # fmt: skip
        assert huge.status_code == 413
    assert bridge.http.get(f"{bridge.url}/repair/{token}/done").status_code == 405
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1
    assert bridge.http.get(f"{bridge.url}/repair/{token}").status_code == 200


def test_done_records_the_repair_when_plaid_sends_no_webhook(bridge: Bridge) -> None:
    """PENDING_DISCONNECT: the Item still works at Plaid, so update mode ends without a
    LOGIN_REPAIRED webhook; the page's ``done`` is what makes the Item healthy again."""
    access_token, token = pending_disconnect(bridge)
    assert list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"] == (
        "PENDING_DISCONNECT"
    )
    # Plaid reports no error for PENDING_DISCONNECT: without Link, "done" must not pass.
    bare = bridge.post(f"/repair/{token}/done", json={})
    assert bare.status_code == 409, bare.text
    assert bare.json()["error"] == "repair_not_started"
    assert "Log in to your bank again" in bare.json()["fix"]
    assert list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"] == (
        "PENDING_DISCONNECT"
    )
    link_token = bridge.post(f"/repair/{token}/link_token", json={}).json()["link_token"]
    bridge.link_update_mode(link_token)
    idle = wait_for_deliveries(
        bridge.emulator_url, bridge.settings.client_id, bridge.settings.secret
    )
    to_us = [d["webhook_code"] for d in idle["deliveries"]
             if d["url"].startswith(bridge.url + "/") and d["webhook_type"] == "ITEM"]  # fmt: skip
    assert to_us == ["PENDING_DISCONNECT"]  # no LOGIN_REPAIRED: the Item had no error
    # (repair_links=False: a poll that mints nothing)
    assert list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"] == (
        "PENDING_DISCONNECT"
    )
    done = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert done.json() == {"repaired": True}
    [item] = list_items(bridge.settings, lookup=False)
    assert item["health"] == "healthy" and item["repair_url"] is None
    assert "Plaid Checking" in accounts(bridge.settings, access_token)


def test_a_repair_link_gets_a_few_link_tokens_only(bridge: Bridge) -> None:
    token = bridge.break_login(bridge.authorize().access_token)
    for _ in range(LINK_TOKENS_PER_REPAIR_LINK):
        issued = bridge.post(f"/repair/{token}/link_token", json={})
        assert issued.status_code == 200, issued.text
    over = bridge.post(f"/repair/{token}/link_token", json={})
    assert over.status_code == 429, over.text
    assert over.json()["error"] == "too_many_link_tokens"
    assert over.json()["message"] and NEW_LINK_ADVICE in over.json()["fix"]
    # the link itself is not spent: the user may still finish the Link already opened
    assert bridge.http.get(f"{bridge.url}/repair/{token}").status_code == 200


class FailingHealthBackend:
    """The store's backend, but the statement that makes an Item healthy fails (the
    database went away) while ``failing``."""

    def __init__(self, backend: object) -> None:
        self.backend = backend
        self.dialect = backend.dialect
        self.failing = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[object]:
        with self.backend.transaction() as tx:
            yield FailingHealthTx(tx, self)

    def read(self) -> contextlib.AbstractContextManager[object]:
        return self.backend.read()

    def describe(self) -> str:
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()


@dataclass
class FailingHealthTx:
    tx: object
    owner: FailingHealthBackend

    def execute(self, sql: str, args: tuple = ()) -> object:
        if self.owner.failing and sql.startswith("UPDATE items SET health"):
            raise StoreUnavailable("The database went away.", fix="Retry.")
        return self.tx.execute(sql, args)


def test_a_store_failure_in_done_spends_nothing_and_the_user_can_retry(bridge: Bridge) -> None:
    """Spending the link and making the Item healthy is all or nothing (PENDING_DISCONNECT:
    no LOGIN_REPAIRED webhook makes the Item healthy behind the test's back)."""
    access_token = bridge.authorize().access_token
    api = plaid_client.create(bridge.settings)
    fire = {"access_token": access_token, "webhook_code": "PENDING_DISCONNECT"}
    plaid_client.call_json(api, "sandbox_item_fire_webhook", fire)
    wait_for_deliveries(bridge.emulator_url, bridge.settings.client_id, bridge.settings.secret)
    [item] = list_items(bridge.settings, lookup=False)
    token = item["repair_url"].rsplit("/", 1)[1]
    store = open_store(bridge.settings.bridge_store)
    failing = FailingHealthBackend(store.backend)
    store.backend = failing
    with serve_in_thread(create_app(bridge.settings, store=store), what="bridge") as url:
        issued = bridge.http.post(f"{url}/repair/{token}/link_token", json={})
        assert issued.status_code == 200, issued.text
        link_token = {"link_token": issued.json()["link_token"]}
        bridge.link_update_mode(link_token["link_token"])

        failed = bridge.http.post(f"{url}/repair/{token}/done", json=link_token)
        assert failed.status_code == 503, failed.text
        assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1
        assert list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"] == (
            "PENDING_DISCONNECT"
        )

        failing.failing = False  # the database is back: the same link still works
        done = bridge.http.post(f"{url}/repair/{token}/done", json=link_token)
        assert done.status_code == 200 and done.json() == {"repaired": True}, done.text
    assert list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"] == "healthy"


def pending_disconnect(bridge: Bridge) -> tuple[str, str]:
    """An Item whose bank will disconnect it (Plaid reports no error): its access token and
    the repair token ``kore-plaid items`` hands out."""
    access_token = bridge.authorize().access_token
    api = plaid_client.create(bridge.settings)
    fire = {"access_token": access_token, "webhook_code": "PENDING_DISCONNECT"}
    plaid_client.call_json(api, "sandbox_item_fire_webhook", fire)
    wait_for_deliveries(bridge.emulator_url, bridge.settings.client_id, bridge.settings.secret)
    [item] = list_items(bridge.settings, lookup=False)
    return access_token, item["repair_url"].rsplit("/", 1)[1]


def test_a_pending_disconnect_is_repaired_only_when_plaid_shows_the_update_mode_login(
    bridge: Bridge,
) -> None:
    """Issue 23, 3.9: a Link token handed out is not a repair; Plaid's /link/token/get must
    show the update-mode session on that token succeeded."""
    _, token = pending_disconnect(bridge)
    link_token = bridge.post(f"/repair/{token}/link_token", json={}).json()["link_token"]

    def done(link_token: str) -> dict:
        answer = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
        assert answer.status_code in (200, 409), answer.text
        return dict(answer.json())

    def health() -> str:
        return list_items(bridge.settings, lookup=False, repair_links=False)[0]["health"]

    unfinished = done(link_token)  # Link opened, the user never logged in
    assert unfinished["error"] == "not_repaired" and "Log in to your bank" in unfinished["fix"]
    assert done("")["error"] == "not_repaired"  # no Link token named
    other = bridge.post(f"/repair/{token}/link_token", json={}).json()["link_token"]
    bridge.link_update_mode(link_token)  # a login on the older token: not the one handed out last
    assert done(link_token)["error"] == "not_repaired"
    assert health() == "PENDING_DISCONNECT"
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1

    bridge.link_update_mode(other)
    assert done(other) == {"repaired": True}
    assert health() == "healthy"


def test_listing_again_keeps_the_link_already_sent_working(bridge: Bridge) -> None:
    """Issue 23 fix round: a listing mints a link only for an Item without a live one; the
    link the operator already sent keeps working, shown as sent (not again)."""
    _, first = pending_disconnect(bridge)  # the first listing made it
    for _ in range(2):  # the operator lists again, twice
        [item] = list_items(bridge.settings, lookup=False)
        assert item["repair_url"] is None  # only its digest is kept: not shown again
        sent, until = item["repair_link_sent_at"], item["repair_link_valid_until"]
        assert sent and until
        assert utc_seconds(until) - utc_seconds(sent) == REPAIR_LINK_TTL_SECONDS
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links") == 1
    assert bridge.http.get(f"{bridge.url}/repair/{first}").status_code == 200
    issued = bridge.post(f"/repair/{first}/link_token", json={})
    assert issued.status_code == 200, issued.text  # the user can still use the first link


def utc_seconds(shown: str) -> float:
    return calendar.timegm(time.strptime(shown, "%Y-%m-%d %H:%M:%S UTC"))


def test_a_new_repair_link_spends_the_items_older_ones(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = pending_disconnect(bridge)
    [listed] = list_items(bridge.settings, lookup=False, repair_links=False)
    capsys.readouterr()
    assert cli.main(["items", "--new-repair-link", listed["item_ref"]]) == 0
    shown = capsys.readouterr().out
    second = shown.split("/repair/", 1)[1].split()[0]  # the fresh link, shown once
    assert "no longer works" in shown and second != first
    assert bridge.http.get(f"{bridge.url}/repair/{first}").status_code == 410
    assert bridge.post(f"/repair/{first}/link_token", json={}).json()["error"] == (
        "repair_link_used"
    )
    assert bridge.http.get(f"{bridge.url}/repair/{second}").status_code == 200
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1


def test_a_new_repair_link_is_refused_readably_for_an_item_with_nothing_to_repair(
    bridge: Bridge,
) -> None:
    bridge.authorize()
    [healthy] = list_items(bridge.settings, lookup=False)
    with pytest.raises(RunbookError) as caught:
        new_repair_link(bridge.settings, healthy["item_ref"])
    assert "nothing to repair" in caught.value.message and "kore-plaid items" in caught.value.fix
    with pytest.raises(RunbookError, match="No Item 'itm_000000000000'"):
        new_repair_link(bridge.settings, "itm_000000000000")
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links") == 0
