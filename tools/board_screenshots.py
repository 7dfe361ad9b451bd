"""Screenshots of the trainer's board with a sample class, for review and the docs.

    .venv/bin/python tools/board_screenshots.py [--out build/screenshots]

Writes ``board-projector.png`` (1920x1080), ``board-phone.png`` (390x844) and
``board-failure.png`` (the projector view with the failure's message and fix opened): four trainees
(one finished, one mid-way, one failing at 01_plaid_keys with PLAID_ENV=development, one with
no progress for 25 minutes), signed in through the form, in Debian's Chromium
(/usr/bin/chromium, driven by Playwright).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

from kore_plaid_nb.board import demo
from kore_plaid_nb.board.app import build_app
from kore_plaid_nb.board.store import BoardStore
from kore_plaid_nb.serving import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PROJECTOR = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}


def sign_in(page, url: str, token: str) -> None:  # noqa: ANN001
    """Open the board and sign in through its form; wait for the grid."""
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.locator("#board-rows tr").first.wait_for()


def screenshots(browser, url: str, token: str, out: Path) -> list[Path]:  # noqa: ANN001
    """``board-projector.png`` and ``board-phone.png`` of the board at ``url``."""
    out.mkdir(parents=True, exist_ok=True)
    taken = []
    for name, viewport in (("board-projector", PROJECTOR), ("board-phone", PHONE)):
        context = browser.new_context(viewport=viewport, service_workers="block")
        try:
            page = context.new_page()
            sign_in(page, url, token)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            taken.append(path)
            if viewport is PROJECTOR:  # one click on the failed cell: message and fix
                page.click("td.cell.fail button")
                page.locator("#detail[open]").wait_for()
                path = out / "board-failure.png"
                page.screenshot(path=str(path))
                taken.append(path)
        finally:
            context.close()
    return taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as folder:
        store = BoardStore(Path(folder) / "board.sqlite3")
        demo.seed(store)
        try:
            with (
                serve_in_thread(build_app(store, token), what="board") as url,
                sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    for path in screenshots(browser, url, token, args.out):
                        print(path)
                finally:
                    browser.close()
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
