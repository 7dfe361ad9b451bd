"""The runbook's picture and ending (issue 15): 00 draws the chain, 08 closes with a checklist."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from kore_plaid_nb.runbook.ending import closing_text, go_live_items
from kore_plaid_nb.settings import Settings

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", env_file=tmp_path / ".env")


def test_embedded_run_says_so_and_lists_every_step_to_go_live(embedded: Settings) -> None:
    text = closing_text(embedded)
    lines = text.splitlines()
    assert lines[0].startswith("Done in embedded mode")
    assert lines[1] == "To go live (6 of 6 left):"
    boxes = [line.strip() for line in lines if line.strip().startswith("[")]
    assert len(boxes) == 6 and all(box.startswith("[ ] ") for box in boxes)
    assert "notebook 01" in boxes[0] and "notebook 04" in boxes[2]
    assert "Pre-authorize the Integration" in text
    assert "https://developer.kore.ai/" in lines[-1]


def test_the_checklist_ticks_what_the_settings_already_show(embedded: Settings) -> None:
    live = embedded.with_values(
        plaid_client_id="a" * 24,
        plaid_secret="b" * 30,
        plaid_env="sandbox",
        ngrok_authtoken="c" * 40,
    )
    items = go_live_items(live)
    assert [item.done for item in items] == [True, False, True, False, False, False]
    text = closing_text(live)
    assert text.splitlines()[0] == "Done in live mode (Plaid sandbox)."
    assert "To go live (4 of 6 left):" in text
    assert "b" * 30 not in text and "c" * 40 not in text


def test_notebook_00_draws_the_chain_and_links_kores_page() -> None:
    nb = nbformat.read(NOTEBOOKS / "00_start_here.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "```mermaid" in markdown
    for node in ("Kore.ai bot", "bridge", "tunnel", "Plaid API", "Token URL"):
        assert node in markdown
    assert "](https://developer.kore.ai/" in markdown


def test_notebook_08_ends_with_the_go_live_checklist() -> None:
    nb = nbformat.read(NOTEBOOKS / "08_teardown.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[-2].source == "steps.go_live(settings)"
    shown = "".join(o.get("text", "") for o in code[-2].outputs)
    assert "Done in embedded mode" in shown and "[ ] " in shown


def test_a_runbook_with_a_failed_notebook_is_not_called_done(embedded: Settings) -> None:
    statuses = {"00_start_here": "pass", "01_plaid_keys": "fail", "02_redirect_uri": "pending"}
    head = closing_text(embedded, statuses).splitlines()[0]
    assert head.startswith("Not done yet (failed: 01_plaid_keys; not done: 02_redirect_uri)")
    assert "Done in embedded mode" not in closing_text(embedded, statuses)
    assert closing_text(embedded, dict.fromkeys(statuses, "pass")).startswith("Done in embedded")
