"""Issue 29, point 2, with the emulator as the runbook runs it (a background service): a Kore
callback saved while it runs is allowed at once, as notebook 02 checks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb import stack
from kore_plaid_nb.verification import check_redirect_uri_registered


def test_a_callback_saved_while_the_emulator_runs_passes_the_check(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / ".env"))
    first = stack.plaid_settings(settings_module.load())  # starts the emulator
    try:
        pid = stack.services.read(first.home, "emulator").pid
        new = "https://bots.example.com/workflows/callback/"
        settings_module.save({"PLAID_REDIRECT_URI": new})  # notebook 02's form
        now = stack.plaid_settings(settings_module.load())
        [check] = check_redirect_uri_registered(now, new)
        assert check.registered
        assert stack.services.read(first.home, "emulator").pid == pid  # not restarted
    finally:
        stack.services.stop_all(settings_module.home_path())


def test_a_service_ends_with_the_jupyter_server_that_started_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 29, point 8: a kernel's services watch its server (JPY_PARENT_PID)."""
    import subprocess
    import time

    from kore_plaid_nb import emulator, services

    server = subprocess.Popen(["sleep", "120"])  # stands for the Jupyter server
    try:
        monkeypatch.setenv("JPY_PARENT_PID", str(server.pid))
        record = emulator.ensure_emulator(settings_module.load())
        assert services.pid_alive(record.pid)
        time.sleep(1.5)
        assert services.pid_alive(record.pid)  # a kernel may come and go: the server counts
        server.kill()
        server.wait()
        deadline = time.monotonic() + 15
        while services.pid_alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not services.pid_alive(record.pid)
        assert "has stopped, so this service stops too" in Path(record.log).read_text()
    finally:
        server.kill()
        services.stop_all(settings_module.home_path())


@pytest.mark.parametrize("skip_browser", ["", "1"])
def test_without_chromium_the_browser_tests_fail_or_are_said_skipped(
    skip_browser: str, tmp_path: Path
) -> None:
    """Issue 29, point 10: 31 browser tests skipped in silence, green, on a fresh machine."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SKIP_BROWSER")}
    env.update(KORE_PLAID_CHROMIUM=str(tmp_path / "no-chromium"), SKIP_BROWSER=skip_browser)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n0",
         "tests/test_browser_run_report.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if skip_browser:
        assert done.returncode == 0, done.stdout[-2000:]
        assert "THE BROWSER TESTS DID NOT RUN: 1 skipped" in done.stdout
    else:
        assert done.returncode == 1 and "1 error" in done.stdout, done.stdout[-2000:]
        assert "SKIP_BROWSER=1" in done.stdout and "apt-get install chromium" in done.stdout
