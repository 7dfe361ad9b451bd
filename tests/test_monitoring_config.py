"""The monitoring files in ``deploy/monitoring/`` work as an operator loads them: Prometheus'
own ``promtool`` accepts the rules and the scrape configuration, every alert fires in its unit
test, every dashboard query is PromQL, and every metric they (and the README's table) name is
one the bridge exports, with the labels it has."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from kore_plaid_nb.bridge.metrics import catalog

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
JOB = "kore-plaid-bridge"
METRIC_NAME = re.compile(rf"\b{catalog.PREFIX}_[a-z0-9_]*[a-z0-9]")
# Grafana's own variables, as a 5 m dashboard would expand them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is missing (Debian: apt-get install --no-install-recommends prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; under CI the monitoring checks must run")
        pytest.skip(reason)
    return path


def run_promtool(*args: str, cwd: Path = MONITORING) -> str:
    done = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def load_yaml(name: str) -> Any:
    return yaml.safe_load((MONITORING / name).read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml("alerts.yml")["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return loaded


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` of every panel's targets."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def catalog_metrics() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """``exposed name -> (type, labels, help)`` of every metric the bridge exports."""
    collectors = [v for v in vars(catalog).values() if isinstance(v, MetricWrapperBase)]
    registered = {family.name for family in catalog.REGISTRY.collect()}
    assert {c._name for c in collectors} == registered  # every collector is in REGISTRY
    metrics = {
        c._name + ("_total" if c._type == "counter" else ""): (
            c._type,
            tuple(c._labelnames),
            c._documentation,
        )
        for c in collectors
    }
    metrics[catalog.ITEMS_NAME] = ("gauge", catalog.ITEMS_LABELS, catalog.ITEMS_HELP)
    metrics[catalog.REPAIR_LINKS_NAME] = (
        "gauge",
        catalog.REPAIR_LINKS_LABELS,
        catalog.REPAIR_LINKS_HELP,
    )
    metrics[catalog.STORE_UP_NAME] = ("gauge", (), catalog.STORE_UP_HELP)
    metrics[f"{catalog.BUILD_INFO_NAME}_info"] = (
        "gauge",
        catalog.BUILD_INFO_LABELS,
        catalog.BUILD_INFO_HELP,
    )
    return metrics


def exposed_series_names() -> set[str]:
    """Every series name a scrape can show: histograms as ``_bucket``, ``_sum``, ``_count``."""
    names = set()
    for name, (kind, _, _) in catalog_metrics().items():
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        names.update(name + suffix for suffix in suffixes)
    return names


def test_the_alert_rules_pass_promtool_check_rules() -> None:
    output = run_promtool("check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_the_scrape_configuration_passes_promtool_check_config() -> None:
    run_promtool("check", "config", "prometheus.yml")
    config = load_yaml("prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    assert job["job_name"] == JOB and job["metrics_path"] == "/metrics"
    [static] = job["static_configs"]
    assert len(static["targets"]) >= 2  # N replicas, one target each
    assert job["file_sd_configs"][0]["files"]
    # the bearer-token variant for the main port is there, commented out
    text = (MONITORING / "prometheus.yml").read_text()
    assert "#     credentials_file:" in text and "#     type: Bearer" in text


def test_every_alert_has_a_severity_a_summary_and_a_runbook_line() -> None:
    rules = alert_rules()
    assert len(rules) >= 8
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule["alert"]
        runbook = annotations["runbook"]
        assert runbook.strip() and "\n" not in runbook.strip(), rule["alert"]
    jobs = {m for rule in rules for m in re.findall(r'up\{job="([^"]+)"\}', rule["expr"])}
    assert jobs == {JOB}  # the bridge-down rule watches the scrape configuration's job


def test_every_alert_fires_in_its_unit_test_and_stays_silent_when_healthy() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    tests = load_yaml("alerts_test.yml")["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert names - firing == set(), "alerts without a test where they fire"
    assert names - silent == set(), "alerts without a test where they stay silent"
    assert firing | silent <= names, "tests of alerts that do not exist"
    assert "SUCCESS" in run_promtool("test", "rules", "alerts_test.yml")


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    rules = []
    for number, (_, expr) in enumerate(queries):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$__" not in expr, expr
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run_promtool("check", "rules", str(path), cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in output


def test_the_dashboard_shows_what_operations_asks() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    [datasource] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${" + datasource["name"] + "}", panel["title"]
    text = " ".join(expr for _, expr in dashboard_queries())
    for needed in (
        "authorizations_started_total",
        "authorizations_completed_total",
        "sum by (reason) (rate(kore_plaid_bridge_authorizations_failed_total",
        "histogram_quantile(0.99, sum by (grant_type, le) (rate("
        "kore_plaid_bridge_token_request_seconds_bucket",
        "histogram_quantile(0.95, sum by (endpoint, le) (rate("
        "kore_plaid_bridge_plaid_request_seconds_bucket",
        "sum by (endpoint, outcome) (rate(kore_plaid_bridge_plaid_requests_total",
        "sum by (verdict, reason) (rate(kore_plaid_bridge_webhooks_total",
        "max by (health) (kore_plaid_bridge_items",
        "store_transaction_seconds_bucket",
        "store_unavailable_total",
        "sum(kore_plaid_bridge_store_up",
        'max(kore_plaid_bridge_repair_links{instance=~"$instance", state="open"})',
        "repair_links_used_total",
        "sessions_rate_limited_total",
        "kore_plaid_bridge_build_info",
    ):
        assert needed in text, needed


def test_a_store_outage_alerts_without_traffic_and_items_alert_says_what_it_means() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    [down] = [r for r in rules.values() if "kore_plaid_bridge_store_up" in r["expr"]]
    assert " ".join(down["expr"].split()) == "min(kore_plaid_bridge_store_up) == 0"
    assert down["for"] == "2m" and down["labels"]["severity"] == "critical"
    items = rules["KorePlaidItemsNeedTheirUser"]["annotations"]["runbook"]
    assert "some Item has needed its user for 1 h" in items


def test_every_metric_the_dashboard_and_the_alerts_name_is_exported() -> None:
    exported = exposed_series_names()
    for name in ("grafana-dashboard.json", "alerts.yml", "alerts_test.yml"):
        used = set(METRIC_NAME.findall((MONITORING / name).read_text()))
        assert used, name
        assert used - exported == set(), f"{name} names metrics the bridge does not export"


def readme_metric_rows() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """The README's "Monitoring" table: ``name -> (type, labels, help)``."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Monitoring\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| metric | type | labels | help |\n|---|---|---|---|\n", 1)[1]
    rows = {}
    for line in table.split("\n\n", 1)[0].splitlines():
        name, kind, labels, help_text = (cell.strip() for cell in line.strip("|").split(" | "))
        rows[name.strip("`")] = (
            kind,
            tuple(label.strip(" `") for label in labels.split(",") if label.strip()),
            " ".join(help_text.split()),
        )
    return rows


def test_the_readme_lists_every_metric_with_its_type_labels_and_help() -> None:
    expected = {
        name: (kind, labels, " ".join(help_text.split()))
        for name, (kind, labels, help_text) in catalog_metrics().items()
    }
    rows = readme_metric_rows()
    expected_rows = "\n".join(
        f"| `{name}` | {kind} | {', '.join(f'`{label}`' for label in labels)} | {help_text} |"
        for name, (kind, labels, help_text) in expected.items()
    )
    assert rows == expected, f"README.md's Monitoring table should read:\n{expected_rows}"


def test_the_readme_explains_every_alert_and_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Monitoring\n", 1)[1].split("\n## ", 1)[0]
    for rule in alert_rules():
        assert f"| `{rule['alert']}` |" in section, rule["alert"]
    for name in (
        "BRIDGE_METRICS_PORT",
        "BRIDGE_METRICS_HOST",
        "BRIDGE_METRICS_TOKEN",
        "BRIDGE_LOG_FORMAT",
        "BRIDGE_LOG_LEVEL",
    ):
        assert name in section, name
        assert f"| `{name}` |" in readme, f"{name} is missing from the settings table"
