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
