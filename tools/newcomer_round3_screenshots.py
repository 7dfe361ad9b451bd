"""Walk issue 29's newcomer paths in JupyterLab in Chromium and take screenshots.

    .venv/bin/python tools/newcomer_round3_screenshots.py [--out build/screenshots]

JupyterLab runs on a throw-away copy of ``notebooks/`` whose ``.env`` says
``PLAID_ENV=development`` (a fresh kernel per notebook), then:

- ``round3-01-development.png``: notebook 01 run from the top: the problem shown, the key form
  there to fix it, the check cell saying "fix the settings above first";
- ``round3-03-development.png``: notebook 03: the first cell fails, a later cell (run on its own)
  says "fix the settings above first" instead of ``NameError``;
- ``round3-02-callback-changed.png``: with the setting fixed, notebook 02: a new Kore callback
  typed and saved, then the redirect check run again, checking the new one.

It also prints whether opening a notebook marks it modified (JupyterLab's ``dirty`` flag).
JupyterLab and every kernel stop at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("newcomer", HERE / "newcomer_screenshots.py")
assert _spec is not None and _spec.loader is not None  # noqa: S101  # nosec B101
newcomer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(newcomer)

NEW_CALLBACK = "https://bots.kore.ai/workflows/callback/"
OUT = ".jp-OutputArea-output >> "  # in the outputs, not the cells' source
DIRTY = "() => window.jupyterapp.shell.currentWidget.context.model.dirty"


def open_notebook(page, base: str, notebook: str) -> bool:  # noqa: ANN001
    """Open ``notebook``, wait for its idle kernel; True when opening marked it modified."""
    page.goto(f"{base}/lab/tree/{notebook}")
    ready = """path => {
        const current = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const kernel = current && current.sessionContext && current.sessionContext.session
            && current.sessionContext.session.kernel;
        return !!kernel && current.context.path === path && kernel.status === "idle";
    }"""
    page.wait_for_function(ready, arg=notebook, timeout=newcomer.CELL_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # what JupyterLab changes after loading, if anything
    return bool(page.evaluate(DIRTY))


def run_all(page) -> None:  # noqa: ANN001
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def run_cell(page, index: int) -> None:  # noqa: ANN001
    page.evaluate(
        """i => { const nb = window.jupyterapp.shell.currentWidget.content;
                 nb.activeCellIndex = i;
                 window.jupyterapp.commands.execute('notebook:run-cell'); }""",
        index,
    )


def code_cell_index(page, source: str) -> int:  # noqa: ANN001
    return int(
        page.evaluate(
            """s => window.jupyterapp.shell.currentWidget.content.widgets
                    .findIndex(c => c.model.type === 'code'
                                    && c.model.sharedModel.getSource().includes(s))""",
            source,
        )
    )


def shoot(page, out: Path, name: str, anchor: str) -> Path:  # noqa: ANN001
    page.locator(anchor).first.wait_for(timeout=newcomer.CELL_TIMEOUT_MS)
    page.locator(anchor).first.scroll_into_view_if_needed()
    path = out / name
    page.screenshot(path=str(path))
    return path


def walk(browser, base: str, token: str, folder: Path, out: Path) -> list[Path]:  # noqa: ANN001
    taken = []
    context = browser.new_context(viewport=newcomer.VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{base}/lab?token={token}")
        no_news = page.get_by_role("button", name="No", exact=True)
        with contextlib.suppress(Exception):  # the news prompt does not always show
            no_news.click(timeout=5_000)
        for notebook in ("00_start_here.ipynb", "01_plaid_keys.ipynb", "03_bridge.ipynb"):
            dirty = open_notebook(page, base, notebook)
            print(f"opening {notebook} marks it modified: {dirty}", flush=True)
        open_notebook(page, base, "01_plaid_keys.ipynb")
        run_all(page)
        page.locator(".jp-OutputArea-output input[type=password]").first.wait_for(
            timeout=newcomer.CELL_TIMEOUT_MS
        )
        run_cell(page, code_cell_index(page, "steps.check_plaid_keys(settings)"))
        taken.append(
            shoot(page, out, "round3-01-development.png", OUT + "text=Fix the settings above first")
        )

        open_notebook(page, base, "03_bridge.ipynb")
        run_all(page)
        page.locator(".jp-OutputArea-output >> text=PLAID_ENV=development").first.wait_for(
            timeout=newcomer.CELL_TIMEOUT_MS
        )
        run_cell(page, code_cell_index(page, "steps.start_bridge(settings)"))
        taken.append(
            shoot(page, out, "round3-03-development.png", OUT + "text=Fix the settings above first")
        )

        (folder / ".env").write_text("PLAID_ENV=sandbox\n")  # the trainee fixed it
        open_notebook(page, base, "02_redirect_uri.ipynb")
        run_all(page)
        outputs = page.locator(".jp-OutputArea-output")
        combo = outputs.locator("input[type=text]").first
        combo.wait_for(timeout=newcomer.CELL_TIMEOUT_MS)
        page.locator(OUT + "text=allowed").first.wait_for(timeout=newcomer.CELL_TIMEOUT_MS)
        combo.fill(NEW_CALLBACK)
        outputs.locator("button", has_text="Save").first.click()
        page.locator(OUT + "text=Saved to").first.wait_for(timeout=newcomer.CELL_TIMEOUT_MS)
        run_cell(page, code_cell_index(page, "steps.check_redirect_uris(settings)"))
        row = OUT + f"text=/Kore callback +allowed +{NEW_CALLBACK}/"
        taken.append(shoot(page, out, "round3-02-callback-changed.png", row))
    finally:
        context.close()
    return taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=newcomer.ROOT / "build" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    token = secrets.token_urlsafe(24)
    port = newcomer.free_port()
    with tempfile.TemporaryDirectory(prefix="kore-plaid-round3-") as name:
        folder = Path(name)
        env_file = folder / ".env"
        env_file.write_text("PLAID_ENV=development\n")
        env_file.chmod(0o600)
        lab = newcomer.start_lab(folder, token, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=newcomer.CHROMIUM, headless=True, args=newcomer.CHROMIUM_ARGS
                )
                try:
                    for path in walk(browser, f"http://127.0.0.1:{port}", token, folder, args.out):
                        print(path)
                finally:
                    browser.close()
        finally:
            stop = [str(newcomer.BIN / "kore-plaid"), "stop"]
            subprocess.run(stop, env=newcomer.isolated_env(folder), check=False)  # noqa: S603 - ours
            lab.terminate()
            lab.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
