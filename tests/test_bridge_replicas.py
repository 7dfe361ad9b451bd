"""The bridge past one machine: replicas as real processes on one PostgreSQL database.

* 200 end users whose every step goes to a replica picked at random; one replica is
  ``kill -9``-ed mid-load: no refresh token lost, no code honoured twice, every completed
  authorization still refreshable on the survivor.
* The database restarts mid-load: clear 503s with ``Retry-After`` meanwhile (never a 500),
  nothing half-written, and the replicas recover without being restarted.
* ``kore-plaid bridge --workers 2`` (both backends): the processes share the port and the
  store; a worker killed with ``kill -9`` is replaced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import (
    BridgeProcess,
    authorize_and_link,
    authorize_query,
    exchange,
    refresh,
    sandbox_public_token,
)
from http_support import TLS
from load_users import JSON, USERS, Seen, check_after, report, run_users
from store_inspect import assert_consistent, one

from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.emulator import running_emulator

KILL_AFTER_TOKENS = 30  # early enough that many users are still mid-flow

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def emulator(home: Path, tmp_path: Path) -> Iterator[str]:
    with running_emulator(settings_module.load(), state_path=tmp_path / "e.sqlite3") as url:
        yield url


@pytest.fixture
def processes() -> Iterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    yield started
    for process in started:
        process.stop()


def start_replicas(settings, count: int, log: Path, processes: list) -> list[BridgeProcess]:
    for _ in range(count):
        replica = settings.with_values(app_port=services.free_port())
        processes.append(BridgeProcess(replica, log))
    return processes[-count:]


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("postgresql")
def test_kill_9_of_one_replica_while_200_users_spread_over_two(
    emulator: str, processes: list, tmp_path: Path
) -> None:
    settings = settings_module.load().with_values(plaid_api_url=emulator)
    doomed, survivor = start_replicas(settings, 2, tmp_path / "bridge.log", processes)
    seen, finished = Seen(), threading.Event()
    load = threading.Thread(
        target=run_users, args=([doomed.url, survivor.url], settings, seen, finished)
    )
    load.start()
    deadline = time.monotonic() + 60
    while len(seen.tokens) < KILL_AFTER_TOKENS and time.monotonic() < deadline:
        time.sleep(0.01)
    doomed.kill9()
    with seen.lock:
        at_kill = len(seen.tokens)
    load.join(timeout=150)
    assert finished.is_set()
    assert len(seen.tokens) >= KILL_AFTER_TOKENS, "the users were too slow to load the bridge"
    # mid-load: users were left, and they found the doomed replica gone (requests cut at the
    # kill count as failures, but a kill between two requests cuts none)
    assert at_kill < USERS, "the kill came after every user had finished"
    assert seen.down == {doomed.url}
    assert len(seen.tokens) >= USERS - seen.failures, "the survivor stopped serving"
    assert len(seen.tokens) > USERS / 2
    assert seen.unexpected == []

    assert_consistent(settings)
    live = "SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL"
    assert one(settings, live) >= len(seen.tokens)  # before the replays below revoke them
    outcome = check_after(survivor.url, settings, seen)
    print("\n" + report(f"kill -9 of 1 of 2 replicas, {USERS} users", seen, outcome))
    assert (outcome.lost, outcome.honoured_twice) == (0, 0)
    text = (tmp_path / "bridge.log").read_text()
    assert "access-sandbox-" not in text and "Traceback" not in text


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[object]:
    """A PostgreSQL cluster of this test's own: it is restarted under load."""
    from postgres_cluster import PostgresCluster, find_postgres_bin

    if find_postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries not found; under CI this test must run")
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql-15)")
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.remove()


