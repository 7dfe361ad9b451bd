"""Scraped for real (issue 24): Debian's Prometheus scrapes two bridge replicas that share one
PostgreSQL store, and its HTTP API shows what an operator would check.

* The counters add up across replicas: the authorizations completed, each replica's share,
  the failures by reason, the token requests by grant_type and outcome.
* Both targets are ``up`` and read their store; a repair link minted through the store (as
  ``kore-plaid items`` does, in its own process) shows as open; no label carries a code or a
  token.
* The Items-need-their-user alert of a test copy of ``deploy/monitoring/alerts.yml`` (its
  ``for:`` shortened to 2 s) fires once an Item is left ITEM_LOGIN_REQUIRED.

Without ``/usr/bin/prometheus`` the test is skipped, except under CI (env ``CI``): it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitoring_scenario import drive, serving_replicas
from prometheus_server import (
    MISSING,
    Prometheus,
    find_prometheus,
    rules_test_copy,
    running_prometheus,
)

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.store import open_bridge_store
from kore_plaid_nb.emulator import running_emulator

ALERTS = Path(__file__).resolve().parent.parent / "deploy" / "monitoring" / "alerts.yml"
ITEMS_NEED_USER = 'health="ITEM_LOGIN_REQUIRED"'  # what the Items alert's expression selects
COMPLETED = "kore_plaid_bridge_authorizations_completed_total"
FAILED = "kore_plaid_bridge_authorizations_failed_total"
TOKEN_REQUESTS = "kore_plaid_bridge_token_requests_total"
PLAID_REQUESTS = "kore_plaid_bridge_plaid_requests_total"
WEBHOOKS = "kore_plaid_bridge_webhooks_total"
ITEMS = "kore_plaid_bridge_items"
STORE_UP = "kore_plaid_bridge_store_up"
OPEN_REPAIR_LINKS = 'kore_plaid_bridge_repair_links{state="open"}'

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("prometheus_binary", "store_backend"),  # no PostgreSQL to skip
    pytest.mark.backends("postgresql"),
]


@pytest.fixture
def prometheus_binary() -> Path:
    found = find_prometheus()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING}; under CI the Prometheus test must run")
        pytest.skip(MISSING)
    return found


@pytest.fixture
def emulator(home: Path, tmp_path: Path) -> Iterator[str]:
    with running_emulator(settings_module.load(), state_path=tmp_path / "e.sqlite3") as url:
        yield url


def items_alert(rules: list[dict[str, Any]]) -> str:
    """The name of the alert on Items that need their user."""
    names = [rule["alert"] for rule in rules if ITEMS_NEED_USER in str(rule.get("expr", ""))]
    assert names, f"no alert rule of {ALERTS} selects {ITEMS_NEED_USER}"
    return str(names[0])


def nonzero(prometheus: Prometheus, promql: str, *by: str) -> dict[Any, float]:
    """``promql``'s series that are not 0, keyed by the value of the label ``by``, by the
    tuple of the labels' values when ``by`` names several (``()`` when none: a sum)."""
    found = {}
    for row in prometheus.query(promql):
        key = tuple(row["metric"].get(label, "") for label in by)
        if float(row["value"][1]):
            found[key[0] if len(by) == 1 else key] = float(row["value"][1])
    return found


def settles(prometheus: Prometheus, expected: object, promql: str, *by: str) -> None:
    """Wait until ``promql``'s nonzero series, keyed by ``by``, are ``expected`` (each
    replica is scraped on its own clock: a count may lag a second)."""
    prometheus.wait_for(
        lambda: nonzero(prometheus, promql, *by), promql, until=lambda s: s == expected
    )


def test_prometheus_sees_the_counters_of_two_replicas_add_up_and_the_items_alert_fire(
    prometheus_binary: Path, emulator: str, tmp_path: Path
) -> None:
    assert ALERTS.is_file(), f"{ALERTS} is missing"
    rules = rules_test_copy(ALERTS, tmp_path / "alerts.test.yml", hold="2s")
    alert = items_alert(rules)
    settings = settings_module.load().with_values(plaid_api_url=emulator)
    log = tmp_path / "bridge.log"
    with (
        serving_replicas(settings, 2, log) as replicas,
        running_prometheus(
            [r.target for r in replicas], tmp_path / "alerts.test.yml", prometheus_binary
        ) as prometheus,
    ):
        targets = {replica.target for replica in replicas}
        settles(prometheus, {target: 1.0 for target in targets}, "up", "instance")

        traffic = drive(replicas, settings, emulator, each=3)
        # what an operator would check: the counters of both replicas add up
        settles(prometheus, {(): 6.0}, f"sum({COMPLETED})")
        settles(
            prometheus, {t: 3.0 for t in targets}, f"sum by (instance) ({COMPLETED})", "instance"
        )
        failures = {"code_replayed": 1.0, "plaid_error": 1.0}
        settles(prometheus, failures, f"sum by (reason) ({FAILED})", "reason")
        grants = f"sum by (grant_type, outcome) ({TOKEN_REQUESTS})"
        settles(prometheus, dict(traffic.token_requests), grants, "grant_type", "outcome")
        exchange = f'{PLAID_REQUESTS}{{endpoint="/item/public_token/exchange", outcome!="ok"}}'
        settles(prometheus, {(): 1.0}, f"sum({exchange})")

        # The Item left needing its user: the webhook, the gauge (one store: max), the alert.
        item_errors = f'{WEBHOOKS}{{webhook_type="ITEM", webhook_code="ERROR", verdict="verified"}}'
        settles(prometheus, {(): 1.0}, f"sum({item_errors})")
        settles(prometheus, {(): 1.0}, f"max({ITEMS}{{{ITEMS_NEED_USER}}})")
        prometheus.wait_for(prometheus.firing, f"{alert} firing", until=lambda a: alert in a,
                            timeout=30)  # fmt: skip

        # Both replicas read the store; a repair link minted there shows once (max).
        settles(prometheus, {t: 1.0 for t in targets}, STORE_UP, "instance")
        with open_bridge_store(settings) as store:
            [ref] = [i.ref for i in store.item_statuses() if i.health == "ITEM_LOGIN_REQUIRED"]
            assert store.create_repair_link(ref) is not None
        settles(prometheus, {(): 1.0}, f"max({OPEN_REPAIR_LINKS})")

        labels = prometheus.series('{__name__=~"kore_plaid_bridge_.+"}')
        shown = {value for series in labels for value in series.values()}
        assert not [secret for secret in traffic.secrets if any(secret in v for v in shown)]
    assert "Traceback" not in log.read_text()
