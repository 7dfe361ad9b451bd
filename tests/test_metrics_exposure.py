"""Where an operator finds the bridge's metrics, and who else can: ``GET /metrics`` on the
main port only with ``Authorization: Bearer $BRIDGE_METRICS_TOKEN`` (404 without one
configured), the listener of ``BRIDGE_METRICS_PORT`` (no token), ``--workers N`` adding up
every worker in one scrape, the build info and the store's figures (Items by health, open
repair links, store up: cached, and store up 0 when the store cannot answer), and the
settings that turn it all on."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import ACCESS_TOKEN, authorize_params, one_item_stored
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

import kore_plaid_nb
from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import command
from kore_plaid_nb.bridge.metrics import MULTIPROC_ENV, WORKER_ENV, catalog
from kore_plaid_nb.bridge.metrics.collectors import StoreFigures
from kore_plaid_nb.bridge.metrics.listener import MetricsListener
from kore_plaid_nb.bridge.metrics.worker_files import worker_metrics_folder
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.bridge.store import BridgeStore, ItemRecord, StoreUnavailable, open_bridge_store
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.errors import ServiceError, SettingsError
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "metrics-token-0123456789abcdefXYZ"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BUILD_INFO = catalog.BUILD_INFO_NAME + "_info"
STORE_SECONDS_COUNT = f"{catalog.PREFIX}_store_transaction_seconds_count"
OTHER_ACCESS_TOKEN = "access-sandbox-99999999-2222-3333-4444-555555555555"


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus' parser over a scrape: sample name -> [(labels, value)]."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def items_by_health(text: str) -> dict[str, float]:
    return {labels["health"]: value for labels, value in samples(text).get(catalog.ITEMS_NAME, [])}


def store_figures(text: str) -> tuple[float | None, float | None]:
    """(store up, open repair links) of a scrape; None for what it does not show."""
    found = samples(text)
    [(_, up)] = found[catalog.STORE_UP_NAME]
    links = {labels["state"]: value for labels, value in found.get(catalog.REPAIR_LINKS_NAME, [])}
    return up, links.get("open")


def repair_link_states(text: str) -> dict[str, float]:
    found = samples(text).get(catalog.REPAIR_LINKS_NAME, [])
    return {labels["state"]: value for labels, value in found}


def two_items_one_needing_its_user() -> Settings:
    """A store with a healthy Item, one in ITEM_LOGIN_REQUIRED and one removed."""
    settings = one_item_stored()
    with open_bridge_store(settings) as store:
        for n, token in ((2, OTHER_ACCESS_TOKEN), (3, OTHER_ACCESS_TOKEN[:-1] + "6")):
            store.save_authorization(f"s{n}", ItemRecord(f"i{n}", token, None, "u"), f"c{n}",
                                     "client", "http://127.0.0.1/cb", None, None, 60)  # fmt: skip
        assert store.record_item_health(OTHER_ACCESS_TOKEN, "ITEM_LOGIN_REQUIRED", "bank login")
        [removed] = [ref for ref, token in store.live_items() if token.endswith("6")]
        store.mark_item_removed(removed)
    return settings


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=True)


@pytest.fixture
def with_token(home: Path) -> Settings:
    return two_items_one_needing_its_user().with_values(bridge_metrics_token=TOKEN)


# -- /metrics on the main port


def test_the_main_port_has_no_metrics_without_a_token_configured(home: Path) -> None:
    with client_for(settings_module.load()) as client:
        for headers in ({}, BEARER):
            assert client.get("/metrics", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
def test_a_missing_or_wrong_bearer_token_gets_401_and_a_bearer_challenge(
    with_token: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with client_for(with_token) as client:
        answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert answer.headers["Cache-Control"] == "no-store"
    assert "BRIDGE_METRICS_TOKEN" in answer.json()["fix"]
    assert TOKEN not in answer.text and catalog.PREFIX not in answer.text


def test_the_right_token_gets_prometheus_text_with_build_info_and_items_by_health(
    with_token: Settings,
) -> None:
    with client_for(with_token) as client:
        answer = client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert answer.headers["Cache-Control"] == "no-store"
    found = samples(answer.text)
    assert found[BUILD_INFO] == [
        ({"version": kore_plaid_nb.__version__, "backend": "sqlite", "link_mode": "page"}, 1.0)
    ]
    assert items_by_health(answer.text) == {
        **dict.fromkeys(catalog.ITEM_HEALTHS, 0.0),
        "healthy": 1.0,
        "ITEM_LOGIN_REQUIRED": 1.0,
    }
    assert store_figures(answer.text) == (1.0, 0.0)
    assert STORE_SECONDS_COUNT in found  # the catalog's own metrics, this process's
    assert ACCESS_TOKEN not in answer.text and TOKEN not in answer.text


def test_repair_links_minted_by_another_program_are_shown_open_until_used(
    with_token: Settings,
) -> None:
    """``kore-plaid items`` mints repair links in its own process, through the store: the
    bridge's scrape reads them there."""
    with open_bridge_store(with_token) as store:  # as `kore-plaid items` does
        [needing] = [i.ref for i in store.item_statuses() if i.health == "ITEM_LOGIN_REQUIRED"]
        first = store.create_repair_link(needing)
        assert first is not None
    with client_for(with_token) as client:
        assert store_figures(client.get("/metrics", headers=BEARER).text) == (1.0, 1.0)
    with open_bridge_store(with_token) as store:
        assert store.create_repair_link(needing) is not None  # a fresh link spends the first
        assert store.complete_repair(first).item is None
    with client_for(with_token) as client:
        assert store_figures(client.get("/metrics", headers=BEARER).text) == (1.0, 1.0)
    with open_bridge_store(with_token) as store:
        store.mark_item_healthy(needing)  # repaired: its links are spent
    with client_for(with_token) as client:
        text = client.get("/metrics", headers=BEARER).text
    assert store_figures(text) == (1.0, 0.0)
    # the links issued, by state: both spent (one replaced, one by the repair)
    assert repair_link_states(text) == {"open": 0.0, "used": 2.0, "expired": 0.0}


