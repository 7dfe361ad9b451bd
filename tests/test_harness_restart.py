"""Crash and restart under load (issue 8): ``kill -9`` the bridge process while 200 end users
are authorizing; after a restart every refresh token issued before the kill still works, no
code is honoured twice, and the store holds no half-written record."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import BridgeProcess, authorize_query, sandbox_public_token
from load_users import Seen, check_after, run_users
from store_inspect import assert_consistent, one

from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.emulator import running_emulator

KILL_AFTER_TOKENS = 60  # the kill comes once this many users hold tokens

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("store_backend")]


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


def test_kill_9_while_200_users_authorize(settings, bridges, tmp_path: Path) -> None:
    log = tmp_path / "bridge.log"
    bridges.append(BridgeProcess(settings, log))
    seen, finished = Seen(), threading.Event()
    load = threading.Thread(target=run_users, args=([bridges[0].url], settings, seen, finished))
    load.start()
    deadline = time.monotonic() + 40
    while len(seen.tokens) < KILL_AFTER_TOKENS and time.monotonic() < deadline:
        time.sleep(0.01)
    bridges[0].kill9()
    load.join(timeout=100)
    assert finished.is_set()
    assert len(seen.tokens) >= KILL_AFTER_TOKENS, "the users were too slow to load the bridge"
    assert seen.failures > 0, "the kill came after every user had finished"

    # No half-written record: the store is consistent as the kill left it.
    assert_consistent(settings)
    completed = one(settings, "SELECT COUNT(*) FROM sessions WHERE status = 'completed'")
    codes = one(settings, "SELECT COUNT(*) FROM codes")
    assert completed == codes, "a session completed without its code (or the reverse)"
    assert codes >= len(seen.sent)
    assert one(settings, "SELECT COUNT(*) FROM refresh_tokens") >= len(seen.tokens), (
        "a token answer was sent before its refresh token was stored"
    )
    assert one(settings, "SELECT COUNT(*) FROM codes WHERE used_at IS NOT NULL") >= len(seen.tokens)
    if settings.bridge_db_url is None:
        assert os.stat(settings.bridge_db_path).st_mode & 0o777 == 0o600

    bridges.append(BridgeProcess(settings, log))
    url = bridges[1].url
    # Every refresh token issued before the kill still works; no code is honoured twice (a
    # code whose token request the kill cut short is honoured at most once, then refused).
    outcome = check_after(url, settings, seen)
    assert (outcome.lost, outcome.honoured_twice) == (0, 0)
    with httpx.Client(timeout=20) as http:
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
    assert not any(code in text for code in seen.sent)
