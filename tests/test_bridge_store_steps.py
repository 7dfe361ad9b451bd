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
from kore_plaid_nb.bridge.routes.store_steps import LOOP_PAUSES, store_step
from kore_plaid_nb.bridge.store import ItemRecord, StoreLocked, StoreUnavailable
from kore_plaid_nb.bridge.store import sqlite as sqlite_backend
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


def test_a_refresh_behind_another_workers_commit_is_answered_on_the_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, link=ExchangingLink(settings))
    try:
        client = TestClient(app, raise_server_exceptions=True)
        started = client.get("/?" + authorize_query(settings), headers=JSON)
        body = {"session": started.json()["session"], "public_token": "public-sandbox-x"}
        done = client.post("/api/set_access_token", json=body)
        code = parse_qs(urlsplit(done.json()["redirect_to"]).query)["code"][0]
        auth = (settings.client_id, settings.secret)
        first = client.post(TOKEN_PATH, data={"code": code}, auth=auth)
        assert first.status_code == 200, first.text

        holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None,
                                 check_same_thread=False)  # fmt: skip
        holder.execute("BEGIN IMMEDIATE")  # the other worker's commit, under way
        answered_in: list[int] = []
        token_response = app.state.oauth.token_response

        def answer(*args: object, **kwargs: object) -> object:
            answered_in.append(threading.get_ident())
            if len(answered_in) == 2:  # committed meanwhile
                holder.execute("ROLLBACK")
            return token_response(*args, **kwargs)

        monkeypatch.setattr(app.state.oauth, "token_response", answer)
        refresh = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
        try:
            refreshed = client.post(TOKEN_PATH, data=refresh, auth=auth)
        finally:
            holder.close()
        assert refreshed.status_code == 200, refreshed.text
        assert len(answered_in) == 2 and answered_in[0] == answered_in[1], "no thread-pool hop"
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
    tries_on_the_loop = len(LOOP_PAUSES) + 1
    assert ran_in[:tries_on_the_loop] == [loop_thread] * tries_on_the_loop
    assert len(ran_in) == tries_on_the_loop + 1 and ran_in[-1] != loop_thread  # then the pool
    assert ticks >= 10, "the event loop kept running while the step waited for the lock"
    assert ctx.store.claim_session("session-1").record is not None  # stored once, usable


def test_a_lock_released_meanwhile_leaves_the_step_on_the_loop(
    ctx: BridgeContext, settings: Settings
) -> None:
    """Another process's commit holds the file's lock for well under a millisecond: the step
    is tried again on the loop (which serves others meanwhile), never in the thread pool."""
    holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ran_in: list[int] = []

    def open_session() -> None:
        ran_in.append(threading.get_ident())
        if len(ran_in) == 3:  # two tries met the lock; the holder commits now
            holder.execute("ROLLBACK")
        ctx.store.create_session("session-2", settings.client_id, "x", "q", 600)

    async def run() -> int:
        await store_step(ctx, open_session)
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(run())
    finally:
        holder.close()
    assert ran_in == [loop_thread] * 3
    assert ctx.store.claim_session("session-2").record is not None


def test_a_store_that_cannot_answer_goes_to_the_thread_pool_at_once(ctx: BridgeContext) -> None:
    """Not a lock (a disk error, say): no tries on the loop; the thread pool's run decides."""
    ran_in: list[int] = []

    def failing() -> str:
        ran_in.append(threading.get_ident())
        if len(ran_in) == 1:
            raise StoreUnavailable("disk I/O error", fix="-")
        return "answered"

    async def run() -> tuple[int, str]:
        return threading.get_ident(), await store_step(ctx, failing)

    loop_thread, answer = asyncio.run(run())
    assert answer == "answered"
    assert ran_in[0] == loop_thread and len(ran_in) == 2 and ran_in[1] != loop_thread


@pytest.mark.parametrize(
    ("code", "locked"),
    [
        (sqlite3.SQLITE_BUSY, True),
        (sqlite3.SQLITE_LOCKED, True),
        (sqlite3.SQLITE_IOERR, False),
        (sqlite3.SQLITE_FULL, False),
    ],  # fmt: skip
)
def test_sqlite_errors_say_whether_a_lock_is_held(
    settings: Settings, code: int, locked: bool
) -> None:
    error = sqlite3.OperationalError("from SQLite")
    error.sqlite_errorcode = code
    refusal = sqlite_backend.unavailable_error(error, settings.bridge_db_path)
    assert isinstance(refusal, StoreUnavailable)
    assert isinstance(refusal, StoreLocked) is locked


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
