"""The authorization page's quality in Chromium: readable messages (Link error, expired session,
Link script missing, bad request), phone and desktop layout, keyboard-only use, and nothing
loaded but the page itself and the Link script."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from browser_support import (
    DESKTOP,
    PHONE,
    Stack,
    _missing_browser,
    browser,
    open_tab,
    origin,
    stack,
)

from kore_plaid_nb.emulator import faults

__all__ = ["browser", "open_tab", "stack"]  # fixtures used by name

ITEM_LOCKED = "error_ITEM_LOCKED"  # the sandbox login that fails with ITEM_LOCKED
PAGE_CONTROLS = ("#connect", "#deny")
LINK_CONTROLS = (
    "#plaid-standin-institution",
    "#plaid-standin-password",
    "#plaid-standin-exit",
    "#plaid-standin-continue",
)


def new_state(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(10)}"


def open_authorization(tab, stack: Stack, state: str) -> None:
    tab.page.goto(stack.authorize_url(state))
    tab.page.locator("#plaid-standin-dialog").wait_for(state="visible")


def fail_login_in_link(page) -> None:
    page.fill("#plaid-standin-password", ITEM_LOCKED)
    page.click("#plaid-standin-continue")
    page.locator("#plaid-standin-error").wait_for(state="visible")


def assert_fits(page, width: int, selectors: tuple[str, ...]) -> None:
    """No horizontal scrolling; each control visible and inside the viewport's width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in selectors:
        control = page.locator(selector)
        control.scroll_into_view_if_needed()
        assert control.is_visible(), selector
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
        assert box["height"] >= 24, (selector, box)


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_link_error_shows_readable_message_and_allows_retry(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = new_state("locked")
    open_authorization(tab, stack, state)
    fail_login_in_link(page)
    tab.shot("08-link-error-in-link-phone")
    page.click("#plaid-standin-exit")
    message = page.locator("#message")
    message.filter(has_text="Plaid").wait_for()
    text = message.inner_text()
    assert "unlock your account" in text and "try again" in text, text
    assert "undefined" not in text and "null" not in text and ".." not in text
    assert focused_id(page) == "connect"
    assert page.url.startswith(stack.bridge_url) and not stack.callbacks_for(state)
    assert page.locator("#connect").is_enabled()
    assert_fits(page, PHONE["width"], PAGE_CONTROLS)
    tab.shot("09-authorize-after-link-error-phone")

    page.click("#connect")  # the user retries with the right password
    page.locator("#plaid-standin-dialog").wait_for(state="visible")
    page.click("#plaid-standin-continue")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    assert "code" in stack.callbacks_for(state)[0]


def test_plaid_failure_after_link_is_readable_and_retryable(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = new_state("exchange-fails")
    open_authorization(tab, stack, state)
    faults.inject(
        stack.emulator_url,
        "/item/public_token/exchange",
        error_code="INTERNAL_SERVER_ERROR",
        settings=stack.settings,
    )
    try:
        page.click("#plaid-standin-continue")
        message = page.locator("#message")
        message.filter(has_text="temporary problem").wait_for()
    finally:
        faults.clear(stack.emulator_url, settings=stack.settings)
    text = message.inner_text()
    assert "again" in text and "undefined" not in text and "null" not in text, text
    assert focused_id(page) == "connect" and not stack.callbacks_for(state)
    tab.shot("10a-plaid-exchange-failed-phone")
    page.keyboard.press("Enter")
    page.locator("#plaid-standin-dialog").wait_for(state="visible")
    page.click("#plaid-standin-continue")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    assert "code" in stack.callbacks_for(state)[0]


def test_expired_session_shows_readable_message(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = new_state("expired")
    open_authorization(tab, stack, state)
    stack.expire_sessions()
    page.click("#plaid-standin-continue")
    message = page.locator("#message")
    message.filter(has_text="expired").wait_for()
    assert "start the authorization again" in message.inner_text()
    assert page.url.startswith(stack.bridge_url) and not stack.callbacks_for(state)
    assert page.locator("#connect").is_hidden()
    assert_fits(page, PHONE["width"], ("#deny",))
    assert focused_id(page) == "deny"
    tab.shot("10-session-expired-phone")


def test_missing_link_script_shows_readable_message(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    page.route("**/link-initialize.js", lambda route: route.abort())
    page.goto(stack.authorize_url(new_state("noscript")))
    message = page.locator("#message")
    message.filter(has_text="could not be loaded").wait_for()
    tab.shot("11-link-script-unavailable-phone")


def test_unregistered_callback_gets_error_page(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    query = {
        "response_type": "code",
        "client_id": stack.settings.client_id,
        "redirect_uri": "https://attacker.example/cb",
        "state": "x",
    }
    response = page.goto(f"{stack.bridge_url}/?{urlencode(query)}")
    assert response.status == 400 and page.url.startswith(stack.bridge_url)
    assert "callback" in page.locator("main").inner_text().lower()
    assert_fits(page, PHONE["width"], ("h1", ".message"))
    tab.shot("12-error-page-unregistered-callback-phone")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone-375", "desktop-1280"])
def test_layout_fits_viewport(stack: Stack, open_tab, viewport: dict[str, int]) -> None:
    tab = open_tab(viewport)
    page = tab.page
    label = "phone" if viewport is PHONE else "desktop"
    open_authorization(tab, stack, new_state("layout"))
    assert_fits(page, viewport["width"], LINK_CONTROLS)
    dialog = page.locator("#plaid-standin-dialog").bounding_box()
    assert dialog["y"] >= 0 and dialog["y"] + dialog["height"] <= viewport["height"]
    tab.shot(f"13-authorize-link-open-{label}")
    fail_login_in_link(page)
    page.click("#plaid-standin-exit")
    page.locator("#message").filter(has_text="Plaid").wait_for()
    assert_fits(page, viewport["width"], PAGE_CONTROLS)
    tab.shot(f"14-authorize-page-{label}")


def test_dark_mode_keeps_text_readable(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE, color_scheme="dark")
    page = tab.page
    open_authorization(tab, stack, new_state("dark"))
    fail_login_in_link(page)
    page.click("#plaid-standin-exit")
    page.locator("#message").filter(has_text="Plaid").wait_for()
    colors = page.evaluate(
        """() => ['body', '#message', '#connect'].map(s => {
            const c = getComputedStyle(document.querySelector(s));
            return [c.color, c.backgroundColor];
        })"""
    )
    assert colors[0][0] != "rgb(0, 0, 0)", colors  # light text on the dark canvas
    assert colors[1][0] != colors[1][1] and colors[2][0] != colors[2][1], colors
    tab.shot("17-authorize-page-dark-mode-phone")


def test_keyboard_only_completion(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    keys = page.keyboard
    state = new_state("keyboard")
    open_authorization(tab, stack, state)
    assert focused_id(page) == "plaid-standin-institution"

    # A failed sign-in, then Escape: Link closes with the error, focus lands on Connect.
    keys.press("Tab")
    keys.press("Tab")
    assert focused_id(page) == "plaid-standin-password"
    keys.press("Control+A")
    keys.type(ITEM_LOCKED)
    keys.press("Enter")
    page.locator("#plaid-standin-error").wait_for(state="visible")
    keys.press("Escape")
    page.locator("#message").filter(has_text="Plaid").wait_for()
    assert focused_id(page) == "connect"
    tab.shot("15-keyboard-focus-on-connect-phone")

    # Enter re-opens Link; Tab to the password, fix it, Enter completes.
    keys.press("Enter")
    page.locator("#plaid-standin-dialog").wait_for(state="visible")
    keys.press("Tab")
    keys.press("Tab")
    keys.press("Control+A")
    keys.type("pass_good")
    keys.press("Enter")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query["state"] == state and query["code"]


def test_keyboard_cancel_link_denies_access(stack: Stack, open_tab) -> None:
    tab = open_tab(DESKTOP)
    page = tab.page
    state = new_state("cancel")
    open_authorization(tab, stack, state)
    fail_login_in_link(page)
    page.keyboard.press("Escape")
    page.locator("#message").filter(has_text="Plaid").wait_for()
    for _ in range(4):
        if focused_id(page) == "deny":
            break
        page.keyboard.press("Tab")
    assert focused_id(page) == "deny"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    assert stack.callbacks_for(state)[0]["error"] == "access_denied"


def test_page_loads_only_itself_and_link_script(stack: Stack, open_tab) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    state = new_state("origins")
    open_authorization(tab, stack, state)
    page.click("#plaid-standin-continue")
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    link_origin = origin(stack.emulator_url)
    by_origin: dict[str, list[str]] = {}
    for request in tab.requests:
        if request.is_navigation_request() and request.url.startswith(stack.callback_url):
            continue  # the final hand-off to Kore's callback
        by_origin.setdefault(origin(request.url), []).append(request.url)
    assert set(by_origin) <= {origin(stack.bridge_url), link_origin}, by_origin
    assert any(u.endswith("/link/v2/stable/link-initialize.js") for u in by_origin[link_origin])
    # From the Link script's origin: the script and what the script itself calls.
    assert all("/link/" in urlsplit(u).path for u in by_origin[link_origin])


def test_missing_browser_fails_unless_skip_browser_and_always_under_ci(monkeypatch) -> None:
    """Issue 29: a missing browser skipped 31 tests in silence, green."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SKIP_BROWSER", raising=False)
    with pytest.raises(pytest.fail.Exception, match="SKIP_BROWSER=1"):
        _missing_browser("no browser")
    monkeypatch.setenv("SKIP_BROWSER", "1")
    with pytest.raises(pytest.skip.Exception, match="no browser"):
        _missing_browser("no browser")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no browser"):
        _missing_browser("no browser")


def test_oauth_return_in_another_browser_explains_what_to_do(stack: Stack, open_tab) -> None:
    """A bank app may send the user back into a different browser, without the session."""
    tab = open_tab(PHONE)
    page = tab.page
    page.goto(stack.bridge_url + "/oauth-return?oauth_state_id=" + secrets.token_hex(8))
    message = page.locator("#message")
    message.filter(has_text="different browser").wait_for()
    assert "start the authorization again" in message.inner_text()
    assert page.locator("#connect").is_hidden() and page.locator("#deny").is_hidden()
    assert page.locator("#plaid-standin-dialog").count() == 0
    tab.shot("16-oauth-return-without-session-phone")
