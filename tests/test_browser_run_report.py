"""Issue 29, point 13: the run's report draws the chain diagram (not its Mermaid source),
offline, from the files beside it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from browser_support import browser, open_tab  # noqa: F401  (fixtures)

from kore_plaid_nb.runbook.report import write_html_report
from kore_plaid_nb.runbook.runner import NotebookResult, RunReport

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_start_here.ipynb"


def test_the_reports_chain_diagram_is_drawn_offline(open_tab, tmp_path: Path) -> None:  # noqa: F811
    build = tmp_path / "build"
    (build / "notebooks").mkdir(parents=True)
    nbformat.write(nbformat.read(NOTEBOOK, as_version=4), build / "notebooks" / NOTEBOOK.name)
    report = write_html_report(
        RunReport([NotebookResult(NOTEBOOK.stem, True, 1.0)]), build, "embedded"
    )
    tab = open_tab(viewport={"width": 1280, "height": 900})
    tab.page.goto(report.as_uri())
    diagram = tab.page.locator(".jp-Mermaid svg")
    diagram.first.wait_for(state="visible")
    labels = tab.page.locator(".jp-Mermaid").first.inner_text()
    assert "flowchart LR" not in labels and "End user in the bot" in labels
    outside = [r.url for r in tab.requests if not r.url.startswith("file://")]
    assert outside == []
    tab.shot("run-report-chain")
