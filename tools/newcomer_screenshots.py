"""Walk the newcomer's path in JupyterLab in Chromium and take screenshots (issue 15).

    .venv/bin/python tools/newcomer_screenshots.py [--out build/screenshots]

Starts JupyterLab on a throw-away copy of ``notebooks/`` with its own state folder and
``.env`` (no keys: embedded mode), then, in Debian's Chromium driven by Playwright:

- ``newcomer-00-chain.png``: notebook 00 with the chain drawn (Mermaid);
- ``newcomer-01-fake-keys.png``: notebook 01, fake keys typed, *Check and save* pressed;
- ``newcomer-05-profile.png``: notebook 05, the Kore profile to copy from;
- ``newcomer-failed-report.png``: the report of ``kore-plaid run`` with PLAID_ENV=development.

JupyterLab and every kernel stop at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 1000}
CELL_TIMEOUT_MS = 90_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAID_", "NGROK_"))}
    env.update(
        KORE_PLAID_HOME=str(folder / "home"),
        KORE_PLAID_ENV_FILE=str(folder / ".env"),
        KORE_PLAID_TRAINEE="newcomer",
        JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(folder / "jupyter-runtime"),
        **extra,
    )
    return env


def start_lab(folder: Path, token: str, port: int) -> subprocess.Popen:
    notebooks = folder / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    command = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}",
        "--LabApp.news_url=",
        "--LabApp.expose_app_in_browser=True",
        "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (folder / "lab.log").open("w")
    lab = subprocess.Popen(command, env=isolated_env(folder), stdout=log, stderr=log)  # noqa: S603 - JupyterLab from this venv
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status?token={token}").status_code == 200:
                return lab
        except httpx.HTTPError:
            time.sleep(0.3)
    lab.terminate()
    raise SystemExit(f"JupyterLab did not start; see {folder / 'lab.log'}")


def open_and_run(page, base: str, notebook: str, fresh: str) -> None:  # noqa: ANN001
    """Open a notebook, run all its cells (JupyterLab's own command), wait until the locator
    ``fresh`` (something only this run's outputs show) is visible."""
    print(f"running {notebook} in JupyterLab ...", flush=True)
    page.goto(f"{base}/lab/tree/{notebook}")
    panel = page.locator(".jp-NotebookPanel:visible")
    ready = """path => {
        const current = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const kernel = current && current.sessionContext && current.sessionContext.session
            && current.sessionContext.session.kernel;
        return !!kernel && current.context.path === path && kernel.status === "idle";
    }"""
    page.wait_for_function(ready, arg=notebook, timeout=CELL_TIMEOUT_MS)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    try:
        panel.locator(fresh).first.wait_for(timeout=CELL_TIMEOUT_MS)
    except Exception:
        raise SystemExit(f"{notebook}: {fresh} did not appear") from None


def walk_lab(browser, base: str, token: str, out: Path) -> list[Path]:  # noqa: ANN001
    taken = []
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{base}/lab?token={token}")  # the login cookie for what follows
        no_news = page.get_by_role("button", name="No", exact=True)  # JupyterLab's news prompt
        with contextlib.suppress(Exception):
            no_news.click(timeout=5_000)
        open_and_run(page, base, "00_start_here.ipynb", "text=Progress (newcomer)")
        page.locator(".jp-RenderedMermaid, .jp-RenderedHTMLCommon svg").first.wait_for(
            timeout=CELL_TIMEOUT_MS
        )
        page.locator(
            ".jp-RenderedMermaid, .jp-RenderedHTMLCommon svg"
        ).first.scroll_into_view_if_needed()  # noqa: E501
        taken.append(out / "newcomer-00-chain.png")
        page.screenshot(path=str(taken[-1]))

        open_and_run(
            page, base, "01_plaid_keys.ipynb", ".jp-OutputArea-output input[type=password]"
        )
        outputs = page.locator(".jp-OutputArea-output")
        try:
            outputs.locator("input[type=text]").first.wait_for(timeout=CELL_TIMEOUT_MS)
        except Exception:
            page.screenshot(path=str(out / "debug-01.png"))
            raise
        outputs.locator("input[type=text]").first.fill("fake-client-id-1234567890")
        outputs.locator("input[type=password]").first.fill("fake-secret-abcdefghijklmnopqrstu")
        outputs.locator("button", has_text="Check and save").first.click()
        form = outputs.filter(has=page.locator("input[type=password]")).first
        form.get_by_text("What to do").first.wait_for(timeout=CELL_TIMEOUT_MS)
        form.scroll_into_view_if_needed()
        taken.append(out / "newcomer-01-fake-keys.png")
        page.screenshot(path=str(taken[-1]))

        copy = ".jp-OutputArea-output button >> text=Copy"
        open_and_run(page, base, "05_kore_profile.ipynb", copy)
        page.locator(copy).first.scroll_into_view_if_needed()
        taken.append(out / "newcomer-05-profile.png")
        page.screenshot(path=str(taken[-1]))
    finally:
        context.close()
    return taken


def failed_report(browser, folder: Path, out: Path) -> Path:  # noqa: ANN001
    build = folder / "failed-build"
    env = isolated_env(folder / "failed", PLAID_ENV="development")
    subprocess.run(  # noqa: S603 - this project's own command
        [str(BIN / "kore-plaid"), "run", "--build-dir", str(build)],
        env=env,
        check=False,
        capture_output=True,
    )
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto((build / "report.html").as_uri())
        path = out / "newcomer-failed-report.png"
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    token = secrets.token_urlsafe(24)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kore-plaid-newcomer-") as name:
        folder = Path(name)
        lab = start_lab(folder, token, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    base = f"http://127.0.0.1:{port}"
                    for path in walk_lab(browser, base, token, args.out):
                        print(path)
                    print(failed_report(browser, folder, args.out))
                finally:
                    browser.close()
        finally:
            stop = [str(BIN / "kore-plaid"), "stop"]
            subprocess.run(stop, env=isolated_env(folder), check=False)  # noqa: S603 - ours
            lab.terminate()
            lab.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
