"""Issue 27, "fast on a slow phone": a browser that navigates to the authorization page starts
its Link token's Plaid call at once (:mod:`kore_plaid_nb.bridge.routes.link_token_ahead`), and
the page's POST /api/link_token takes that call's answer. Issue 15's contract holds: a page
only fetched (a preview, a crawler, a prefetch) costs no Plaid call; one Plaid call and one
Link token counted per page; a failure of that call reaches the page as before, and a retry
works; a POST that reaches another replica asks Plaid itself."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import authorize_query
from http_support import TLS
from store_inspect import one

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.routes.link_token_ahead import LinkTokensAhead, is_browser_navigation
from kore_plaid_nb.bridge.store.records import digest
from kore_plaid_nb.emulator import faults

CREATE = "/link/token/create"
USES = 100  # a fault counting the calls of CREATE: what is left of it tells how many came
# What Chromium sends when its user opens a link (Fetch Metadata)
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-User": "?1",
}


@pytest.fixture
def settings(home: Path, emulator_url: str) -> settings_module.Settings:
    return settings_module.load().with_values(plaid_api_url=emulator_url)


@pytest.fixture
def bridge(settings: settings_module.Settings) -> Iterator[str]:
    with running_bridge(settings) as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20, verify=TLS) as client:
        yield client


@pytest.fixture
def counted_calls(emulator_url: str) -> Iterator[None]:
    faults.clear(emulator_url)
    faults.inject(emulator_url, CREATE, count=USES, delay=0.01)
    yield
    faults.clear(emulator_url)


def plaid_calls(emulator_url: str) -> int:
    """Calls of /link/token/create since :func:`counted_calls` (a fault with a huge count
    injected after it is not counted)."""
    left = [f for f in faults.pending(emulator_url) if f["endpoint"] == CREATE]
    return USES - min((int(str(f["count"])) for f in left), default=0)


def open_page(http: httpx.Client, bridge: str, settings, **headers: str) -> str:
    page = http.get(bridge + "/?" + authorize_query(settings), headers=headers)
    assert page.status_code == 200, page.text
    return re.search(r'data-session="([^"]+)"', page.text).group(1)


def link_tokens(settings, session: str) -> int:
    return int(
        one(settings, "SELECT link_tokens FROM sessions WHERE digest = ?", (digest(session),))
    )


def wait_for_calls(emulator_url: str, expected: int) -> None:
    deadline = time.monotonic() + 10
    while plaid_calls(emulator_url) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert plaid_calls(emulator_url) == expected


def test_fetch_metadata_tells_a_browser_navigation() -> None:
    assert is_browser_navigation({"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"})
    assert not is_browser_navigation({})  # previewers, crawlers, HTTP clients
    assert not is_browser_navigation({"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe"})
    assert not is_browser_navigation({"sec-fetch-mode": "cors", "sec-fetch-dest": "empty"})
    for purpose in (
        {"sec-purpose": "prefetch"},
        {"sec-purpose": "prefetch;prerender"},
        {"purpose": "prefetch"},
        {"sec-purpose": "Prefetch"},
    ):
        headers = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", **purpose}
        assert not is_browser_navigation(headers), purpose


@pytest.mark.usefixtures("counted_calls")
def test_a_browser_navigation_starts_the_link_token_and_the_page_takes_it(
    settings, bridge: str, http: httpx.Client, emulator_url: str
) -> None:
    session = open_page(http, bridge, settings, **NAVIGATION)
    wait_for_calls(emulator_url, 1)  # Plaid was asked before the page's script asked
    asked = http.post(bridge + "/api/link_token", json={"session": session})
    assert asked.status_code == 200, asked.text
    assert re.fullmatch(r"link-sandbox-[0-9a-f-]{36}", asked.json()["link_token"])
    assert plaid_calls(emulator_url) == 1  # that same call, counted once
    assert link_tokens(settings, session) == 1
    again = http.post(bridge + "/api/link_token", json={"session": session})
    assert again.status_code == 200, again.text  # a retry: a Link token of its own
    assert again.json()["link_token"] != asked.json()["link_token"]
    assert plaid_calls(emulator_url) == 2
    assert link_tokens(settings, session) == 2


@pytest.mark.usefixtures("counted_calls")
def test_previews_crawlers_and_prefetches_cost_no_plaid_call(
    settings, bridge: str, http: httpx.Client, emulator_url: str
) -> None:
    sessions = [
        open_page(http, bridge, settings),  # a link previewer or crawler: no Fetch Metadata
        open_page(http, bridge, settings, **NAVIGATION, **{"Sec-Purpose": "prefetch"}),
        open_page(http, bridge, settings, **NAVIGATION, **{"Sec-Purpose": "prefetch;prerender"}),
        open_page(http, bridge, settings, **NAVIGATION, Purpose="prefetch"),
        open_page(http, bridge, settings, **{**NAVIGATION, "Sec-Fetch-Dest": "iframe"}),
    ]
    time.sleep(0.3)  # long enough for a call the bridge would have started
    assert plaid_calls(emulator_url) == 0
    assert [link_tokens(settings, s) for s in sessions] == [0] * len(sessions)


def test_a_failed_early_call_reaches_the_page_as_before_and_a_retry_works(
    settings, bridge: str, http: httpx.Client, emulator_url: str
) -> None:
    answers = []
    for headers in ({}, NAVIGATION):  # the page's own call, then the call started ahead
        # more failures than the bridge's retries
        faults.inject(emulator_url, CREATE, error_code="INTERNAL_SERVER_ERROR", count=10)
        try:
            session = open_page(http, bridge, settings, **headers)
            failed = http.post(bridge + "/api/link_token", json={"session": session})
        finally:
            faults.clear(emulator_url)
        body = failed.json()
        answers.append((failed.status_code, body.get("error"), body.get("message")))
        assert failed.status_code >= 400 and body.get("fix"), failed.text
        retried = http.post(bridge + "/api/link_token", json={"session": session})
        assert retried.status_code == 200, retried.text
        assert retried.json()["link_token"].startswith("link-sandbox-")
    assert answers[0] == answers[1]


@pytest.mark.usefixtures("counted_calls")
def test_another_replica_asks_plaid_itself(
    settings, bridge: str, http: httpx.Client, emulator_url: str
) -> None:
    """Replicas share the store, not the calls in flight: the one the page's POST reaches
    asks Plaid for its own Link token (the session then counts two)."""
    with running_bridge(settings) as other:
        session = open_page(http, bridge, settings, **NAVIGATION)
        asked = http.post(other + "/api/link_token", json={"session": session})
    assert asked.status_code == 200, asked.text
    assert asked.json()["link_token"].startswith("link-sandbox-")
    wait_for_calls(emulator_url, 2)
    assert link_tokens(settings, session) == 2


def test_the_early_request_is_the_only_inline_script_the_policy_allows(
    settings, bridge: str, http: httpx.Client
) -> None:
    page = http.get(bridge + "/?" + authorize_query(settings), headers=NAVIGATION)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", page.text, re.DOTALL)
    code = [text for attrs, text in inline if "application/json" not in attrs]
    assert len(code) == 1 and '"/api/link_token"' in code[0]
    assert page.text.index(code[0]) < page.text.index("<title>")  # the top of <head>
    digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    [script_src] = [p.strip() for p in policy.split(";") if p.strip().startswith("script-src")]
    assert f"'sha256-{digest}'" in script_src.split()
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    oauth_return = http.get(bridge + "/oauth-return", headers=NAVIGATION)
    assert '"/api/link_token"' not in oauth_return.text  # re-opens Link with its token


def test_a_call_nobody_took_is_dropped() -> None:
    async def scenario() -> tuple[object, object, int]:
        ahead: LinkTokensAhead[str] = LinkTokensAhead(keep_seconds=0.05)

        async def call() -> str:
            return "link-token"

        await ahead.start("taken", call())
        await ahead.start("left", call())
        taken = ahead.take("taken")
        got = await taken if taken is not None else None
        twice = ahead.take("taken")
        await asyncio.sleep(0.2)
        return got, twice, len(ahead)

    got, twice, left = asyncio.run(scenario())
    assert got == "link-token" and twice is None and left == 0
