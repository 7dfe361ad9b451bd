"""The authorization page in Chromium, end to end: Authorization URL -> Link stand-in -> Kore's
callback (stand-in) -> token exchange; the OAuth-bank detour through /oauth-return; the user
exiting; a replayed page or reload after success."""

from __future__ import annotations

import secrets

from browser_support import (
    DESKTOP,
    PHONE,
    Stack,
    at_callback,
    browser,
    open_tab,
    origin,
    pkce_pair,
    query_of,
    stack,
    wait_for_link,
)
from plaid.model.accounts_get_request import AccountsGetRequest

from kore_plaid_nb import plaid_client

__all__ = ["browser", "open_tab", "stack"]  # fixtures used by name

OAUTH_BANK = "ins_127287"


def test_full_flow_reaches_kore_callback_and_token_works(stack: Stack, open_tab) -> None:
    tab = open_tab(DESKTOP)
    page = tab.page
    state = "st-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()

    page.goto(stack.authorize_url(state, challenge))
    heading = page.locator("h1").inner_text()
    assert "Kore.ai" in heading and "Plaid" in page.locator("main").inner_text()
    wait_for_link(page)
    tab.shot("01-authorize-link-open-desktop")
    page.click("#plaid-standin-continue")
    page.wait_for_url(at_callback(stack))
    tab.shot("02-kore-callback-with-code")

    query = query_of(page.url)
    assert query["state"] == state
    assert query["code"] and "error" not in query
    assert len(stack.callbacks_for(state)) == 1

    # Every request of the page went to the bridge or to the Link script's origin; the only
    # other URL is the final navigation to Kore's callback.
    allowed = {origin(stack.bridge_url), origin(stack.emulator_url)}
    seen = [r.url for r in tab.requests if not r.url.startswith(stack.callback_url)]
    assert seen and {origin(u) for u in seen} <= allowed, seen
    assert any("/link/v2/stable/link-initialize.js" in u for u in seen)

    answer = stack.exchange(query["code"], verifier)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "bearer" and token["access_token"].startswith("access-")
    accounts = plaid_client.create(stack.settings).accounts_get(
        AccountsGetRequest(access_token=token["access_token"])
    )
    assert any(a.name == "Plaid Checking" for a in accounts.accounts)


def test_oauth_bank_returns_through_oauth_return_then_kore(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = "oauth-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()
    held = []

    def hold_oauth_completion(route) -> None:
        if "received_redirect_uri" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    page.route("**/link/_standin/complete", hold_oauth_completion)
    page.goto(stack.authorize_url(state, challenge))
    wait_for_link(page)
    page.select_option("#plaid-standin-institution", OAUTH_BANK)
    tab.shot("03-authorize-oauth-bank-chosen-phone")
    page.click("#plaid-standin-continue")
    page.wait_for_url(lambda url: "/oauth-return?" in url)
    assert page.url.startswith(stack.bridge_url + "/oauth-return?oauth_state_id=")
    while not held:
        page.wait_for_timeout(20)
    assert page.locator("main#bridge").get_attribute("data-mode") == "oauth-return"
    tab.shot("04-oauth-return-finishing-phone")
    held[0].continue_()
    page.wait_for_url(at_callback(stack))

    query = query_of(page.url)
    assert query["state"] == state and query["code"]
    navigations = [r.url for r in tab.requests if r.is_navigation_request()]
    assert [origin(u) for u in navigations] == [
        origin(stack.bridge_url),
        origin(stack.bridge_url),
        origin(stack.callback_url),
    ]
    allowed = {origin(stack.bridge_url), origin(stack.emulator_url), origin(stack.callback_url)}
    assert {origin(r.url) for r in tab.requests} <= allowed
    assert stack.exchange(query["code"], verifier).status_code == 200


def test_exit_link_sends_access_denied_with_state(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = "exit-" + secrets.token_urlsafe(12)
    page.goto(stack.authorize_url(state))
    wait_for_link(page)
    page.keyboard.press("Escape")
    page.wait_for_url(at_callback(stack))
    tab.shot("05-kore-callback-access-denied")
    query = query_of(page.url)
    assert query["error"] == "access_denied"
    assert query["state"] == state
    assert "code" not in query


def test_replayed_page_after_success_mints_no_second_code(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = "replay-" + secrets.token_urlsafe(12)
    url = stack.authorize_url(state)
    first = page.goto(url)
    saved_html, saved_headers = first.text(), first.headers
    wait_for_link(page)
    page.click("#plaid-standin-continue")
    page.wait_for_url(at_callback(stack))
    assert len(stack.callbacks_for(state)) == 1

    # The same page (same session) shown again, as from a restored tab or the back/forward
    # cache: Link succeeds but the bridge refuses the used session; the page says so.
    again = open_tab(PHONE)

    # Chromium refuses loopback requests from a page it did not load from the network
    # (Local Network Access), so every request of this tab is relayed by Playwright.
    def replay(route) -> None:
        if route.request.url == url:
            route.fulfill(status=200, headers=saved_headers, body=saved_html)
        else:
            route.fulfill(response=route.fetch())

    again.page.route("**/*", replay)
    again.page.goto(url)
    wait_for_link(again.page)
    again.page.click("#plaid-standin-continue")
    message = again.page.locator("#message")
    message.filter(has_text="already").wait_for()
    assert "conversation" in message.inner_text()
    again.shot("06-replayed-session-refused-phone")

    # Back from Kore's page to the Authorization URL: the page does not start a second
    # authorization for a request this browser already finished.
    page.go_back()
    page.wait_for_url(lambda u: u.startswith(stack.bridge_url))
    page.locator("#message").filter(has_text="already finished").wait_for()
    assert page.locator("#connect").is_hidden() and page.locator("#deny").is_hidden()
    assert page.locator("#plaid-standin-dialog").count() == 0
    tab.shot("07-authorization-url-again-after-success-phone")
    assert len(stack.callbacks_for(state)) == 1
