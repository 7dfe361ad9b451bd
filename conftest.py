"""Session-wide isolation: the notebooks (nbval) and every test run in the embedded mode,
with a state folder and .env of their own, and nothing is left running afterwards."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

# jsonschema (the spec's validators, nbformat) builds an RFC 3987 grammar at import when
# rfc3987_syntax is installed: ~2 s of CPU in every test process. It serves only the "iri"
# formats of drafts 7+, which no schema here checks (OpenAPI 3.0 and notebooks are draft 4),
# so the tests run jsonschema as without it, as kore_plaid_nb.runbook does.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

SESSION_ROOT = Path(tempfile.mkdtemp(prefix="kore-plaid-test-"))


def pytest_configure(config: pytest.Config) -> None:
    from kore_plaid_nb.settings import ENV_NAMES

    for name in (*ENV_NAMES, "PYNGROK_NGROK_PATH"):
        os.environ.pop(name, None)
    os.environ["KORE_PLAID_HOME"] = str(SESSION_ROOT / "home")
    os.environ["KORE_PLAID_ENV_FILE"] = str(SESSION_ROOT / ".env")
    app_port = session_port(exclude=set())
    os.environ["APP_PORT"] = str(app_port)
    os.environ["KORE_SIMULATOR_PORT"] = str(session_port(exclude={app_port}))


# -- make test-fast (`--fast`): units and contract tests only, for the inner loop. Left out: the
# notebooks, browsers, JupyterHub, whole runs, PostgreSQL, the harness' slow suites, and every
# test that starts the project's services as processes (they all run in `make test`).
SLOW_FILES = (  # files, or tests by the start of their id
    "tests/test_browser_",
    "tests/test_pages_",  # Chromium on every end-user page
    "tests/test_emulator_link_browser.py",
    "tests/test_page_speed.py",  # Chromium
    "tests/test_jupyterhub.py",
    "tests/test_training_class.py",
    "tests/test_runbook_run.py",
    "tests/test_run_report.py",
    "tests/test_harness_",
    "tests/test_bridge_replicas.py",
    "tests/test_bridge_restart.py",
    "tests/test_bridge_logs.py::test_every_log_line",  # bridge processes
    "tests/test_prometheus_scrape.py",
    "tests/test_metrics_exposure.py::test_command_",  # the bridge as its own process
    "tests/test_postgres_cluster.py",
    "tests/test_install.py",
    "tests/test_services.py",
    "tests/test_tunnel.py",
    "tests/test_tunnel_standin.py",
    "tests/test_verify_e2e.py",
    "tests/test_verify_matrix.py",
    "tests/test_kore_standin.py",
    "tests/test_kernels.py",
    "tests/test_cli.py",
    "tests/test_newcomer_round3_commands.py::test_a_busy_",  # the commands as processes
    "tests/test_newcomer_round3_commands.py::test_a_service_start_",
    "tests/test_newcomer_round3_kernel.py",  # a real kernel
    "tests/test_kernel_warm_up.py",  # a real kernel
    "tests/test_newcomer_round3_services.py",  # the emulator as a process
    "tests/test_docs_site.py",  # builds the site, opens Chromium
    "tests/test_kore_profile.py::test_a_click_in_a_kernel",  # a real kernel
    # services or commands started as processes (~1 s of CPU each)
    "tests/test_board.py::test_the_command_",
    "tests/test_board.py::test_a_port_in_use_",
    "tests/test_emulator.py::test_background_service_",
    "tests/test_emulator.py::test_service_restarts_",
    "tests/test_emulator_attacks.py::test_a_50_mb_body_",
    "tests/test_emulator_attacks.py::test_a_client_aborting_mid_body_",
    "tests/test_ports.py::test_a_chosen_port_taken_meanwhile_",
    "tests/test_ports.py::test_a_busy_explicit_port_",
    "tests/test_progress.py::test_reset_stops_services_",
    "tests/test_runbook_units.py::test_a_tunnel_url_that_changed_",
    "tests/test_metrics_exposure.py::test_only_a_worker_of_the_command_",
    "tests/test_metrics_recording.py::test_the_series_rules_and_dashboards_",  # a fresh process
    "tests/test_lint_policy.py::test_bandit_",  # bandit over the package (make security too)
    "tests/test_emulator_conformance.py::test_no_body_shape_",  # ~5000 fuzzed requests
)
SERVER_FIXTURES = {"postgres_cluster", "bridge_database"}
SERVER_BACKENDS = ("postgresql", "replicas")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="make test-fast: units and contract tests only (no notebooks, browser or servers)",
    )


def is_slow(item: pytest.Item) -> bool:
    if item.nodeid.startswith(("notebooks/", *SLOW_FILES)):
        return True
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return params.get("store_backend") in SERVER_BACKENDS


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under --fast, a whole slow file is not even imported (Playwright, schemathesis...)."""
    if not config.getoption("--fast") or collection_path.suffix != ".py":
        return None
    relative = collection_path.relative_to(config.rootpath).as_posix()
    if relative.startswith(tuple(entry for entry in SLOW_FILES if "::" not in entry)):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    fast, slow = [], []
    for item in items:
        (slow if is_slow(item) else fast).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = fast


