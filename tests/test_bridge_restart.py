"""``kore-plaid bridge`` as a real process: ``kill -9`` loses nothing issued and honours no
code twice; the background service helpers are idempotent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import BridgeProcess, authorize_and_link, exchange, refresh
from store_inspect import assert_consistent

from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import ensure_bridge, list_authorizations, stop_bridge
from kore_plaid_nb.emulator import running_emulator

pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture
def settings(home: Path, tmp_path: Path) -> Iterator[settings_module.Settings]:
    base = settings_module.load()
    with running_emulator(base, state_path=tmp_path / "emulator.sqlite3") as emulator:
        yield base.with_values(plaid_api_url=emulator, app_port=services.free_port())


@pytest.fixture
def start_bridge(settings, tmp_path: Path) -> Iterator:
    started: list[BridgeProcess] = []

    def start() -> BridgeProcess:
        bridge = BridgeProcess(settings, tmp_path / "bridge.log")
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


def test_kill_9_keeps_every_issued_refresh_token_and_no_code_works_twice(
    settings, start_bridge, tmp_path: Path
) -> None:
    first = start_bridge()
    http = httpx.Client(timeout=20)
    issued = []
    for n in range(3):
        code = authorize_and_link(http, first.url, settings, state=f"s{n}")["code"]
        issued.append(exchange(http, first.url, settings, code).json())
    used_code = authorize_and_link(http, first.url, settings)["code"]
    assert exchange(http, first.url, settings, used_code).status_code == 200
    pending_code = authorize_and_link(http, first.url, settings)["code"]

    first.kill9()
    second = start_bridge()

    for token in issued:
        again = refresh(http, second.url, settings, token["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.json()["access_token"] == token["access_token"]
    replay = exchange(http, second.url, settings, used_code)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert exchange(http, second.url, settings, pending_code).status_code == 200
    assert exchange(http, second.url, settings, pending_code).json()["error"] == "invalid_grant"
    http.close()
    log = (tmp_path / "bridge.log").read_text()
    assert "access-sandbox-" not in log
    assert all(token["refresh_token"] not in log for token in issued)
    assert used_code not in log and pending_code not in log


def test_kill_9_under_load_leaves_no_half_written_record(settings, start_bridge) -> None:
    bridge = start_bridge()
    received: list[dict] = []
    stop = threading.Event()

    def user() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                try:
                    code = authorize_and_link(http, bridge.url, settings)["code"]
                    token = exchange(http, bridge.url, settings, code)
                except (httpx.HTTPError, AssertionError, KeyError):
                    return  # the bridge died under us
                if token.status_code == 200:
                    received.append(token.json())

    workers = [threading.Thread(target=user) for _ in range(6)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while len(received) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    bridge.kill9()
    stop.set()
    for worker in workers:
        worker.join(timeout=20)
    assert len(received) >= 12

    assert_consistent(settings)

    restarted = start_bridge()
    with httpx.Client(timeout=20) as http:
        for token in received:
            again = refresh(http, restarted.url, settings, token["refresh_token"])
            assert again.status_code == 200, again.text
            assert again.json()["access_token"] == token["access_token"]


def test_ensure_bridge_is_idempotent_and_stop_bridge_stops_it(settings) -> None:
    try:
        record = ensure_bridge(settings)
        assert record.port == settings.app_port
        assert ensure_bridge(settings).pid == record.pid
        assert httpx.get(record.url + "/healthz").json()["status"] == "ok"
        with httpx.Client(timeout=20) as http:
            authorize_and_link(http, record.url, settings)
        assert list_authorizations(settings)[0]["status"] == "code issued"
    finally:
        assert stop_bridge(settings) is True
    assert stop_bridge(settings) is False
    assert not services.pid_alive(record.pid)