def test_database_restart_mid_load_gives_503s_then_recovers_without_restarting(
    own_cluster, emulator: str, processes: list, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("BRIDGE_DB", own_cluster.create_database())
    settings = settings_module.load().with_values(plaid_api_url=emulator)
    replicas = start_replicas(settings, 2, tmp_path / "bridge.log", processes)
    urls = [replica.url for replica in replicas]
    before = [replica.process.pid for replica in replicas]
    seen, finished = Seen(), threading.Event()
    load = threading.Thread(target=run_users, args=(urls, settings, seen, finished, 120))
    load.start()
    deadline = time.monotonic() + 60
    while len(seen.tokens) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    own_cluster.restart(down_for=3.5)  # "immediate": like a crash, in-flight work is cut
    load.join(timeout=150)
    assert finished.is_set()

    assert seen.unexpected == []
    assert seen.statuses[503] > 0, f"the restart went unnoticed: {seen.statuses}"
    assert seen.retry_after == {"5"}
    # Recovery without restarting: the same processes serve new flows on both replicas.
    assert [replica.process.pid for replica in replicas] == before
    assert all(replica.process.poll() is None for replica in replicas)
    with httpx.Client(timeout=20, verify=TLS) as http:
        for url in urls:
            assert http.get(url + "/readyz").status_code == 200
            code = authorize_and_link(http, url, settings)["code"]
            assert exchange(http, url, settings, code).status_code == 200
    assert_consistent(settings)
    outcome = check_after(urls[1], settings, seen)
    print("\n" + report("database restart (down 3.5 s), 120 users on 2 replicas", seen, outcome))
    assert (outcome.lost, outcome.honoured_twice) == (0, 0)
    text = (tmp_path / "bridge.log").read_text()
    assert "Traceback" not in text and own_cluster.password not in text


@pytest.mark.usefixtures("store_backend")
def test_workers_share_the_port_and_the_store_and_a_killed_worker_is_replaced(
    emulator: str, tmp_path: Path
) -> None:
    settings = settings_module.load().with_values(
        plaid_api_url=emulator, app_port=services.free_port()
    )
    url = f"http://127.0.0.1:{settings.app_port}"
    log = tmp_path / "workers.log"
    with open(log, "ab") as out:
        parent = subprocess.Popen(
            [sys.executable, "-m", "kore_plaid_nb", "bridge", "--workers", "2"],
            stdout=out,
            stderr=out,
            env={**os.environ, **settings.as_env()},
            start_new_session=True,
        )
    try:
        assert services.wait_healthy(url + "/healthz", timeout=40, pid=parent.pid), log.read_text()
        workers = children(parent.pid)
        assert len(workers) == 2, workers
        with httpx.Client(timeout=20, verify=TLS) as http:
            tokens = []
            for n in range(6):
                code = authorize_and_link(http, url, settings, state=f"w{n}")["code"]
                tokens.append(exchange(http, url, settings, code).json())
            os.kill(workers[0], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (
                workers[0] in children(parent.pid) or len(children(parent.pid)) < 2
            ):
                time.sleep(0.1)
            assert len(children(parent.pid)) == 2 and workers[0] not in children(parent.pid)
            for token in tokens:
                again = refresh(http, url, settings, token["refresh_token"])
                assert again.status_code == 200, again.text
            code = authorize_and_link(http, url, settings)["code"]
            assert exchange(http, url, settings, code).status_code == 200
    finally:
        os.killpg(parent.pid, signal.SIGTERM)
        parent.wait(timeout=20)
    assert "Traceback" not in log.read_text()


def children(pid: int) -> list[int]:
    """Live worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def database_outage(cluster, dbname: str, down: bool) -> None:
    """Cut one database off (connections refused, open ones ended) or let it back."""
    import psycopg

    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(not down).lower()}')
        if down:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("postgresql")
def test_a_database_outage_is_a_503_page_or_json_and_needs_no_restart(
    emulator: str, postgres_cluster, monkeypatch
) -> None:
    from urllib.parse import urlsplit

    from kore_plaid_nb.bridge import running_bridge
    from kore_plaid_nb.bridge.store import postgres

    monkeypatch.setattr(postgres, "POOL_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setenv("BRIDGE_DB", postgres_cluster.create_database())  # cut off alone
    settings = settings_module.load().with_values(plaid_api_url=emulator)
    dbname = urlsplit(settings.bridge_db_url).path.lstrip("/")
    with running_bridge(settings) as url, httpx.Client(timeout=20, verify=TLS) as http:
        code = authorize_and_link(http, url, settings)["code"]
        token = exchange(http, url, settings, code).json()
        started = http.get(url + "/?" + authorize_query(settings), headers=JSON).json()
        database_outage(postgres_cluster, dbname, down=True)
        try:
            page = http.get(url + "/?" + authorize_query(settings))
            api = http.get(url + "/?" + authorize_query(settings), headers=JSON)
            refreshed = refresh(http, url, settings, token["refresh_token"])
            completed = http.post(
                url + "/api/set_access_token",
                json={"session": started["session"], "public_token": "public-sandbox-x"},
            )
            ready = http.get(url + "/readyz")
            alive = http.get(url + "/healthz")
        finally:
            database_outage(postgres_cluster, dbname, down=False)

        assert (page.status_code, page.headers["retry-after"]) == (503, "5")
        assert page.headers["content-type"].startswith("text/html")
        assert "Please try again in a moment" in page.text and "nothing was saved" in page.text
        for answer in (api, refreshed, completed, ready):
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
            assert answer.headers["cache-control"] == "no-store"
        for answer in (api, refreshed, completed):
            assert answer.json()["error"] == "temporarily_unavailable"
            assert "Retry in 5 seconds" in answer.json()["fix"]
        assert alive.status_code == 200  # the process lives: no restart needed

        back = time.monotonic()
        while http.get(url + "/readyz").status_code != 200:
            assert time.monotonic() - back < 4, "the bridge did not reconnect by itself"
            time.sleep(0.1)
        again = refresh(http, url, settings, token["refresh_token"])
        assert again.status_code == 200 and again.json()["access_token"] == token["access_token"]
        finished = http.post(
            url + "/api/set_access_token",
            json={"session": started["session"], "public_token": sandbox_public_token(settings)},
        )
        assert finished.status_code == 200, finished.text
