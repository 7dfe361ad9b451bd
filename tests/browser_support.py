"""Shared fixtures of the browser tests: Debian's Chromium driven by Playwright, and the whole
stack in-process (emulator with its Link stand-in, bridge, a stand-in of Kore's callback).

Import the fixtures into a test module (``from browser_support import ...``). Without
/usr/bin/chromium the tests fail with how to install it, unless ``SKIP_BROWSER=1`` (then they are
skipped and pytest's summary says so; under CI they fail even then).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from bridge_support import pkce_pair as pkce_pair
from bridge_support import query_of as query_of
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

CHROMIUM = Path(os.environ.get("KORE_PLAID_CHROMIUM", "/usr/bin/chromium"))  # as make browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
PHONE = {"width": 375, "height": 720}
DESKTOP = {"width": 1280, "height": 800}
CALLBACK_PATH = "/workflows/callback"
TIMEOUT_MS = 10_000
DEVICES: dict[str, dict[str, object]] = {}  # Playwright's device descriptors, by name


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Stack:
    """The running services and what Kore's callback stand-in received."""

    settings: Settings
    emulator_url: str
    bridge_url: str
    callback_url: str
    received: list[dict[str, str]] = field(default_factory=list)

    def authorize_url(self, state: str, code_challenge: str | None = None) -> str:
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.callback_url,
            "state": state,
        }
        if code_challenge:
            query |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{self.bridge_url}/?{urlencode(query)}"

    def callbacks_for(self, state: str) -> list[dict[str, str]]:
        return [q for q in self.received if q.get("state") == state]

    def exchange(self, code: str, code_verifier: str) -> httpx.Response:
        """The token request Kore makes after the callback (HTTP Basic client auth)."""
        return httpx.post(
            self.bridge_url + "/api/send_the_access_token_AUTH",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.callback_url,
                "code_verifier": code_verifier,
            },
            auth=(self.settings.client_id, self.settings.secret),
            timeout=15,
        )

    def expire_sessions(self) -> None:
        """Make every open authorization session older than its 30 minutes."""
        with contextlib.closing(sqlite3.connect(self.settings.bridge_db_path)) as db:
            db.execute("UPDATE sessions SET expires_at = ?", (time.time() - 1,))
            db.commit()


def at_callback(stack: Stack):
    """A predicate for ``page.wait_for_url``: the browser reached Kore's callback."""
    return lambda url: url.startswith(stack.callback_url)


def wait_for_link(page) -> None:
    """Until the Link stand-in's dialog shows."""
    page.locator("#plaid-standin-dialog").wait_for(state="visible")


def callback_standin(received: list[dict[str, str]]) -> Starlette:
    """Kore's callback page, as far as the browser sees it: records the query it got."""

    async def callback(request: Request) -> HTMLResponse:
        query = dict(request.query_params)
        received.append(query)
        outcome = "an authorization code" if "code" in query else f"error={query.get('error')}"
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Kore callback stand-in</title></head><body style='font-family:sans-serif'>"
            f"<h1>Kore callback stand-in</h1><p id=outcome>Received {outcome}.</p></body></html>"
        )

    return Starlette(routes=[Route(CALLBACK_PATH, callback)])


@contextlib.contextmanager
def serving_stack(home: Path, **values: object) -> Iterator[Stack]:
    """Emulator, bridge (its settings plus ``values``) and Kore's callback stand-in, served in
    this process for the ``with`` block."""
    received: list[dict[str, str]] = []
    base = Settings(home=home, env_file=home / ".env")
    with (
        serve_in_thread(callback_standin(received), what="Kore callback stand-in") as kore,
        running_emulator(base) as emulator_url,
    ):
        callback_url = kore + CALLBACK_PATH
        settings = base.with_values(
            plaid_api_url=emulator_url, plaid_redirect_uri=callback_url, **values
        )
        with running_bridge(settings) as bridge_url:
            yield Stack(settings, emulator_url, bridge_url, callback_url, received)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serving_stack(tmp_path_factory.mktemp("browser-home")) as served:
        yield served


SKIPPED_BROWSER = "browser tests skipped (SKIP_BROWSER=1)"  # conftest.py counts these


def _missing_browser(reason: str) -> None:
    """A missing browser fails the browser tests (a green run without them would hide it),
    unless SKIP_BROWSER=1 asks to run the rest: then they are skipped, and the summary says so.
    Under CI they always fail."""
    if os.environ.get("SKIP_BROWSER") == "1" and not os.environ.get("CI"):
        pytest.skip(f"{SKIPPED_BROWSER}: {reason}")
    pytest.fail(f"{reason}; or set SKIP_BROWSER=1 to run the other tests without them")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium with networking side-services off and a fresh profile."""
    if not CHROMIUM.exists():
        _missing_browser(
            f"{CHROMIUM} is missing: `sudo apt-get install chromium` (make test does it as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("the playwright package is missing: `pip install -r requirements.txt`")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        DEVICES.update(playwright.devices)
        # launch() gives the browser a fresh temporary user-data dir, removed on close.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A page in its own browser context, with every request it made."""

    page: object
    requests: list[object]

    def shot(self, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_tab(browser) -> Iterator[object]:
    """``open_tab(viewport=PHONE, color_scheme="light")`` -> :class:`Tab`; contexts close
    after the test."""
    contexts = []

    def open_(viewport: dict[str, int] = PHONE, color_scheme: str = "light") -> Tab:
        context = browser.new_context(
            viewport=viewport, color_scheme=color_scheme, service_workers="block"
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        requests: list[object] = []
        page.on("request", lambda request: requests.append(request))
        return Tab(page, requests)

    yield open_
    for context in contexts:
        context.close()
