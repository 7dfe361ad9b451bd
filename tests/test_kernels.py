"""A run starts the next notebook's kernel while the current one runs (runbook/kernels.py),
yet every notebook gets a fresh kernel of its own, in its folder, in order, and no kernel
outlives the run, whether it passed, failed or skipped notebooks."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.runbook import runner

WHO_AM_I = "import os, time\nprint(os.getpid(), os.getcwd(), time.time())"


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


def test_each_notebook_runs_in_its_own_kernel_in_order_and_none_survives(
    tmp_path: Path, home: Path
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    paths = [_write(book, name, WHO_AM_I) for name in ("00_a", "01_b", "02_c")]
    build = tmp_path / "build"

    report = runner.run_notebooks(paths, settings_module.load(), build, progress=lambda _: None)

    assert report.ok
    printed = [_printed(build, p.stem) for p in paths]
    pids = [int(p[0]) for p in printed]
    assert len(set(pids)) == 3  # a fresh kernel each
    assert all(p[1] == str(book) for p in printed)  # started in the notebook's folder
    assert [float(p[2]) for p in printed] == sorted(float(p[2]) for p in printed)
    assert not [pid for pid in pids if _alive(pid)]


def test_kernels_of_skipped_notebooks_end_too(tmp_path: Path, home: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    paths = [
        _write(book, "00_a", "raise SystemExit('boom')"),
        _write(book, "01_b", WHO_AM_I),
        _write(book, "08_teardown", WHO_AM_I),
    ]
    build = tmp_path / "build"
    before = _kernel_pids()

    report = runner.run_notebooks(paths, settings_module.load(), build, progress=lambda _: None)

    assert [r.ok for r in report.results] == [False, False, True]
    assert [r.ran for r in report.results] == [True, False, True]
    assert _kernel_pids() <= before  # the skipped notebook's pre-started kernel ended


def _kernel_pids() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ipykernel_launcher" in cmdline and _alive(int(entry.name)):
                found.add(int(entry.name))
    return found
