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
