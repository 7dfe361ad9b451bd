"""Every test runs with its own state folder and .env, and none of the caller's Plaid keys."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kore_plaid_nb import ports, services, settings
from kore_plaid_nb.emulator import running_emulator

if TYPE_CHECKING:
    from bridge_support import Bridge

ISOLATED_NAMES = (
    "PLAID_CLIENT_ID",
    "PLAID_SECRET",
    "PLAID_ENV",
    "PLAID_PRODUCTS",
    "PLAID_COUNTRY_CODES",
    "PLAID_REDIRECT_URI",
    "APP_PORT",
    "PLAID_API_URL",
    "KORE_CALLBACK_URLS",
    "LINK_REDIRECT_URI",
    "LINK_MODE",
    "BRIDGE_DB",
    "NGROK_AUTHTOKEN",
    "NGROK_DOMAIN",
    "NGROK_REGION",
    "PYNGROK_NGROK_PATH",
    "BRIDGE_PUBLIC_URL",
    "BRIDGE_SESSIONS_PER_ADDRESS",
    "BRIDGE_SESSIONS_PER_MINUTE",
    "FORWARDED_ALLOW_IPS",
)


@pytest.fixture(scope="session", autouse=True)
def no_tunnel_process_survives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session, no tunnel agent or tunnel service started by a test is alive."""
    from tunnel_support import tunnel_processes

    base = str(tmp_path_factory.getbasetemp())
    yield
    deadline = time.monotonic() + 5
    while tunnel_processes(base) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tunnel_processes(base) == []


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh KORE_PLAID_HOME and .env for each test; the developer's keys stay out.
    Any background service a test leaves in its state folder is stopped afterwards."""
    for name in ISOLATED_NAMES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KORE_PLAID_HOME", str(home))
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / ".env"))
    yield home
    services.stop_all(home)


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One in-process emulator per test module; yields its base URL."""
    state = tmp_path_factory.mktemp("emulator")
    with running_emulator(settings.Settings(home=state), state_path=state / "e.sqlite3") as url:
        yield url


@pytest.fixture
def embedded(
    emulator_url: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> settings.Settings:
    """Embedded mode: demo keys, PLAID_API_URL at the emulator, free ports: claimed below the
    ephemeral range as the runbook's are (a port-0 port may be any outgoing connection's by the
    time the test binds it)."""
    monkeypatch.setenv("PLAID_API_URL", emulator_url)
    for name in ("KORE_SIMULATOR_PORT", "APP_PORT"):
        monkeypatch.setenv(name, str(ports.assigned(isolated_env, name)))
    return settings.load()


# The bridge's store backends. A test (or module) that uses the ``store_backend`` fixture runs
# once per backend; ``@pytest.mark.backends("sqlite")`` narrows the list. "replicas" is
# PostgreSQL served by two bridges (for the fixtures that know how to start them).

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): the store backends a bridge test runs on")
    config.addinivalue_line("markers", "bridge(**options): the BridgeOptions of ``bridge``")


REPLICA_FIXTURES = {"flow", "bridge"}  # the fixtures that start two bridges for "replicas"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = list(marker.args if marker else BACKENDS)
    if not REPLICA_FIXTURES & set(metafunc.fixturenames) and "replicas" in names:
        names.remove("replicas")  # the test starts its bridges itself: one is enough
    metafunc.parametrize("store_backend", names, indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """One throw-away PostgreSQL cluster for the session (started when first needed)."""
    import os

    from postgres_cluster import PostgresCluster, PostgresUnavailable, find_postgres_bin

    if find_postgres_bin() is None:
        reason = "PostgreSQL server binaries not found (Debian: apt-get install postgresql-15)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; under CI the PostgreSQL tests must run")
        pytest.skip(reason)
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        cluster.remove()
        pytest.fail(f"the throw-away PostgreSQL cluster did not start: {exc}")
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session")
def bridge_database(postgres_cluster) -> str:
    """The session's database for bridge stores; each test gets a schema of its own in it
    (a schema costs under a millisecond, a database a few hundred)."""
    return postgres_cluster.create_database()


@pytest.fixture
def store_backend(
    request: pytest.FixtureRequest, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point BRIDGE_DB at the backend under test: SQLite in the state folder, or a fresh
    PostgreSQL schema of its own (the URL's search_path)."""
    if request.param in ("postgresql", "replicas"):
        import base64
        import os
        import secrets

        import psycopg

        url = request.getfixturevalue("bridge_database")
        schema = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        monkeypatch.setenv("BRIDGE_DB", f"{url}?options=-csearch_path%3D{schema}")
        # as a PostgreSQL deployment is configured: one explicit key for every replica
        monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
    return request.param


@pytest.fixture
def bridge(request: pytest.FixtureRequest, home: Path) -> Iterator[Bridge]:
    """The bridge under test, served in a thread, with the options of the closest
    ``@pytest.mark.bridge(...)`` (see :class:`bridge_support.BridgeOptions`), on the
    ``store_backend`` under test when the test uses that fixture (else SQLite)."""
    from bridge_support import BridgeOptions, serving_bridge

    marker = request.node.get_closest_marker("bridge")
    options = BridgeOptions(**(marker.kwargs if marker else {}))
    backend = "sqlite"
    if "store_backend" in request.fixturenames:
        backend = request.getfixturevalue("store_backend")
    emulator = request.getfixturevalue("emulator_url") if options.plaid == "emulator" else None
    with serving_bridge(options, backend, emulator) as served:
        yield served


@pytest.fixture
def bridge_url(embedded: settings.Settings) -> Iterator[str]:
    """A bridge in this process, in the embedded mode; its URL."""
    from kore_plaid_nb.bridge import running_bridge

    with running_bridge(embedded) as url:
        yield url


@pytest.fixture
def umask_022() -> Iterator[None]:
    """What a kernel started by Jupyter often has."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
