"""Session-wide isolation: the notebooks (nbval) and every test run in the embedded mode,
with a state folder and .env of their own, and nothing is left running afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SESSION_ROOT = Path(tempfile.mkdtemp(prefix="kore-plaid-test-"))


def pytest_configure(config: pytest.Config) -> None:
    from kore_plaid_nb.services import free_port
    from kore_plaid_nb.settings import ENV_NAMES

    for name in (*ENV_NAMES, "PYNGROK_NGROK_PATH"):
        os.environ.pop(name, None)
    os.environ["KORE_PLAID_HOME"] = str(SESSION_ROOT / "home")
    os.environ["KORE_PLAID_ENV_FILE"] = str(SESSION_ROOT / ".env")
    os.environ["APP_PORT"] = str(free_port())
    os.environ["KORE_SIMULATOR_PORT"] = str(free_port())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from kore_plaid_nb import services

    services.stop_all(SESSION_ROOT / "home")
    shutil.rmtree(SESSION_ROOT, ignore_errors=True)