@pytest.mark.backends("sqlite", "postgresql")
def test_the_store_counts_repair_links_issued_by_state_on_every_backend(
    store_backend: str,
) -> None:
    with open_bridge_store(two_items_one_needing_its_user()) as store:
        assert store.repair_links_by_state() == {"open": 0, "used": 0, "expired": 0}
        [needing] = [i.ref for i in store.item_statuses() if i.health == "ITEM_LOGIN_REQUIRED"]
        assert store.create_repair_link(needing, ttl=-1.0) is not None  # expired at once
        assert store.repair_links_by_state() == {"open": 0, "used": 0, "expired": 1}
        assert store.create_repair_link(needing) is not None  # the old one is spent
        assert store.repair_links_by_state() == {"open": 1, "used": 1, "expired": 0}


@pytest.mark.backends("sqlite", "postgresql")
def test_the_store_counts_live_items_by_health_on_every_backend(store_backend: str) -> None:
    with open_bridge_store(two_items_one_needing_its_user()) as store:
        assert store.dialect == store_backend
        assert store.items_by_health() == {"healthy": 1, "ITEM_LOGIN_REQUIRED": 1}


def test_an_unknown_health_is_counted_as_other() -> None:
    gauge = StoreFigures(lambda: {"healthy": 2, "SOMETHING_NEW": 1, "ALSO_NEW": 2})
    counts = gauge.counts()
    assert counts is not None
    assert counts["healthy"] == 2 and counts[catalog.OTHER] == 3
    assert set(counts) == {*catalog.ITEM_HEALTHS, catalog.OTHER}


