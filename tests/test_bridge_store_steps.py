"""Issue 28: the authorization's store steps (``GET /`` opening a session, the completion's
claim and code) run on the event loop for SQLite when no lock is held, and from the thread
pool behind a lock another program holds: each step done once, the loop never blocked.
Plaid's Link URLs (OAuth return, webhook) are worked out once per request, unchanged."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from bridge_support import TOKEN_PATH, OfflineLink, authorize_query
from offline_bridge import JSON, settings

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.routes.context import BridgeContext
from kore_plaid_nb.bridge.routes.plaid_urls import link_redirect_uri, link_urls, webhook_url
from kore_plaid_nb.bridge.routes.store_steps import store_step
from kore_plaid_nb.bridge.store import ItemRecord
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.requests import Request
    from starlette.testclient import TestClient

__all__ = ["settings"]  # fixture
ITEM = ItemRecord("item-steps", "access-sandbox-00000001-1111-2222-3333-4444", "ins_1", "u")


class ExchangingLink(OfflineLink):
    """Link tokens and one exchange without Plaid."""

    async def exchange_async(
        self, public_token: str, session_id: str, checked: bool = False
    ) -> ItemRecord:
        return ITEM


@contextmanager
def lock_held_briefly(settings: Settings, seconds: float = 0.3) -> Iterator[None]:
    """Another program holds the store's write lock for ``seconds``."""
    holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None,
                             check_same_thread=False)  # fmt: skip
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: (holder.execute("ROLLBACK"), holder.close()))
    release.start()
    try:
        yield
    finally:
        release.join()


def test_an_authorization_behind_brief_locks_completes_once(settings: Settings) -> None:
    app = create_app(settings, link=ExchangingLink(settings))
    try:
        client = TestClient(app, raise_server_exceptions=True)
        with lock_held_briefly(settings):
            started = client.get("/?" + authorize_query(settings), headers=JSON)
        assert started.status_code == 200, started.text
        body = {"session": started.json()["session"], "public_token": "public-sandbox-x"}
        with lock_held_briefly(settings):
            done = client.post("/api/set_access_token", json=body)
        assert done.status_code == 200, done.text
        code = parse_qs(urlsplit(done.json()["redirect_to"]).query)["code"][0]
        again = client.post("/api/set_access_token", json=body)  # the session is single use
        assert again.status_code == 409, again.text
        auth = (settings.client_id, settings.secret)
        token = client.post(TOKEN_PATH, data={"grant_type": "authorization_code", "code": code},
                            auth=auth)  # fmt: skip
        assert token.status_code == 200, token.text
        assert token.json()["access_token"] == ITEM.access_token
    finally:
        app.state.store.close()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[BridgeContext]:
    ctx = BridgeContext.build(settings, link=OfflineLink(settings))
    yield ctx
    ctx.store.close()


def test_a_store_step_runs_on_the_loop_when_the_lock_is_free(ctx: BridgeContext) -> None:
    async def run() -> tuple[int, int]:
        return threading.get_ident(), await store_step(ctx, threading.get_ident)

    loop_thread, step_thread = asyncio.run(run())
    assert step_thread == loop_thread


def test_a_store_step_behind_a_lock_waits_in_the_thread_pool_not_on_the_loop(
    ctx: BridgeContext, settings: Settings
) -> None:
    ran_in: list[int] = []

    def open_session() -> None:
        ran_in.append(threading.get_ident())
        ctx.store.create_session("session-1", settings.client_id, "x", "q", 600)

    async def run() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await store_step(ctx, open_session)
        ticker.cancel()
        return threading.get_ident(), ticks

    with lock_held_briefly(settings):
        loop_thread, ticks = asyncio.run(run())
    assert ran_in[0] == loop_thread and ran_in[-1] != loop_thread  # tried, then the pool
    assert len(ran_in) == 2
    assert ticks >= 10, "the event loop kept running while the step waited for the lock"
    assert ctx.store.claim_session("session-1").record is not None  # stored once, usable


def request_for(host: str, scheme: str = "http") -> Request:
    scope = {"type": "http", "method": "GET", "scheme": scheme, "server": ("127.0.0.1", 8000),
             "path": "/", "root_path": "", "query_string": b"",
             "headers": [(b"host", host.encode())]}  # fmt: skip
    return Request(scope)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"BRIDGE_PUBLIC_URL": "https://bridge.example.com"},
        {"LINK_REDIRECT_URI": "https://bridge.example.com/oauth-return"},
    ],  # fmt: skip
)
def test_link_urls_worked_out_once_are_the_redirect_uri_and_webhook(
    home: object, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = settings_module.load()
    for request in (request_for("127.0.0.1:8000"), request_for("evil.example", "https")):
        expected = (link_redirect_uri(loaded, request), webhook_url(loaded, request))
        assert link_urls(loaded, request) == expected
    assert any(link_urls(loaded, request_for("127.0.0.1:8000")))  # not vacuous
