"""LINK_MODE=hosted in Chromium: the Authorization URL sends the browser to the emulator's
Hosted Link page, the user connects a bank there, Plaid sends the browser back to the bridge,
and the bridge sends it on to Kore's callback (stand-in) with a code that Kore's token request
redeems for the Item; or the user presses Exit there and Kore gets access_denied."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import PHONE, Stack, browser, open_tab, origin, pkce_pair, serving_stack
from plaid.model.accounts_get_request import AccountsGetRequest

from kore_plaid_nb import plaid_client
from kore_plaid_nb.bridge.hosted_link import RETURN_PATH

__all__ = ["browser", "open_tab"]  # fixtures used by name


@pytest.fixture(scope="module")
def hosted_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Emulator, a LINK_MODE=hosted bridge and Kore's callback stand-in, in-process."""
    with serving_stack(tmp_path_factory.mktemp("hosted-browser-home"), link_mode="hosted") as s:
        yield s


def open_hosted_link(stack: Stack, page: object, state: str, challenge: str, button: str) -> None:
    """Kore's Authorization URL -> the emulator's Hosted Link page, ``button`` visible."""
    page.goto(stack.authorize_url(state, challenge))
    assert page.url.startswith(stack.emulator_url + "/hosted-link/")
    page.locator(button).wait_for(state="visible")


def test_hosted_link_authorization_reaches_kore_with_a_code_that_redeems(
    hosted_stack: Stack, open_tab
) -> None:
    stack = hosted_stack
    tab = open_tab(PHONE)
    page = tab.page
    state = "hosted-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()

    open_hosted_link(stack, page, state, challenge, "#plaid-standin-continue")
    tab.shot("hosted-link-01-plaid-hosted-page-phone")
    page.click("#plaid-standin-continue")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    tab.shot("hosted-link-02-kore-callback-with-code")

    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query["state"] == state and query["code"] and "error" not in query
    assert len(stack.callbacks_for(state)) == 1

    # Bridge -> Plaid's Hosted Link -> back to the bridge -> Kore: nothing else was visited.
    navigations = [r.url for r in tab.requests if r.is_navigation_request()]
    assert [origin(u) for u in navigations] == [
        origin(stack.bridge_url),
        origin(stack.emulator_url),
        origin(stack.emulator_url),  # the hosted page's form posts to itself
        origin(stack.bridge_url),
        origin(stack.callback_url),
    ], navigations
    assert urlsplit(navigations[3]).path == RETURN_PATH

    answer = stack.exchange(query["code"], verifier)
    assert answer.status_code == 200, answer.text
    access_token = answer.json()["access_token"]
    accounts = plaid_client.create(stack.settings).accounts_get(
        AccountsGetRequest(access_token=access_token)
    )
    assert any(a.name == "Plaid Checking" for a in accounts.accounts)


def test_hosted_link_exit_reaches_kore_with_access_denied_and_the_return_is_used(
    hosted_stack: Stack, open_tab
) -> None:
    stack = hosted_stack
    tab = open_tab(PHONE)
    page = tab.page
    state = "hosted-exit-" + secrets.token_urlsafe(12)
    _, challenge = pkce_pair()

    open_hosted_link(stack, page, state, challenge, "#plaid-standin-exit")
    page.click("#plaid-standin-exit")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    tab.shot("hosted-link-03-kore-callback-after-exit")

    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query["error"] == "access_denied" and query["state"] == state, query
    assert "code" not in query and stack.callbacks_for(state) == [query]

    navigations = [r.url for r in tab.requests if r.is_navigation_request()]
    (return_url,) = [u for u in navigations if urlsplit(u).path == RETURN_PATH]
    assert origin(return_url) == origin(stack.bridge_url)

    # Reloading the return URL (back button, a second tab) finds the session closed for good.
    again = page.goto(return_url)
    assert again is not None and again.status == 409
    assert "already completed" in page.content()
    assert len(stack.callbacks_for(state)) == 1
