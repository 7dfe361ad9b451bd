"""A run starts the next notebook's kernel while the current one runs (runbook/kernels.py),
yet every notebook gets a fresh kernel of its own, in its folder, and no kernel outlives the
run, whether it passed, failed or skipped notebooks, or a kernel could not be started ahead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.runbook import kernels, runner

WHO_AM_I = "import os\nprint(os.getpid(), os.getcwd())"


def _write(folder: Path, name: str, *sources: str) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def _printed(build: Path, name: str) -> list[str]:
    nb = nbformat.read(build / "notebooks" / f"{name}.ipynb", as_version=4)
    return nb.cells[0].outputs[0]["text"].split()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(notebook, kernel pid) of every kernel the pool starts ahead."""
    seen: list[tuple[str, int]] = []
    real_start = kernels.KernelPool.start

    def start(pool: kernels.KernelPool, notebook: Path) -> object:
        manager = real_start(pool, notebook)
        seen.append((notebook.stem, manager.provisioner.process.pid))
        return manager

    monkeypatch.setattr(kernels.KernelPool, "start", start)
    return seen


def test_each_notebook_runs_in_its_own_kernel_started_ahead_and_none_survives(
    tmp_path: Path, home: Path, started: list[tuple[str, int]]
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    paths = [_write(book, name, WHO_AM_I) for name in ("00_a", "01_b", "02_c")]
    build = tmp_path / "build"

    report = runner.run_notebooks(paths, settings_module.load(), build, progress=lambda _: None)

    assert report.ok
    printed = {p.stem: _printed(build, p.stem) for p in paths}
    assert all(cwd == str(book) for _pid, cwd in printed.values())  # in the notebook's folder
    assert started == [(name, int(printed[name][0])) for name in ("00_a", "01_b", "02_c")]
    assert not [pid for _name, pid in started if _alive(pid)]


def test_kernels_of_skipped_notebooks_end_and_teardown_still_runs(
    tmp_path: Path, home: Path, started: list[tuple[str, int]]
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    paths = [
        _write(book, "00_a", "raise SystemExit('boom')"),
        _write(book, "01_b", WHO_AM_I),
        _write(book, "02_c", WHO_AM_I),
        _write(book, "08_teardown", WHO_AM_I),
    ]

    report = runner.run_notebooks(
        paths, settings_module.load(), tmp_path / "build", progress=lambda _: None
    )

    assert [(r.ok, r.ran) for r in report.results] == [
        (False, True),
        (False, False),
        (False, False),
        (True, True),
    ]
    # two kernels boot ahead (issue 28): 01's and 02's were up before 00 failed; they end,
    # and none is started for a notebook after the failure (08 gets its own)
    assert [name for name, _pid in started] == ["00_a", "01_b", "02_c"]
    assert not [pid for _name, pid in started if _alive(pid)]


def test_a_kernel_that_cannot_be_started_ahead_still_runs_its_notebook(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(pool: kernels.KernelPool, notebook: Path) -> object:
        raise OSError("no more processes")

    monkeypatch.setattr(kernels.KernelPool, "start", cannot)
    book = tmp_path / "book"
    book.mkdir()
    paths = [_write(book, name, WHO_AM_I) for name in ("00_a", "08_teardown")]

    report = runner.run_notebooks(
        paths, settings_module.load(), tmp_path / "build", progress=lambda _: None
    )

    assert report.ok


def test_kernels_listen_on_private_ipc_sockets_that_are_removed_after_the_run(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    managers = []
    real_start = kernels.KernelPool.start

    def start(pool: kernels.KernelPool, notebook: Path) -> object:
        manager = real_start(pool, notebook)
        folder = Path(manager.ip).parent
        managers.append((manager.transport, folder, folder.stat().st_mode & 0o777))
        return manager

    monkeypatch.setattr(kernels.KernelPool, "start", start)
    book = tmp_path / "book"
    book.mkdir()
    paths = [_write(book, name, WHO_AM_I) for name in ("00_a", "01_b")]

    report = runner.run_notebooks(
        paths, settings_module.load(), tmp_path / "build", progress=lambda _: None
    )

    assert report.ok
    assert [(transport, mode) for transport, _folder, mode in managers] == [("ipc", 0o700)] * 2
    assert not [folder for _transport, folder, _mode in managers if folder.exists()]


DIE_AT_BOOT = """
import sys
from pathlib import Path
from kore_plaid_nb import settings
from kore_plaid_nb.runbook import kernels, runner

real_start = kernels.KernelPool.start
dead = []

def start_then_die(pool, notebook):
    manager = real_start(pool, notebook)
    manager.provisioner.process.kill()
    manager.provisioner.process.wait()
    dead.append(manager.provisioner.process.pid)
    return manager

kernels.KernelPool.start = start_then_die
book = Path(sys.argv[1])
report = runner.run_notebooks(
    [book / "00_a.ipynb"], settings.load(), book / "build", progress=lambda _: None
)
print("ok" if report.ok else report.results, *dead)
"""


def test_a_kernel_that_dies_before_its_first_reply_is_replaced_once(
    tmp_path: Path, home: Path
) -> None:
    """What a class on one machine met: a kernel that could not bind its sockets died at
    boot; the notebook runs in a fresh kernel, and nothing is printed at the run's exit."""
    book = tmp_path / "book"
    book.mkdir()
    _write(book, "00_a", WHO_AM_I)

    run = subprocess.run(
        [sys.executable, "-c", DIE_AT_BOOT, str(book)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KORE_PLAID_HOME": str(home)},
    )

    assert run.returncode == 0, run.stderr
    verdict, dead = run.stdout.split()
    assert verdict == "ok"
    pid = int(_printed(book / "build", "00_a")[0])
    assert pid != int(dead) and not _alive(pid)
    assert "Traceback" not in run.stderr and "Error" not in run.stderr, run.stderr


def test_a_kernel_death_that_is_not_retried_fails_its_notebook_with_what_to_do(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_start = kernels.KernelPool.start

    def start_then_die(pool: kernels.KernelPool, notebook: Path) -> object:
        manager = real_start(pool, notebook)
        manager.provisioner.process.kill()
        manager.provisioner.process.wait()
        return manager

    monkeypatch.setattr(kernels.KernelPool, "start", start_then_die)
    monkeypatch.setattr(runner, "_died_booting", lambda exc: False)
    book = tmp_path / "book"
    book.mkdir()
    paths = [_write(book, "00_a", WHO_AM_I)]

    report = runner.run_notebooks(
        paths, settings_module.load(), tmp_path / "build", progress=lambda _: None
    )

    assert not report.ok
    assert "died" in report.results[0].error
    assert report.results[0].fix.startswith("Open 00_a in JupyterLab")
