"""The bridge's own figures as notebook 07 shows them: read from ``/metrics``, only what
happened between two scrapes, a p95 as the bound of its latency bucket, and one readable line
(never a traceback) when the metrics cannot be read. The runbook's background bridge gets a
loopback metrics listener on a port recorded in the state folder."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import Bridge
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kore_plaid_nb import bridge as bridge_module
from kore_plaid_nb import ports, services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.figures import (
    CACHED_CALLS,
    Figures,
    FiguresUnavailable,
    figure_rows,
    read_figures,
)
from kore_plaid_nb.bridge.metrics import catalog
from kore_plaid_nb.bridge.metrics.listener import MetricsListener
from kore_plaid_nb.runbook import bridge_figures
from kore_plaid_nb.settings import Settings

PREFIX = catalog.PREFIX
TOKEN = "figures-token-0123456789abcdefXYZ"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - a setting's value, never bound here


class Exposition:
    """A bridge's metrics in a registry of their own, as its ``/metrics`` shows them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = Counter(f"{PREFIX}_authorizations_started", "h", registry=r)
        self.completed = Counter(f"{PREFIX}_authorizations_completed", "h", registry=r)
        self.failed = Counter(f"{PREFIX}_authorizations_failed", "h", ["reason"], registry=r)
        self.tokens = Counter(
            f"{PREFIX}_token_requests", "h", ["grant_type", "outcome"], registry=r
        )
        self.token_seconds = Histogram(f"{PREFIX}_token_request_seconds", "h", ["grant_type"],
                                       buckets=catalog.TOKEN_BUCKETS, registry=r)  # fmt: skip
        self.plaid = Counter(f"{PREFIX}_plaid_requests", "h", ["endpoint", "outcome"], registry=r)
        self.plaid_seconds = Histogram(f"{PREFIX}_plaid_request_seconds", "h", ["endpoint"],
                                       buckets=catalog.PLAID_BUCKETS, registry=r)  # fmt: skip
        self.webhooks = Counter(f"{PREFIX}_webhooks", "h",
                                ["webhook_type", "webhook_code", "verdict", "reason"],
                                registry=r)  # fmt: skip

    def plaid_call(self, endpoint: str, seconds: float, outcome: str = "ok") -> None:
        self.plaid.labels(endpoint, outcome).inc()
        self.plaid_seconds.labels(endpoint).observe(seconds)

    def scrape(self) -> Figures:
        return Figures.parse(generate_latest(self.registry).decode())


def as_table(figures: Figures) -> dict[tuple[str, str], tuple[int, str]]:
    return {(figure, what): (n, p95) for figure, what, n, p95 in figure_rows(figures)}


# -- reading a scrape (fast)


def test_only_what_happened_between_two_scrapes_is_counted() -> None:
    bridge = Exposition()
    bridge.started.inc(5)
    bridge.completed.inc(4)
    bridge.failed.labels("user_left").inc()
    bridge.plaid_call("/link/token/create", 0.03)
    bridge.webhooks.labels("ITEM", "ERROR", "verified", "").inc()
    earlier = bridge.scrape()
    bridge.started.inc(2)
    bridge.completed.inc()
    bridge.failed.labels("plaid_error").inc()
    bridge.tokens.labels("authorization_code", "ok").inc()
    bridge.tokens.labels("authorization_code", "invalid_grant").inc()
    bridge.token_seconds.labels("authorization_code").observe(0.004)
    bridge.token_seconds.labels("authorization_code").observe(0.004)
    bridge.plaid_call("/item/public_token/exchange", 0.2, "ITEM_LOGIN_REQUIRED")
    bridge.webhooks.labels("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED", "refused", "bad_signature").inc()

    assert figure_rows(bridge.scrape().since(earlier)) == [
        ("authorizations", "started", 2, "-"),
        ("authorizations", "completed", 1, "-"),
        ("authorizations", "failed: plaid_error", 1, "-"),
        ("token requests", "authorization_code: invalid_grant", 1, "≤ 0.005 s"),
        ("token requests", "authorization_code: ok", 1, "≤ 0.005 s"),
        ("Plaid calls", "/item/public_token/exchange: ITEM_LOGIN_REQUIRED", 1, "≤ 0.25 s"),
        ("webhooks", "ITEM WEBHOOK_UPDATE_ACKNOWLEDGED: refused (bad_signature)", 1, "-"),
    ]