def test_two_scrapes_within_the_window_read_the_store_once(
    with_token: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[float] = []
    counted = BridgeStore.items_by_health

    def counting(store: BridgeStore) -> dict[str, int]:
        reads.append(time.monotonic())
        return counted(store)

    monkeypatch.setattr(BridgeStore, "items_by_health", counting)
    with client_for(with_token) as client:
        first = client.get("/metrics", headers=BEARER)
        second = client.get("/metrics", headers=BEARER)
    assert len(reads) == 1
    assert items_by_health(first.text) == items_by_health(second.text)


def test_the_items_gauge_is_read_again_after_its_window() -> None:
    now = [100.0]
    reads: list[int] = []

    def read() -> dict[str, int]:
        reads.append(1)
        return {"healthy": len(reads)}

    gauge = StoreFigures(read, max_age=10, clock=lambda: now[0])
    assert gauge.counts() is not None and len(reads) == 1
    now[0] += 9.9
    gauge.counts()
    assert len(reads) == 1
    now[0] += 0.1
    counts = gauge.counts()
    assert len(reads) == 2 and counts is not None and counts["healthy"] == 2


def test_a_store_outage_shows_store_up_0_leaves_the_items_out_and_the_scrape_answers(
    with_token: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def down(store: BridgeStore) -> dict[str, int]:
        reads.append(1)
        raise StoreUnavailable("The bridge store cannot answer (database down).")

    monkeypatch.setattr(BridgeStore, "items_by_health", down)
    with client_for(with_token) as client:
        answers = [client.get("/metrics", headers=BEARER) for _ in range(3)]
    for answer in answers:
        assert answer.status_code == 200
        found = samples(answer.text)
        assert catalog.ITEMS_NAME not in found and BUILD_INFO in found
        assert catalog.REPAIR_LINKS_NAME not in found
        assert store_figures(answer.text) == (0.0, None)  # what the store-down alert reads
    assert len(reads) == 1  # an outage is not asked again at every scrape


# -- the metrics listener (BRIDGE_METRICS_PORT)


def test_the_metrics_listener_serves_metrics_without_a_token(home: Path) -> None:
    settings = two_items_one_needing_its_user()
    app = create_app(settings)
    listener = MetricsListener.start("127.0.0.1", 0, app.state.metrics)
    try:
        answer = httpx.get(listener.url, timeout=10)
    finally:
        listener.close()
        app.state.store.close()
    assert listener.url.endswith("/metrics")
    assert answer.status_code == 200
    assert items_by_health(answer.text)["ITEM_LOGIN_REQUIRED"] == 1.0
    assert BUILD_INFO in samples(answer.text)


def test_a_busy_metrics_port_names_the_setting_and_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError) as caught:
            MetricsListener.start("127.0.0.1", port, CollectorRegistry())
    assert f"BRIDGE_METRICS_PORT={port}" in caught.value.message
    assert "already in use" in caught.value.message
    assert "BRIDGE_METRICS_PORT" in caught.value.fix


def test_the_banner_says_where_the_metrics_are(home: Path) -> None:
    settings = settings_module.load()
    line = command.metrics_line(settings, "127.0.0.1", 8000, None)
    assert line == "metrics: off (set BRIDGE_METRICS_PORT or BRIDGE_METRICS_TOKEN)"
    listener = MetricsListener.start("127.0.0.1", 0, CollectorRegistry())
    try:
        line = command.metrics_line(settings, "127.0.0.1", 8000, listener)
    finally:
        listener.close()
    assert line == f"metrics on {listener.url}"
    with_token = settings.with_values(bridge_metrics_token=TOKEN)
    line = command.metrics_line(with_token, "127.0.0.1", 8000, None)
    assert line == "metrics on http://127.0.0.1:8000/metrics (Bearer BRIDGE_METRICS_TOKEN)"
    assert TOKEN not in line


# -- --workers N: the workers' metric files


def test_the_workers_folder_is_private_exported_and_removed_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.delenv(WORKER_ENV, raising=False)
    with worker_metrics_folder() as folder:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert os.environ[MULTIPROC_ENV] == str(folder) and os.environ[WORKER_ENV] == "1"
        (folder / "counter_123.db").write_bytes(b"")
    assert not folder.exists()
    assert MULTIPROC_ENV not in os.environ and WORKER_ENV not in os.environ


def test_an_operators_folder_is_honoured_and_emptied_of_old_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "prometheus"
    given.mkdir()
    (given / "counter_4242.db").write_bytes(b"an earlier run")
    (given / "README").write_text("the operator's")
    monkeypatch.setenv(MULTIPROC_ENV, str(given))
    with worker_metrics_folder() as folder:
        assert folder == given and not (given / "counter_4242.db").exists()
        assert os.environ[WORKER_ENV] == "1"
    assert given.is_dir() and (given / "README").exists()
    assert os.environ[MULTIPROC_ENV] == str(given)


def test_an_operators_folder_that_cannot_be_one_is_a_readable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv(MULTIPROC_ENV, str(not_a_folder))
    with pytest.raises(SettingsError) as caught, worker_metrics_folder():
        pass
    assert "PROMETHEUS_MULTIPROC_DIR" in caught.value.message and caught.value.fix


WRITES_FILES = """
import pathlib, sys
from kore_plaid_nb.bridge.metrics import catalog
catalog.SESSIONS_RATE_LIMITED.inc()
print(len(list(pathlib.Path(sys.argv[1]).glob("*.db"))))
"""


@pytest.mark.parametrize("worker, writes_files", [(False, False), (True, True)])
def test_only_a_worker_of_the_command_keeps_its_metrics_in_files(
    tmp_path: Path, worker: bool, writes_files: bool
) -> None:
    """A process with PROMETHEUS_MULTIPROC_DIR set (the operator's shell, say) keeps its
    values in memory unless the command started it as one of its workers."""
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    env.pop(WORKER_ENV, None)
    if worker:
        env[WORKER_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", WRITES_FILES, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (int(done.stdout) > 0) is writes_files, done.stderr


# -- the settings


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("BRIDGE_LOG_FORMAT", "xml", "not a log format"),
        ("BRIDGE_LOG_LEVEL", "loud", "not a log level"),
        ("BRIDGE_METRICS_PORT", "metrics", "not a number"),
        ("BRIDGE_METRICS_PORT", "70000", "not a TCP port"),
        ("BRIDGE_METRICS_HOST", "http://10.0.0.1/", "not an interface address"),
        ("BRIDGE_METRICS_TOKEN", "short", "not a usable bearer token"),
    ],
)
def test_a_wrong_metrics_or_log_setting_is_named_with_what_to_do(
    name: str, value: str, words: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_module.load({name: value})
    assert caught.value.message.startswith(name) and words in caught.value.message
    assert name in caught.value.fix
    if name == "BRIDGE_METRICS_TOKEN":
        assert value not in caught.value.message  # even a wrong secret is not shown


def test_the_log_settings_default_to_readable_text_and_json_logs_at_info() -> None:
    text = settings_module.load({})
    assert (text.bridge_log_format, text.log_level) == ("text", "warning")
    json_logs = settings_module.load({"BRIDGE_LOG_FORMAT": "JSON"})
    assert (json_logs.bridge_log_format, json_logs.log_level) == ("json", "info")
    chosen = settings_module.load({"BRIDGE_LOG_FORMAT": "json", "BRIDGE_LOG_LEVEL": "Debug"})
    assert chosen.log_level == "debug"


def test_metrics_settings_default_to_off_on_loopback_and_the_token_is_masked() -> None:
    off = settings_module.load({})
    assert (off.bridge_metrics_port, off.bridge_metrics_host) == (None, "127.0.0.1")
    assert off.bridge_metrics_token == ""
    on = settings_module.load({"BRIDGE_METRICS_PORT": "9464", "BRIDGE_METRICS_TOKEN": TOKEN})
    assert on.bridge_metrics_port == 9464
    assert TOKEN not in repr(on) and TOKEN in on.secret_values


# -- the command, as its own process (left out of `make test-fast`)


@pytest.fixture
def emulator(home: Path, tmp_path: Path) -> Iterator[str]:
    with running_emulator(settings_module.load(), state_path=tmp_path / "e.sqlite3") as url:
        yield url


class Command:
    """``python -m kore_plaid_nb bridge ...`` in its own process group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kore_plaid_nb", "bridge", *args],
                stdout=out,
                stderr=out,
                env=env,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def test_command_with_a_busy_metrics_port_stops_before_its_banner(
    home: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_module.load().with_values(
            plaid_api_url="http://127.0.0.1:9", app_port=services.free_port()
        )
        env = {**os.environ, **settings.as_env(), "BRIDGE_METRICS_PORT": str(port)}
        bridge = Command([], env, tmp_path / "bridge.log")
        bridge.process.wait(timeout=60)
    text = bridge.output()
    assert bridge.process.returncode != 0
    assert f"BRIDGE_METRICS_PORT={port} on 127.0.0.1 is already in use" in text
    assert "kore-plaid bridge (" not in text and "Traceback" not in text


def test_command_with_one_worker_serves_its_metrics_in_memory(
    emulator: str, tmp_path: Path
) -> None:
    settings = two_items_one_needing_its_user().with_values(
        plaid_api_url=emulator, app_port=services.free_port()
    )
    metrics_port = services.free_port()
    operators = tmp_path / "prometheus"
    operators.mkdir()
    env = {**os.environ, **settings.as_env(), "BRIDGE_METRICS_PORT": str(metrics_port),
           MULTIPROC_ENV: str(operators)}  # fmt: skip
    bridge = Command([], env, tmp_path / "bridge.log")
    url = f"http://127.0.0.1:{settings.app_port}"
    try:
        assert services.wait_healthy(url + "/healthz", 40, bridge.process.pid), bridge.output()
        start = httpx.get(url + "/", params=authorize_params(settings), headers={"Accept":
                          "application/json"}, timeout=20)  # fmt: skip
        assert start.status_code == 200, start.text
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert httpx.get(url + "/metrics", timeout=10).status_code == 404  # no token set
    finally:
        bridge.stop()
    assert scrape.status_code == 200
    assert items_by_health(scrape.text)["ITEM_LOGIN_REQUIRED"] == 1.0
    assert samples(scrape.text)[STORE_SECONDS_COUNT][0][1] > 0
    assert list(operators.iterdir()) == []  # one worker: nothing written to files
    text = bridge.output()
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in text
    assert "link mode page" in text and "Traceback" not in text


def per_worker(folder: Path, scratch: Path) -> dict[int, float]:
    """Each worker's own count of store transactions, from its files alone."""
    counts = {}
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("*.db")}
    for pid in pids:
        own = scratch / str(pid)
        shutil.rmtree(own, ignore_errors=True)
        own.mkdir(parents=True)
        for path in folder.glob(f"*_{pid}.db"):
            shutil.copy(path, own)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(own))
        counts[pid] = registry.get_sample_value(STORE_SECONDS_COUNT) or 0.0
    return counts


