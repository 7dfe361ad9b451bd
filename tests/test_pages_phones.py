"""The end-user pages on phones and in chat apps' webviews, in Chromium.

Playwright's "iPhone 13" and "Pixel 7" descriptors (portrait: viewport, user agent, scale,
touch) both run in Debian's Chromium: WebKit is not installed here, so the iPhone is
Chromium with an iPhone's screen and user agent, not Safari.

- Every page: no horizontal scroll, every control at least 44x44 CSS px, text at least 16 px
  (here on the Pixel 7; on the iPhone 13 in every language in test_pages_accessibility.py).
  Exempt, as WCAG 2.5.8 allows: links inside running text (a sentence of a paragraph or a
  list item); Plaid's own Link (here the emulator's stand-in) is Plaid's page.
- The Link stand-in and Hosted Link open and finish on each phone.
- Chat webviews: in-app browsers' user agents (Facebook, Instagram, LINE, WeChat, Android
  WebView) are served like any browser; with ``window.open`` blocked nothing changes (the
  bridge never opens a window: Link runs in the page, Hosted Link in the same tab); the
  "finishing" page goes on by itself; Kore's page after its callback closes the window the
  chat opened, or says to return to the conversation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browser_support import DEVICES, TIMEOUT_MS, browser, query_of
from pages_support import (
    DIALOG,
    PAGES,
    PagesStack,
    close_repair_link,
    layout_problems,
    new_context,
    open_link_dialog,
    pages_stack,
)

__all__ = ["browser"]  # fixtures used by name

PHONES = ("iPhone 13", "Pixel 7")
IN_APP = {  # user agents of chat apps' in-app browsers
    "facebook-ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/455.0.0.38.107;FBBV/600000000;"
    "FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBLC/en_US;FBOP/5]",
    "instagram-android": "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/UQ1A.240205.004; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 Mobile "
    "Safari/537.36 Instagram 321.0.0.39.106 Android (34/14; 420dpi; 1080x2400; Google; Pixel 7;"
    " panther; tensor; en_US; 567000000)",
    "line-ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Safari Line/14.4.0",
    "wechat-android": "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 "
    "XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F30) NetType/WIFI "
    "Language/en",
    "android-webview": "Mozilla/5.0 (Linux; Android 14; Pixel 7; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36",
}
NO_WINDOW_OPEN = "window.open = function () { return null; };"  # a webview without popups
RETURN_TO_CHAT = "return to the conversation"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesStack]:
    with pages_stack(tmp_path_factory.mktemp("pages-phones-home")) as served:
        yield served


@pytest.fixture
def phone_context(browser: Any) -> Iterator[object]:
    """``phone_context(name, **options)``: a new English context on that phone; closed after
    the test."""
    contexts: list[Any] = []

    def open_(name: str, **options: Any) -> Any:
        context = new_context(browser, DEVICES[name], "en", **options)
        contexts.append(context)
        return context

    yield open_
    for context in contexts:
        context.close()


def new_state(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def connect_in_link(page: Any, stack: PagesStack, state: str) -> dict[str, str]:
    """On the authorization page: Link opens, the user continues, the browser reaches Kore's
    callback page; what Kore received."""
    page.locator(DIALOG).wait_for(state="visible")
    page.locator("#plaid-standin-continue").tap()
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    received = stack.kore.pop(state)
    assert received is not None and received["code"] and "error" not in received, received
    return received


def connect_in_hosted_link(page: Any, stack: PagesStack, state: str) -> dict[str, str]:
    page.goto(stack.authorize_url(state, hosted=True))
    assert page.url.startswith(stack.emulator_url + "/hosted-link/")
    page.locator("#plaid-standin-continue").tap()
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    received = stack.kore.pop(state)
    assert received is not None and received["code"] and "error" not in received, received
    return received


def back_in_the_chat(page: Any) -> None:
    """Kore's page after its callback, in a window the chat did not open: it stays and says
    where to go."""
    text = page.locator("#return").inner_text()
    assert RETURN_TO_CHAT in text, text


# -- every page fits the phone -------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_page_fits_the_phone(stack: PagesStack, phone_context, name: str) -> None:
    """On the Pixel 7; test_pages_accessibility.py makes the same checks (layout_problems)
    on the iPhone 13, in every language."""
    phone = "Pixel 7"
    page = phone_context(phone).new_page()
    shown = PAGES[name](page, stack, "en")
    assert layout_problems(page) == [], (phone, shown.name)
    if name == "authorize":
        page.locator("#connect").tap()
        open_link_dialog(page)
        assert layout_problems(page) == [], (phone, "Link open")
        box = page.locator(DIALOG).bounding_box()
        viewport = page.viewport_size
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    if name == "repair":
        close_repair_link(page, shown)
        assert layout_problems(page) == [], (phone, "repair page, Link closed")


# -- Link and Hosted Link, start to finish, on each phone -----------------------------------


@pytest.mark.parametrize("phone", PHONES)
def test_link_standin_opens_and_finishes(stack: PagesStack, phone_context, phone: str) -> None:
    page = phone_context(phone).new_page()
    state = new_state("phone")
    page.goto(stack.authorize_url(state))
    connect_in_link(page, stack, state)
    back_in_the_chat(page)


@pytest.mark.parametrize("phone", PHONES)
def test_hosted_link_opens_and_finishes(stack: PagesStack, phone_context, phone: str) -> None:
    page = phone_context(phone).new_page()
    state = new_state("hosted-phone")
    connect_in_hosted_link(page, stack, state)
    back_in_the_chat(page)


def test_the_finishing_page_goes_on_by_itself_without_reloading(
    stack: PagesStack, phone_context
) -> None:
    """Back from Hosted Link before Plaid finished: the page asks again (JSON) and goes on to
    Kore once Plaid has finished; it never reloads itself."""
    page = phone_context("Pixel 7").new_page()
    state = new_state("finishing")
    page.goto(stack.authorize_url(state, hosted=True))
    hosted_url = page.url
    session = page.locator("input[name=link_session_id]").first.get_attribute("value")
    loads: list[str] = []
    page.on("framenavigated", lambda frame: loads.append(frame.url))
    assert page.goto(stack.completions[-1]).status == 202
    page.locator("#finishing").wait_for()
    assert stack.kore.pop(state) is None

    # The user finished at Plaid on another device or tab: Plaid now has the public token.
    done = httpx.post(
        hosted_url,
        data={
            "link_session_id": session,
            "institution_id": "ins_109508",
            "username": "user_good",
            "password": "pass_good",
        },
        timeout=15,
    )
    assert done.status_code == 303, done.text
    page.wait_for_url(lambda url: url.startswith(stack.callback_url), timeout=TIMEOUT_MS)
    received = stack.kore.pop(state)
    assert received is not None and received["code"], received
    assert [u for u in loads if "/hosted-link/return" in u] == [stack.completions[-1]], loads

    # What the page's check gets for a session the bridge does not know: the refusal, as JSON.
    unknown = stack.completions[-1].split("?")[0] + "?return_id=" + secrets.token_hex(16)
    answer = httpx.get(unknown, headers={"Accept": "application/json"}, timeout=15)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_session", answer.text


# -- chat apps' webviews ---------------------------------------------------------------------


@pytest.mark.parametrize("app", IN_APP)
def test_an_in_app_browser_is_served_like_any_other(
    stack: PagesStack, phone_context, app: str
) -> None:
    phone = "iPhone 13" if "ios" in app else "Pixel 7"
    page = phone_context(phone, user_agent=IN_APP[app]).new_page()
    assert IN_APP[app] == page.evaluate("navigator.userAgent")
    state = new_state("in-app")
    response = page.goto(stack.authorize_url(state))
    assert response.status == 200
    connect_in_link(page, stack, state)
    back_in_the_chat(page)
    if app == "android-webview":
        connect_in_hosted_link(page, stack, new_state("in-app-hosted"))


def test_window_open_blocked_changes_nothing(stack: PagesStack, phone_context) -> None:
    """A webview that opens no window: Link runs in the page, Hosted Link in the same tab."""
    context = phone_context("Pixel 7")
    context.add_init_script(NO_WINDOW_OPEN)
    page = context.new_page()
    assert page.evaluate("window.open('about:blank')") is None
    state = new_state("no-popup")
    page.goto(stack.authorize_url(state))
    connect_in_link(page, stack, state)
    back_in_the_chat(page)
    connect_in_hosted_link(page, stack, new_state("no-popup-hosted"))
    back_in_the_chat(page)
    assert len(context.pages) == 1


def test_kores_page_closes_the_window_the_chat_opened(stack: PagesStack, phone_context) -> None:
    """Kore answers the token request with closeWindow: true (its Plaid sample); its page then
    closes the authorization window that the chat opened."""
    context = phone_context("iPhone 13")
    chat = context.new_page()
    chat.goto("about:blank")  # the chat
    state = new_state("popup")
    with context.expect_page() as opened:
        chat.evaluate("url => { window.open(url); }", stack.authorize_url(state))
    window = opened.value
    window.locator(DIALOG).wait_for(state="visible")
    with window.expect_event("close"):
        window.locator("#plaid-standin-continue").tap()
    received = stack.kore.pop(state)
    assert received is not None and received["code"], received
    assert context.pages == [chat]


def test_kores_page_says_to_return_to_the_conversation_after_a_denial(
    stack: PagesStack, phone_context
) -> None:
    page = phone_context("Pixel 7").new_page()
    state = new_state("deny")
    page.goto(stack.authorize_url(state))
    page.locator(DIALOG).wait_for(state="visible")
    page.keyboard.press("Escape")  # the user leaves Link: Kore gets access_denied
    page.wait_for_url(lambda url: url.startswith(stack.callback_url))
    assert query_of(page.url)["error"] == "access_denied"
    assert re.search("not authorized", page.locator("h1").inner_text(), re.I)
    back_in_the_chat(page)
