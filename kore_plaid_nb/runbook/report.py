"""One HTML report of a run: a summary table of every notebook, then each executed one."""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output

from ..private_files import private_folder, write_private
from ..settings import project_root
from .runner import FIX_PREFIX, RunReport, is_not_run

REPORT_NAME = "report.html"
ASSETS = "report-assets"  # beside the report: what it loads, so it opens offline
# Mermaid draws the notebooks' diagrams (installed by `make install`: tools/install_docs_assets.sh)
MERMAID_JS = project_root() / ".tools/mermaid/node_modules/mermaid/dist/mermaid.min.js"
NOT_RUN_CELL = "(not run: an earlier cell of this notebook failed)\n"


def remove_report(build_dir: Path) -> None:
    """At the start of a run: the last run's report must not pass for this one's."""
    (build_dir / REPORT_NAME).unlink(missing_ok=True)


class ExporterWarmUp:
    """The report's HTML exporter, readied in a thread while the notebooks run: its first
    conversion loads the templates and lexers (~1 s), which the run's end need not wait for."""

    def __init__(self) -> None:
        self._exporter: HTMLExporter | None = None
        self._thread = threading.Thread(target=self._warm, name="report-warm-up", daemon=True)
        self._thread.start()

    def _warm(self) -> None:
        try:
            exporter = HTMLExporter(template_name="basic")
            exporter.from_notebook_node(new_notebook(cells=[new_code_cell("print(1)")]))
        except Exception:  # noqa: BLE001 - the report then builds its own, and says what failed
            return
        self._exporter = exporter

    def exporter(self) -> HTMLExporter:
        self._thread.join()
        return self._exporter or HTMLExporter(template_name="basic")


def write_html_report(
    report: RunReport,
    build_dir: Path,
    mode: str,
    link_mode: str = "page",
    warm: ExporterWarmUp | None = None,
) -> Path:
    exporter = warm.exporter() if warm else HTMLExporter(template_name="basic")
    rows = []
    bodies = []
    for result in report.results:
        name = html.escape(result.name)
        executed = build_dir / "notebooks" / f"{result.name}.ipynb"
        shown = result.ran and executed.is_file()
        link = f"<a href='#{name}'>{name}</a>" if shown else name
        if not result.ran:
            outcome, seconds = "not run (an earlier step failed)", "&ndash;"
        elif result.ok:
            outcome, seconds = "passed", f"{result.seconds:.1f} s"
        else:
            fix = f"<br>{html.escape(FIX_PREFIX + result.fix)}" if result.fix else ""
            outcome = f"<strong>FAILED</strong>: {html.escape(result.error)}{fix}"
            seconds = f"{result.seconds:.1f} s"
        rows.append(f"<tr><td>{link}</td><td>{outcome}</td><td>{seconds}</td></tr>")
        if shown:
            body, _ = exporter.from_notebook_node(_marked(nbformat.read(executed, as_version=4)))
            bodies.append(f"<section id='{name}'><h2>{name}</h2>{body}</section>")
    verdict = "passed" if report.ok else "FAILED"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kore-plaid runbook report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem}}
pre{{white-space:pre-wrap}}</style></head><body>
<h1>kore-plaid runbook: {verdict}</h1>
<p>Mode: {html.escape(mode)}, link mode {html.escape(link_mode)}.
Written {time.strftime("%Y-%m-%d %H:%M:%S %Z")}.</p>
<table><tr><th>notebook</th><th>result</th><th>time</th></tr>{"".join(rows)}</table>
{"".join(bodies)}
{_diagram_script(build_dir)}
</body></html>
"""
    return write_private(private_folder(build_dir) / REPORT_NAME, page)


def _diagram_script(build_dir: Path) -> str:
    """Mermaid, copied beside the report, draws each ``pre.mermaid``; without it (npm was
    missing at install) the diagrams stay as their source, which reads too."""
    try:
        script = MERMAID_JS.read_bytes()
    except OSError:
        return ""
    write_private(private_folder(build_dir / ASSETS) / "mermaid.min.js", script)
    return (
        f'<script src="{ASSETS}/mermaid.min.js"></script>\n'
        '<script>mermaid.initialize({startOnLoad: true, securityLevel: "strict"});</script>'
    )


def _marked(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as shown in the report: a cell that did not run says so."""
    for cell in nb.cells:
        if is_not_run(cell):
            cell.outputs = [new_output("stream", name="stderr", text=NOT_RUN_CELL)]
    return nb
