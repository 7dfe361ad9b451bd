"""``kore-plaid run``'s report and console after a failure: only this run's outputs, every
notebook listed (passed, FAILED, not run), the fix printed, nothing left from an older run."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kore_plaid_nb.runbook import command, runner
from kore_plaid_nb.runbook.steps import HEADLESS_ENV

CLASS_NAMES = ("RunbookError", "ServiceError", "SettingsError", "CellExecutionError", "Traceback")


def _stored(source: str, stale: str) -> nbformat.NotebookNode:
    """A code cell as notebooks/ stores it for nbval: with the output of an earlier run."""
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text=f"{stale}\n")]
    return cell


def _write(folder: Path, name: str, *cells: nbformat.NotebookNode) -> None:
    nbformat.write(new_notebook(cells=list(cells)), folder / f"{name}.ipynb")


def _runbook(tmp_path: Path) -> Path:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write(notebooks, "00_ok", _stored("print('zero ran')", "stale-00"))
    _write(
        notebooks,
        "01_broken",
        _stored("print('first cell ran')", "stale-01-first"),
        _stored(
            "from kore_plaid_nb.errors import ServiceError\n"
            "raise ServiceError('The bridge is down.', fix='Start it with kore-plaid start.')",
            "stale-01-ok-row",
        ),
        _stored("print('never')", "stale-INVALID_API_KEYS"),
    )
    _write(notebooks, "02_never", _stored("print('not reached')", "stale-02-ok-row"))
    _write(notebooks, "08_end", _stored("print('teardown ran')", "stale-08"))
    return notebooks


def _text(report: Path) -> str:
    page = report.read_text()
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_a_failed_run_reports_only_this_runs_outputs_and_every_notebook(tmp_path: Path) -> None:
    notebooks = _runbook(tmp_path)
    build = tmp_path / "build"
    (build / "notebooks").mkdir(parents=True)
    (build / "report.html").write_text("<h1>kore-plaid runbook: passed</h1> stale-report")
    _write(build / "notebooks", "02_never", _stored("print('x')", "stale-executed-02"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("APP_PORT", "KORE_SIMULATOR_PORT")},
        "KORE_PLAID_HOME": str(tmp_path / "home"),
        "KORE_PLAID_ENV_FILE": str(tmp_path / ".env"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "run", "--notebooks", str(notebooks)]
        + ["--build-dir", str(build)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr

    # the console: the failure with its fix, no library class names
    assert "01_broken: FAILED" in done.stdout and "The bridge is down." in done.stdout
    assert done.stdout.count("What to do: Start it with kore-plaid start.") == 2
    for name in CLASS_NAMES:
        assert name not in done.stdout and name not in done.stderr

    # the report: this run only, every notebook, times, the fix
    text = _text(build / "report.html")
    assert "kore-plaid runbook: FAILED" in text
    assert "stale" not in text
    assert re.search(r"00_ok passed \d+\.\d s", text)
    assert re.search(
        r"01_broken FAILED : The bridge is down\. What to do: Start it with kore-plaid start\. "
        r"\d+\.\d s",
        text,
    )
    assert "02_never not run (an earlier step failed)" in text
    assert re.search(r"08_end passed \d+\.\d s", text)
    assert "first cell ran" in text and "teardown ran" in text
    assert text.count("(not run: an earlier cell of this notebook failed)") == 1

    # build/: no executed notebook of an older run; the cells after the failure are empty
    assert sorted(p.stem for p in (build / "notebooks").glob("*.ipynb")) == [
        "00_ok",
        "01_broken",
        "08_end",
    ]
    executed = nbformat.read(build / "notebooks" / "01_broken.ipynb", as_version=4)
    assert executed.cells[2].outputs == [] and executed.cells[2].execution_count is None
    assert runner.is_not_run(executed.cells[2]) and not runner.is_not_run(executed.cells[1])


def test_a_run_that_breaks_off_still_replaces_the_last_report(tmp_path: Path, monkeypatch) -> None:
    notebooks = _runbook(tmp_path)
    build = tmp_path / "build"
    build.mkdir()
    (build / "report.html").write_text("<h1>kore-plaid runbook: passed</h1>")
    monkeypatch.setenv("KORE_PLAID_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv(HEADLESS_ENV, "1")

    def breaks_off(*args, **kwargs) -> None:
        raise RuntimeError("the machine ran out of memory")

    monkeypatch.setattr(runner, "run_notebooks", breaks_off)  # the command imports it late
    args = argparse.Namespace(notebooks=notebooks, build_dir=build, only=(), store_outputs=False)
    with pytest.raises(RuntimeError):
        command.run(args)
    text = _text(build / "report.html")
    assert "kore-plaid runbook: FAILED" in text
    for name in ("00_ok", "01_broken", "02_never", "08_end"):
        assert f"{name} not run" in text
