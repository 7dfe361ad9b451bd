"""Screenshot Prometheus' graph and alerts pages over the Prometheus test's data (issue 24).

    .venv/bin/python tools/monitoring_screenshot.py [--out build/screenshots/monitoring]

Runs what tests/test_prometheus_scrape.py runs (a throw-away PostgreSQL cluster, the embedded
Plaid emulator, two bridge replicas, Debian's Prometheus scraping both every second with a
test copy of deploy/monitoring/alerts.yml whose ``for:`` are 2 s), sends the same traffic,
waits until Prometheus has it and the Items alert fires, then opens Prometheus' classic UI
(``/classic/graph``, ``/classic/alerts``: Debian's package has no React UI) in Debian's
Chromium and saves PNGs (0600, in a 0700 folder). Grafana is not in Debian's archive, so the
dashboard itself (deploy/monitoring/grafana-dashboard.json) is not rendered here.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from monitoring_scenario import Traffic, drive, serving_replicas  # noqa: E402
from postgres_cluster import PostgresCluster  # noqa: E402
from prometheus_server import Prometheus, rules_test_copy, running_prometheus  # noqa: E402

from kore_plaid_nb import services  # noqa: E402
from kore_plaid_nb import settings as settings_module  # noqa: E402
from kore_plaid_nb.emulator import running_emulator  # noqa: E402

ALERTS = ROOT / "deploy" / "monitoring" / "alerts.yml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
PANELS = (  # one page of graphs, then the same queries as tables (their exact values)
    "sum by (instance) (kore_plaid_bridge_authorizations_completed_total)",
    "sum by (reason) (kore_plaid_bridge_authorizations_failed_total)",
    "sum by (grant_type, outcome) (kore_plaid_bridge_token_requests_total)",
    'max by (health) (kore_plaid_bridge_items{health!="healthy"})',
)
ITEMS_ALERT = "KorePlaidItemsNeedTheirUser"


@contextlib.contextmanager
def isolated_environment(folder: Path, cluster: PostgresCluster) -> Iterator[None]:
    """The environment a test gets: its own state folder and .env, none of the caller's
    keys, the cluster's new database as the store and an explicit encryption key."""
    saved = dict(os.environ)
    for name in settings_module.ENV_NAMES:
        os.environ.pop(name, None)
    os.environ.update(
        KORE_PLAID_HOME=str(folder / "home"),
        KORE_PLAID_ENV_FILE=str(folder / ".env"),
        KORE_SIMULATOR_PORT=str(services.free_port()),
        BRIDGE_DB=cluster.create_database(),
        BRIDGE_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    (folder / "home").mkdir(mode=0o700)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def up(prometheus: Prometheus) -> None:
    """Wait until Prometheus has scraped both replicas (so the graphs start from 0)."""
    prometheus.wait_for(lambda: prometheus.value("sum(up)") == 2, "both targets scraped")


def scraped(prometheus: Prometheus, traffic: Traffic) -> None:
    """Wait until Prometheus holds the traffic and the Items alert fires."""
    total = sum(traffic.completed.values())
    completed = "sum(kore_plaid_bridge_authorizations_completed_total)"
    prometheus.wait_for(lambda: prometheus.value(completed) == total, "the traffic scraped")
    prometheus.wait_for(lambda: ITEMS_ALERT in prometheus.firing(), "the alert", timeout=30)


def save(page: Page, path: Path) -> Path:
    # the fixed navigation bar would repeat mid-page in a full-page screenshot: keep it on top
    page.add_style_tag(content=".navbar.fixed-top { position: absolute !important; }")
    page.screenshot(path=str(path), full_page=True)
    path.chmod(0o600)
    return path


def panels_url(prometheus: Prometheus, tab: str) -> str:
    """The classic graph page with every one of :data:`PANELS` (tab 0: graph, 1: table)."""
    query: dict[str, str] = {}
    for n, expr in enumerate(PANELS):
        query |= {f"g{n}.expr": expr, f"g{n}.tab": tab, f"g{n}.range_input": "30s"}
        query |= {f"g{n}.stacked": "1"} if n < 2 else {}  # counts that add up
    return f"{prometheus.url}/classic/graph?{urlencode(query)}"


def photograph(browser: Browser, prometheus: Prometheus, out: Path) -> list[Path]:
    """The graphs, the same queries as tables, then the alerts page with the Items' opened."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(15_000)
    page.goto(panels_url(prometheus, "0"))
    for n in range(len(PANELS)):
        page.locator(".legend").nth(n).wait_for()
    shots = [save(page, out / "prometheus-graphs.png")]
    page.goto(panels_url(prometheus, "1"))
    for n in range(len(PANELS)):
        table = page.locator(".console_table").nth(n)
        table.locator("td", has_text="{").first.wait_for()  # its series, not "no data"
    shots.append(save(page, out / "prometheus-tables.png"))
    page.goto(f"{prometheus.url}/classic/alerts")
    page.get_by_text(ITEMS_ALERT).first.click()  # show its rule and labels
    shots.append(save(page, out / "prometheus-alerts.png"))
    page.close()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots" / "monitoring")
    args = parser.parse_args()
    args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    args.out.chmod(0o700)
    folder = Path(tempfile.mkdtemp(prefix="monitoring-shot-"))
    try:
        with PostgresCluster() as cluster, isolated_environment(folder, cluster):
            settings = settings_module.load()
            with running_emulator(settings, state_path=folder / "e.sqlite3") as emulator:
                settings = settings.with_values(plaid_api_url=emulator)
                rules = folder / "alerts.test.yml"
                rules_test_copy(ALERTS, rules)
                with (
                    serving_replicas(settings, 2, folder / "bridge.log") as replicas,
                    running_prometheus([r.target for r in replicas], rules) as prometheus,
                    sync_playwright() as playwright,
                ):
                    up(prometheus)
                    scraped(prometheus, drive(replicas, settings, emulator))
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                    )
                    try:
                        shots = photograph(browser, prometheus, args.out)
                    finally:
                        browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for shot in shots:
        print(shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