def session_port(exclude: set[int]) -> int:
    """A free port for the notebooks, below Linux's ephemeral range (32768-60999) as
    kore_plaid_nb.ports chooses them: the notebooks bind it minutes later, and meanwhile
    every outgoing connection and port-0 server (of the other xdist worker too) takes its
    port from the ephemeral range."""
    from kore_plaid_nb.ports import RANGE

    chooser = random.SystemRandom()
    for _ in range(100):
        port = chooser.randint(*RANGE)
        if port in exclude:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port from {RANGE[0]} to {RANGE[1]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from kore_plaid_nb import services

    services.stop_all(SESSION_ROOT / "home")
    shutil.rmtree(SESSION_ROOT, ignore_errors=True)


# -- pytest-xdist: `make test` runs `-n 2` (PYTEST_WORKERS=N to change; 0 runs in this process) --
# Each worker is a process of its own: it imports this file, so it gets its own SESSION_ROOT,
# KORE_PLAID_HOME, ports and (tests/conftest.py) PostgreSQL cluster. `--dist loadfile` (pyproject
# addopts) makes one test file a unit of work, run whole on one worker, so module-scoped
# fixtures (browser, emulator, stack) start once; all the notebooks are one unit, run in order,
# as each builds on what the previous one left (keys, bridge, tunnel...). The longest units
# start first, so that the workers finish together.

# Rough seconds per unit (`--durations`, 3 workers, 2026-12-07); they only order the queue.
# Others: 0.2 s per test.
UNIT_SECONDS = {
    "tests/test_docs_site.py": 110,
    "tests/test_training_class.py": 45,
    "tests/test_jupyterhub.py": 50,
    "tests/test_runbook_run.py": 75,
    "tests/test_harness_fuzz.py": 130,
    "tests/test_bridge_replicas.py": 60,
    "tests/test_bridge_flow.py": 26,
    "tests/test_bridge_oauth.py": 20,
    "tests/test_harness_faults.py": 17,
    "tests/test_run_report.py": 15,
    "notebooks": 15,
    "tests/test_emulator_conformance.py": 28,
    "tests/test_bridge_webhooks.py": 13,
    "tests/test_emulator_link_browser.py": 13,
    "tests/test_bridge_repair.py": 10,
    "tests/test_browser_repair.py": 10,
    "tests/test_bridge_hosted_link.py": 10,
    "tests/test_emulator_webhooks.py": 6,
    "tests/test_bridge_rotation.py": 8,
    "tests/test_bridge_restart.py": 30,
    "tests/test_bridge_sessions_attacks.py": 9,
    "tests/test_browser_replicas.py": 10,
    "tests/test_browser_page.py": 10,
    "tests/test_pages_accessibility.py": 30,
    "tests/test_pages_phones.py": 20,
    "tests/test_harness_restart.py": 16,
    "tests/test_tunnel.py": 8,
    "tests/test_browser_board.py": 8,
    "tests/test_page_speed.py": 10,
    "tests/test_page_weight.py": 9,
    "tests/test_plaid_hot_path_equivalence.py": 15,
    "tests/test_prometheus_scrape.py": 26,  # one test: unlisted, it would start last
    "tests/test_kernels.py": 20,
    "tests/test_newcomer_round3_services.py": 40,
    "tests/test_lint_policy.py": 12,
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist, asked for on the command line: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        """``--dist loadfile``, with all the notebooks in one unit and the longest units first."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.startswith("notebooks/") else path

        def _assign_work_unit(self, node: object) -> None:
            def seconds(scope: str) -> float:
                return UNIT_SECONDS.get(scope, 0.2 * len(self.workqueue[scope]))

            self.workqueue.move_to_end(max(self.workqueue, key=seconds), last=False)
            super()._assign_work_unit(node)

    return FileScheduling(config, log)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly when the browser tests did not run (SKIP_BROWSER=1): a green run without
    them must not pass for a whole one."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "SKIP_BROWSER=1" in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"THE BROWSER TESTS DID NOT RUN: {len(skipped)} skipped (SKIP_BROWSER=1, no "
            "Chromium). Install Debian's chromium and run make test again for them.",
            red=True,
            bold=True,
        )
