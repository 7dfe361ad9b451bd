"""Issue 28, `make run` <= 15 s: each notebook's kernel runs the runbook's imports silently as
soon as it is up, while the notebook before runs; the notebook itself sees nothing of it (its
first cell is still [1], nothing printed)."""

from __future__ import annotations

import subprocess
import sys
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


def test_the_runner_imports_nbformat_without_jsonschemas_iri_grammar() -> None:
    """`make run`'s runner and report import nbformat (and so jsonschema) without building the
    RFC 3987 grammar (~2.5 s of CPU), and nbformat still validates a notebook there."""
    code = (
        "import sys\n"
        "from kore_plaid_nb.runbook import report, runner\n"
        "import nbformat\n"
        "from nbformat.v4 import new_code_cell, new_notebook\n"
        "nbformat.validate(new_notebook(cells=[new_code_cell('1')]))\n"
        "try:\n"
        "    nbformat.validate({'nbformat': 4, 'cells': 'not a list'})\n"
        "except nbformat.ValidationError:\n"
        "    print('invalid refused')\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["invalid refused", "None"]
