"""Issue 29, point 3, in a real kernel: a first cell that fails on a wrong setting leaves
``settings`` defined, so every later cell says what to fix in one line (no NameError), and a
cell that only shows the settings still shows them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

CELLS = (
    "from kore_plaid_nb.runbook import steps\nsettings = steps.start('03_bridge')",
    "steps.show_settings(settings)",
    "steps.start_bridge(settings)",
)


def errors_of(cell: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_a_fresh_kernel_after_a_failed_first_cell_says_fix_the_settings_above(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_ENV=development\n")
    env_file.chmod(0o600)
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    first, shown, later = nb.cells
    [failed] = errors_of(first)
    assert "PLAID_ENV=development" in failed and f"The settings file is {env_file}." in failed
    assert errors_of(shown) == []
    assert "development" in "".join(o.get("text", "") for o in shown.outputs)
    [said] = errors_of(later)
    assert "Fix the settings above first: PLAID_ENV=development" in said
    assert "NameError" not in said
