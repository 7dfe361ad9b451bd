"""The authorization page's Cancel (issue 24): the user leaves without connecting. The page
tells the bridge first (the Link-exit beacon, sent with keepalive so that it outlives the
page), so the authorization is counted failed as ``user_left``, then the browser reaches
Kore's callback with ``error=access_denied``."""

from __future__ import annotations

import secrets
import time

from browser_support import PHONE, Stack, at_callback, browser, open_tab, stack

from kore_plaid_nb.bridge.metrics import catalog

__all__ = ["browser", "open_tab", "stack"]  # fixtures used by name

USER_LEFT = (f"{catalog.PREFIX}_authorizations_failed_total", {"reason": "user_left"})


def users_who_left() -> float:
    return catalog.REGISTRY.get_sample_value(*USER_LEFT) or 0.0


def test_cancel_tells_the_bridge_the_user_left_before_going_back_to_kore(
    stack: Stack, open_tab
) -> None:
    tab = open_tab(PHONE)
    page = tab.page
    page.route("**/link-initialize.js", lambda route: route.abort())  # Cancel is the way out
    state = f"cancelled-{secrets.token_urlsafe(10)}"
    page.goto(stack.authorize_url(state))
    page.locator("#message").filter(has_text="could not be loaded").wait_for()
    session = page.get_attribute("#bridge", "data-session")
    before = users_who_left()
    with page.expect_request("**/api/link_exit") as beacon:
        page.click("#deny")
    page.wait_for_url(at_callback(stack))
    assert beacon.value.method == "POST"
    assert beacon.value.post_data_json == {"session": session, "error": False}
    assert stack.callbacks_for(state)[0]["error"] == "access_denied"
    deadline = time.monotonic() + 10
    while users_who_left() == before and time.monotonic() < deadline:
        time.sleep(0.05)  # the beacon may land after the navigation
    assert users_who_left() == before + 1
