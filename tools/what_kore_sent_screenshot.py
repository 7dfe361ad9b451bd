"""Screenshot notebook 06's "What Kore sent" (issue 22), from its stored outputs.

    .venv/bin/python tools/what_kore_sent_screenshot.py [--out docs/screenshots]

Renders ``notebooks/06_authorize.ipynb`` with nbconvert (JupyterLab's look), opens it in
Debian's Chromium through Playwright, and saves the section from its heading to the end.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_authorize.ipynb"
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(NOTEBOOK, 4))
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "what-kore-sent.png"
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        page_file = Path(folder) / "06.html"
        page_file.write_text(html, encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.goto(page_file.as_uri())
        heading = page.locator("h3", has_text="What Kore sent")
        start = heading.bounding_box()
        end = page.locator(".jp-Cell").last.bounding_box()
        if start is None or end is None:
            raise SystemExit("notebook 06 has no 'What Kore sent' section: run make notebooks")
        clip = {"x": 0, "y": start["y"] - 10, "width": 1500, "height": end["y"] - start["y"]}
        page.screenshot(path=str(target), clip=clip, full_page=True)
        browser.close()
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