def test_command_with_two_workers_adds_up_both_workers_in_one_scrape(
    emulator: str, tmp_path: Path
) -> None:
    settings = two_items_one_needing_its_user().with_values(
        plaid_api_url=emulator, app_port=services.free_port()
    )
    metrics_port = services.free_port()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"an earlier run, unreadable")
    env = {**os.environ, **settings.as_env(), "BRIDGE_METRICS_PORT": str(metrics_port),
           "BRIDGE_METRICS_TOKEN": TOKEN, MULTIPROC_ENV: str(folder)}  # fmt: skip
    bridge = Command(["--workers", "2"], env, tmp_path / "bridge.log")
    url, listener = f"http://127.0.0.1:{settings.app_port}", f"http://127.0.0.1:{metrics_port}"
    try:
        assert services.wait_healthy(url + "/healthz", 60, bridge.process.pid), bridge.output()
        for n in range(8):  # a new connection each: the workers share them
            start = httpx.get(url + "/", params=authorize_params(settings, state=f"w{n}"),
                              headers={"Accept": "application/json"}, timeout=20)  # fmt: skip
            assert start.status_code == 200, start.text
        deadline = time.monotonic() + 20
        while True:
            before = per_worker(folder, tmp_path / "scratch")
            scrape = httpx.get(listener + "/metrics", timeout=10)
            after = per_worker(folder, tmp_path / "scratch")
            if (before == after and len(after) == 2) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        on_main_port = httpx.get(url + "/metrics", headers=BEARER, timeout=10)
    finally:
        bridge.stop()
    assert len(after) == 2 and bridge.process.pid not in after, after  # the workers only
    assert all(count > 0 for count in after.values()), after
    found = samples(scrape.text)
    [(_, total)] = found[STORE_SECONDS_COUNT]
    assert total == sum(after.values()) and total >= 8
    assert items_by_health(scrape.text)["ITEM_LOGIN_REQUIRED"] == 1.0
    assert found[BUILD_INFO][0][0]["backend"] == "sqlite"
    assert on_main_port.status_code == 200  # a worker's scrape adds up the files too
    [(_, seen_by_a_worker)] = samples(on_main_port.text)[STORE_SECONDS_COUNT]
    assert seen_by_a_worker >= total
    text = bridge.output()
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics and " in text
    assert "Traceback" not in text
    assert folder.is_dir()  # the operator's folder stays