def test_nothing_happened_shows_zero_rows_not_an_empty_table() -> None:
    bridge = Exposition()
    bridge.started.inc(3)
    bridge.plaid_call("/item/get", 0.01)
    same = bridge.scrape()
    assert figure_rows(bridge.scrape().since(same)) == [
        ("authorizations", "started", 0, "-"),
        ("authorizations", "completed", 0, "-"),
        ("authorizations", "failed", 0, "-"),
        ("token requests", "none", 0, "-"),
        ("Plaid calls", "none", 0, "-"),
        ("webhooks", "none", 0, "-"),
    ]


@pytest.mark.parametrize(
    ("fast", "slow", "slow_seconds", "p95"),
    [
        (20, 0, 0, "≤ 0.05 s"),  # every call in the first bucket
        (19, 1, 2.0, "≤ 0.05 s"),  # 95 % of 20 is 19 calls: the slow one is the 100th pct
        (18, 2, 2.0, "≤ 2 s"),
        (18, 2, 45.0, "> 30 s"),  # past the last bucket
    ],
)
def test_a_p95_is_the_bound_of_the_bucket_that_holds_it(
    fast: int, slow: int, slow_seconds: float, p95: str
) -> None:
    bridge = Exposition()
    for _ in range(fast):
        bridge.plaid_call("/item/get", 0.03)
    for _ in range(slow):
        bridge.plaid_call("/item/get", slow_seconds)
    assert as_table(bridge.scrape())[("Plaid calls", "/item/get: ok")] == (fast + slow, p95)


def test_the_p95_is_of_the_calls_since_the_first_scrape_only() -> None:
    bridge = Exposition()
    for _ in range(50):
        bridge.plaid_call("/item/get", 5.0)  # slow, but before this notebook
    earlier = bridge.scrape()
    for _ in range(3):
        bridge.plaid_call("/item/get", 0.07)
    assert as_table(bridge.scrape().since(earlier))[("Plaid calls", "/item/get: ok")] == (
        3,
        "≤ 0.1 s",
    )


def test_a_bridge_restarted_between_the_scrapes_counts_from_zero() -> None:
    before = Exposition()
    before.started.inc(10)
    after = Exposition()  # a new process: its counters start again
    after.started.inc(2)
    assert as_table(after.scrape().since(before.scrape()))[("authorizations", "started")] == (
        2,
        "-",
    )


def test_calls_whose_answers_the_bridge_caches_can_be_left_out() -> None:
    bridge = Exposition()
    bridge.plaid_call("/webhook_verification_key/get", 0.01)
    bridge.plaid_call("/link/token/create", 0.01)
    rows = figure_rows(bridge.scrape(), leave_out=CACHED_CALLS)
    assert [what for figure, what, _, _ in rows if figure == "Plaid calls"] == [
        "/link/token/create: ok"
    ]


# -- reading a bridge


def test_unreadable_metrics_are_one_error_saying_why_and_what_to_do() -> None:
    closed = f"http://127.0.0.1:{services.free_port()}/metrics"
    with pytest.raises(FiguresUnavailable) as refused:
        read_figures(closed, timeout=2)
    assert "connection was refused" in refused.value.message
    assert "kore-plaid stop bridge" in refused.value.fix


