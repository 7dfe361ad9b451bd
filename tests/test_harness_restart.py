"""Crash and restart under load (issue 8): ``kill -9`` the bridge process while 200 end users
are authorizing; after a restart every refresh token issued before the kill still works, no
code is honoured twice, and the store holds no half-written record."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from store_inspect import assert_consistent, one
from test_bridge_helpers import (
    BridgeProcess,
    authorize_query,
    exchange,
    query_of,
    refresh,
    sandbox_public_token,
)

from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.emulator import running_emulator

USERS = 200
WORKERS = 16
KILL_AFTER_TOKENS = 60  # the kill comes once this many users hold tokens

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("store_backend")]


@dataclass
class Seen:
    """What the end users' browsers and Kore saw before the kill."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: list[str] = field(default_factory=list)  # every code a redirect carried
    tokens: dict[str, dict] = field(default_factory=dict)  # code -> token response (200)
    sent: set[str] = field(default_factory=set)  # codes whose token request went out
    failures: int = 0


@pytest.fixture
def settings(home: Path, tmp_path: Path) -> Iterator[settings_module.Settings]:
    base = settings_module.load()
    with running_emulator(base, state_path=tmp_path / "emulator.sqlite3") as emulator:
        yield base.with_values(plaid_api_url=emulator, app_port=services.free_port())


@pytest.fixture
def bridges(settings, tmp_path: Path) -> Iterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    yield started
    for bridge in started:
        bridge.stop()


def end_user(url: str, settings, seen: Seen, http: httpx.Client) -> None:
    """One end user: authorization page -> Link -> set_access_token -> Kore's token call."""
    try:
        start = http.get(
            url + "/?" + authorize_query(settings, state=os.urandom(6).hex()),
            headers={"Accept": "application/json"},
        )
        if start.status_code != 200:
            raise httpx.HTTPError(start.text)
        public_token = sandbox_public_token(settings)
        done = http.post(
            url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": public_token},
        )
        if done.status_code != 200:
            raise httpx.HTTPError(done.text)
        code = query_of(done.json()["redirect_to"])["code"]
        with seen.lock:
            seen.codes.append(code)
            seen.sent.add(code)
        token = exchange(http, url, settings, code)
        if token.status_code == 200:
            with seen.lock:
                seen.tokens[code] = token.json()
    except (httpx.HTTPError, KeyError, ValueError):
        with seen.lock:
            seen.failures += 1  # the bridge died under this user


def test_kill_9_while_200_users_authorize(settings, bridges, tmp_path: Path) -> None:
    log = tmp_path / "bridge.log"
    bridges.append(BridgeProcess(settings, log))
    url = bridges[0].url
    seen = Seen()
    local = threading.local()
    clients: list[httpx.Client] = []

    def user(_: int) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=10)
            clients.append(local.http)
        end_user(url, settings, seen, local.http)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(user, n) for n in range(USERS)]
        deadline = time.monotonic() + 40
        while len(seen.tokens) < KILL_AFTER_TOKENS and time.monotonic() < deadline:
            time.sleep(0.01)
        bridges[0].kill9()
        for future in futures:
            future.result(timeout=60)
    for http in clients:
        http.close()
    assert len(seen.tokens) >= KILL_AFTER_TOKENS, "the users were too slow to load the bridge"
    assert seen.failures > 0, "the kill came after every user had finished"
    in_flight = seen.sent - set(seen.tokens)

    # No half-written record: the store is consistent as the kill left it.
    assert_consistent(settings)
    completed = one(settings, "SELECT COUNT(*) FROM sessions WHERE status = 'completed'")
    codes = one(settings, "SELECT COUNT(*) FROM codes")
    assert completed == codes, "a session completed without its code (or the reverse)"
    assert codes >= len(seen.codes)
    assert one(settings, "SELECT COUNT(*) FROM refresh_tokens") >= len(seen.tokens), (
        "a token answer was sent before its refresh token was stored"
    )
    assert one(settings, "SELECT COUNT(*) FROM codes WHERE used_at IS NOT NULL") >= len(seen.tokens)
    if settings.bridge_db_url is None:
        assert os.stat(settings.bridge_db_path).st_mode & 0o777 == 0o600

    bridges.append(BridgeProcess(settings, log))
    url = bridges[1].url
    with httpx.Client(timeout=20) as http:
        # Every refresh token issued before the kill still works (before any replay below,
        # since a replayed code revokes what it issued).
        for token in seen.tokens.values():
            again = refresh(http, url, settings, token["refresh_token"])
            assert again.status_code == 200, again.text
            assert again.json()["access_token"] == token["access_token"]
        # No code is honoured twice. A code Kore redeemed before the kill is refused now;
        # a code whose token request the kill cut short (it may or may not have reached the
        # bridge) is honoured at most once, then refused.
        for code in seen.tokens:
            replay = exchange(http, url, settings, code)
            assert replay.status_code == 400, replay.text
            assert replay.json()["error"] == "invalid_grant"
        late = 0
        for code in in_flight:
            late += exchange(http, url, settings, code).status_code == 200
            replay = exchange(http, url, settings, code)
            assert replay.json()["error"] == "invalid_grant", replay.text
        assert late <= len(in_flight)
        # The restarted bridge serves new users.
        start = http.get(
            url + "/?" + authorize_query(settings), headers={"Accept": "application/json"}
        )
        done = http.post(
            url + "/api/set_access_token",
            json={
                "session": start.json()["session"],
                "public_token": sandbox_public_token(settings),
            },
        )
        assert done.status_code == 200, done.text
    text = log.read_text()
    assert "access-sandbox-" not in text and "public-sandbox-" not in text
    assert not any(code in text for code in seen.codes)
