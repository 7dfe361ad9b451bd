"""``kore-plaid run``: the whole runbook headless, with canary secrets that must land nowhere,
and a failing step that is named while nothing is left running."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from kore_plaid_nb import services

ROOT = Path(__file__).resolve().parent.parent
CANARY_CLIENT_ID = "canaryclient0000000000c1"
CANARY_SECRET = "canary-plaid-secret-7f3e9a1b2c"
CANARY_NGROK = "canary-ngrok-authtoken-5d8c2e4f"
PLAID_TOKEN = re.compile(
    r"(access|public|link)-(sandbox|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
)
OAUTH_CODE_IN_URL = re.compile(r"[?&](code|refresh_token)=[A-Za-z0-9_\-]{16,}")
# Files whose job is to hold secrets or tokens (0600): the .env, the SQLite stores, and the
# tunnel agent's config (the authtoken).
HOLDERS = re.compile(r"(\.env$|\.sqlite3(-wal|-shm)?$|ngrok\.yml$)")


def _run(tmp_path: Path, notebooks: Path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    unset = ("APP_PORT", "KORE_SIMULATOR_PORT")  # the run chooses them per state folder
    env = {
        **{k: v for k, v in os.environ.items() if k not in unset},
        "KORE_PLAID_HOME": str(tmp_path / "home"),
        "KORE_PLAID_ENV_FILE": str(tmp_path / ".env"),
        **extra,
    }
    command = [
        sys.executable,
        "-m",
        "kore_plaid_nb",
        "run",
        "--notebooks",
        str(notebooks),
        "--build-dir",
        str(tmp_path / "build"),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_whole_runbook_with_canary_secrets_leaks_nothing(tmp_path: Path) -> None:
    canaries = {
        "PLAID_CLIENT_ID": CANARY_CLIENT_ID,
        "PLAID_SECRET": CANARY_SECRET,
        "NGROK_AUTHTOKEN": CANARY_NGROK,
        "KORE_PLAID_MODE": "embedded",
    }
    done = _run(tmp_path, ROOT / "notebooks", canaries)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All steps passed." in done.stdout
    assert "Done in embedded mode" in done.stdout and "To go live (" in done.stdout
    assert "All 19 checks passed" in done.stdout
    assert "Authorization URL" in done.stdout  # the profile is printed at the end
    assert (tmp_path / "build" / "report.html").is_file()
    executed = sorted((tmp_path / "build" / "notebooks").glob("*.ipynb"))
    assert [p.stem[:2] for p in executed] == [f"0{i}" for i in range(9)]

    written = [p for p in tmp_path.rglob("*") if p.is_file() and not HOLDERS.search(p.name)]
    assert len(written) > 10
    for path in written:
        text = path.read_text(errors="replace")
        for canary in (CANARY_SECRET, CANARY_NGROK):
            assert canary not in text, f"{canary[:12]}… leaked into {path}"
        assert not PLAID_TOKEN.search(text), f"a Plaid token leaked into {path}"
        assert not OAUTH_CODE_IN_URL.search(text), f"a code or refresh token leaked into {path}"
        assert '"application/vnd.jupyter.widget-state+json"' not in text
    for output in (done.stdout, done.stderr):
        assert CANARY_SECRET not in output and CANARY_NGROK not in output
        assert not PLAID_TOKEN.search(output)
    assert services.running(tmp_path / "home") == []


def test_a_failing_step_is_named_and_teardown_still_runs(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, source in (
        ("00_ok", "print('fine')"),
        (
            "01_broken",
            "from kore_plaid_nb.errors import RunbookError\n"
            "raise RunbookError('The bridge is down.', fix='Start it.')",
        ),
        ("02_never", "print('not reached')"),
    ):
        nbformat.write(new_notebook(cells=[new_code_cell(source)]), notebooks / f"{name}.ipynb")
    shutil.copy(ROOT / "notebooks" / "08_teardown.ipynb", notebooks / "08_teardown.ipynb")
    done = _run(tmp_path, notebooks, {})
    assert done.returncode == 1
    assert "01_broken: FAILED" in done.stdout and "The bridge is down." in done.stdout
    assert "02_never: skipped (an earlier step failed)" in done.stdout
    assert "08_teardown: ok" in done.stdout
    assert "FAILED: 01_broken" in done.stdout
    assert "Traceback" not in done.stdout