@pytest.fixture
def metrics_token(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The main port's /metrics on, for the bridge made after this fixture."""
    monkeypatch.setenv("BRIDGE_METRICS_TOKEN", TOKEN)
    return TOKEN


def test_a_live_bridge_counts_one_authorization_on_its_main_port(
    metrics_token: str, bridge: Bridge
) -> None:
    url = bridge.url + "/metrics"
    with pytest.raises(FiguresUnavailable, match="answered HTTP 401"):
        read_figures(url)  # no token
    earlier = read_figures(url, metrics_token)
    bridge.authorize()
    table = as_table(read_figures(url, metrics_token).since(earlier))
    assert table[("authorizations", "started")] == (1, "-")
    assert table[("authorizations", "completed")][0] == 1
    assert table[("authorizations", "failed")] == (0, "-")
    assert table[("token requests", "authorization_code: ok")][0] == 1
    assert table[("Plaid calls", "/link/token/create: ok")][0] == 1
    assert table[("Plaid calls", "/item/public_token/exchange: ok")][0] == 1
    for key, (_, p95) in table.items():
        assert p95 == "-" or p95.startswith(("≤ ", "> ")), key


# -- the runbook's bridge and notebook 07's cell


@contextlib.contextmanager
def recorded_as_running(home: Path, url: str) -> Iterator[None]:
    """This process recorded as the runbook's background bridge, and forgotten afterwards
    (before the state folder's services are stopped: this process would be)."""
    record = services.ServiceRecord("bridge", os.getpid(), "127.0.0.1", 0, url, "", time.time())
    services.write(home, record)
    try:
        yield
    finally:
        (services.services_dir(home) / "bridge.json").unlink()


@pytest.fixture
def served_as_the_runbooks_bridge(bridge: Bridge) -> Iterator[Settings]:
    """The in-thread bridge recorded as the runbook's background one, with its metrics on a
    loopback listener (BRIDGE_METRICS_PORT): the settings that find it."""
    listener = MetricsListener.start("127.0.0.1", 0, bridge.app.state.metrics)
    try:
        with recorded_as_running(bridge.settings.home, bridge.url):
            port = int(listener.url.rsplit(":", 1)[1].split("/")[0])
            yield bridge.settings.with_values(bridge_metrics_port=port)
    finally:
        listener.close()


def test_the_notebooks_cell_shows_only_what_happened_since_the_notebook_started(
    served_as_the_runbooks_bridge: Settings, bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = served_as_the_runbooks_bridge
    bridge.authorize()  # before the notebook
    bridge_figures.remember_start(settings)
    bridge.authorize()
    bridge.authorize()
    capsys.readouterr()
    bridge_figures.show_figures(settings)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("What the bridge counted during this notebook")
    assert lines[1].split() == ["figure", "what", "count", "p95", "(bucket", "bound)"]
    assert lines[3].split() == ["authorizations", "started", "2", "-"]
    assert lines[4].split()[:3] == ["authorizations", "completed", "2"]
    assert ["token", "requests", "authorization_code:", "ok", "2"] == lines[6].split()[:5]
    assert lines[-1].startswith("Not shown: /institutions/get_by_id")
    assert TOKEN not in "\n".join(lines) and "access-sandbox" not in "\n".join(lines)


def test_the_notebooks_cell_says_in_one_line_why_there_are_no_figures(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_module.load()
    bridge_figures.remember_start(settings)
    bridge_figures.show_figures(settings)  # no bridge runs
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("The bridge's figures cannot be shown: the runbook's bridge is not")
    assert "What to do: run this notebook from its first cell" in line

    closed = settings.with_values(bridge_metrics_port=services.free_port())
    with recorded_as_running(home, "http://127.0.0.1:1"):  # nothing serves its metrics
        bridge_figures.show_figures(closed)
    (line,) = capsys.readouterr().out.splitlines()
    assert "did not answer: the connection was refused" in line
    assert "What to do: restart the bridge" in line and "Traceback" not in line


def test_the_runbooks_bridge_gets_a_loopback_metrics_port_recorded_for_its_state_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, str]] = []

    def ensure_running(home: Path, name: str, command: list[str], port: int,
                       env: dict[str, str]) -> services.ServiceRecord:  # fmt: skip
        started.append(env)
        return services.ServiceRecord(name, 1, "127.0.0.1", port, "http://b", "", 0.0)

    monkeypatch.setattr(services, "ensure_running", ensure_running)
    settings = settings_module.load()
    bridge_module.ensure_bridge(settings)
    port = ports.recorded(home)[bridge_module.METRICS_PORT_NAME]
    assert started[0]["BRIDGE_METRICS_PORT"] == str(port)
    assert started[0]["BRIDGE_METRICS_HOST"] == "127.0.0.1"
    assert port != settings.app_port
    assert bridge_module.metrics_url(settings) == f"http://127.0.0.1:{port}/metrics"

    bridge_module.ensure_bridge(settings)  # the same port at every start
    assert started[1]["BRIDGE_METRICS_PORT"] == str(port)

    configured = settings.with_values(bridge_metrics_port=9464, bridge_metrics_host=EVERY_INTERFACE)
    bridge_module.ensure_bridge(configured)  # the operator's listener is left as configured
    assert started[2]["BRIDGE_METRICS_PORT"] == "9464"
    assert started[2]["BRIDGE_METRICS_HOST"] == EVERY_INTERFACE
    assert bridge_module.metrics_url(configured) == "http://127.0.0.1:9464/metrics"
