"""One HTML report of a run: a summary table, then every executed notebook."""

from __future__ import annotations

import html
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from .runner import RunReport


def write_html_report(report: RunReport, build_dir: Path, mode: str) -> Path:
    exporter = HTMLExporter(template_name="basic")
    rows = []
    bodies = []
    for result in report.results:
        status = "ok" if result.ok else f"FAILED: {html.escape(result.error)}"
        rows.append(
            f"<tr><td><a href='#{result.name}'>{result.name}</a></td>"
            f"<td>{status}</td><td>{result.seconds:.1f} s</td></tr>"
        )
        executed = build_dir / "notebooks" / f"{result.name}.ipynb"
        if executed.is_file():
            body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
            bodies.append(f"<section id='{result.name}'><h2>{result.name}</h2>{body}</section>")
    verdict = "passed" if report.ok else "FAILED"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kore-plaid runbook report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem}}
pre{{white-space:pre-wrap}}</style></head><body>
<h1>kore-plaid runbook: {verdict}</h1>
<p>Mode: {html.escape(mode)}. Written {time.strftime("%Y-%m-%d %H:%M:%S %Z")}.</p>
<table><tr><th>notebook</th><th>result</th><th>time</th></tr>{"".join(rows)}</table>
{"".join(bodies)}
</body></html>
"""
    path = build_dir / "report.html"
    path.write_text(page)
    return path
