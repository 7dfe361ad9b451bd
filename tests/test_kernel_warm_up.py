"""Issue 28, `make run` <= 15 s: each notebook's kernel runs the runbook's imports silently as
soon as it is up, while the notebook before runs; the notebook itself sees nothing of it (its
first cell is still [1], nothing printed)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.runbook import kernels, runner


def test_a_warmed_kernel_has_the_imports_and_the_notebook_sees_no_trace(
    home: Path, tmp_path: Path
) -> None:
    notebook = tmp_path / "00_warm.ipynb"
    cells = ["import sys\nprint('json.tool' in sys.modules, 'warmed' in globals())"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), notebook)
    settings = settings_module.load()
    pool = kernels.KernelPool(kernels.kernel_log(settings), warm_up="import json.tool")
    try:
        kernel = pool.start(notebook)
        pool.warmed(kernel)  # as the runner does before a notebook's first request
        result = runner.execute(notebook, settings, tmp_path / "out.ipynb", False, kernel)
    finally:
        pool.close()
    assert result.ok, result.error
    [cell] = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert cell.execution_count == 1
    assert [o.get("text") for o in cell.outputs] == ["True False\n"]
