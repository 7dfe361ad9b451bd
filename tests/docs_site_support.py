"""What the documentation site's tests (tests/test_docs_site.py) check with: the build, a link
checker, a secret scan, the outputs a notebook page shows, and a static server for the browser.

How the site is laid out (ids, classes, URLs): docs/site/README.md.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from kore_plaid_nb.runbook.sanitize import SANITIZE_FILE_NAME, load_patterns, sanitize_text

ROOT = Path(__file__).resolve().parent.parent
BUILDER = ROOT / "tools" / "build_docs.py"  # what `make docs` runs
BUILT_SITE = ROOT / "build" / "site"
NOTEBOOKS = ROOT / "notebooks"
WORKFLOW = ROOT / "deploy" / "docs" / "github-pages.yml"
SCREENSHOTS = ROOT / "build" / "screenshots"  # browser_support's Tab.shot writes there
# The public address the tests build with (KORE_PLAID_SITE_URL), as on a GitHub Pages project
# site: the 404 page links from its path, which the test server serves the site under.
SITE_URL = "https://docs.example/kore-plaid/"
SITE_PATH = urlsplit(SITE_URL).path
ERROR_PAGE = "404.html"  # served for any missing path: links from the site's path, when known

# name -> (pattern, literals one of which a match holds: a cheap test before the regex).
# Widget state as data (a JSON key or nbconvert's embedded script), not prose naming the type.
SECRET_PATTERNS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "widget state": (
        re.compile(
            r'"application/vnd\.jupyter\.widget-[a-z]+\+json"\s*:'
            r"|type=[\"']?application/vnd\.jupyter\.widget|\"model_id\"\s*:"
        ),
        ("vnd.jupyter.widget", "model_id"),
    ),
    "Plaid token (not masked)": (
        re.compile(
            r"\b(?:access|public|link)-(?:sandbox|production|development)-(?!UUID\b)[A-Za-z0-9]"
        ),
        ("-sandbox-", "-production-", "-development-"),
    ),
    "bearer token": (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}"), ("Bearer",)),
    "code or token in a URL": (
        re.compile(r"[?&#](?:code|access_token|refresh_token|token)=[A-Za-z0-9._~%-]{12,}"),
        ("code=", "token="),
    ),
    "secret in JSON": (
        re.compile(
            r'"(?:access_token|refresh_token|client_secret|secret|authtoken)"\s*:\s*"[^"*…]{8,}"'
        ),
        ('"',),
    ),
    "secret setting with a value": (
        re.compile(
            r"\b(?:PLAID_SECRET|NGROK_AUTHTOKEN|BRIDGE_METRICS_TOKEN|KORE_PLAID_BOARD_TRAINER_TOKEN)"
            r"\s*[=:]\s*(?!your-|<|\$)[^\s<`\"'*…$]{8,}"
        ),
        ("PLAID_SECRET", "NGROK_AUTHTOKEN", "BRIDGE_METRICS_TOKEN", "TRAINER_TOKEN"),
    ),
    "ngrok authtoken": (re.compile(r"\b[0-9][A-Za-z0-9]{20,}_[A-Za-z0-9]{10,}\b"), ("_",)),
    "trainee token": (re.compile(r"\bkpt_[A-Za-z0-9_-]{20,}"), ("kpt_",)),
    "private key": (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), ("PRIVATE KEY",)),
}
# Planted in the builder's environment and .env: none may reach the site.
CANARIES = {
    "PLAID_CLIENT_ID": "c4a7a2y0d0c5s1t3e5d9f8a0",
    "PLAID_SECRET": "CANARYdocs0f7e3d9c1b5a2e8d4c0",
    "NGROK_AUTHTOKEN": "2CANARYdocsAuthtoken0b9e1f3a5c7d9e_4NqDkZmXfT8hG6uJ2wYc",
    "BRIDGE_METRICS_TOKEN": "CANARYdocsMetricsToken0a1b2c3d4e5f6a7b8c9d",
}
WIDGET_TYPES = (
    "application/vnd.jupyter.widget-state+json",
    "application/vnd.jupyter.widget-view+json",
)


# ---- the build


@dataclass
class Build:
    """One run of the site's builder, its site copied to ``site`` (later builds leave it be)."""

    returncode: int
    output: str
    seconds: float
    site: Path


def build_site(work: Path, site_url: str | None = SITE_URL) -> Build:
    """Run the builder ``make docs`` runs (mkdocs --strict), with canary secrets in its
    environment and .env and KORE_PLAID_SITE_URL=``site_url``, and copy build/site/ into
    ``work``/site. The site's old screenshots are removed first: the tests take them anew."""
    for old in SCREENSHOTS.glob("docs-*.png"):
        old.unlink()
    env_file = work / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in CANARIES.items()))
    environment = dict(os.environ) | CANARIES
    environment |= {"KORE_PLAID_ENV_FILE": str(env_file), "KORE_PLAID_HOME": str(work / "home")}
    environment.pop("KORE_PLAID_SITE_URL", None)
    if site_url:
        environment["KORE_PLAID_SITE_URL"] = site_url
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - this Python, the project's builder
        [sys.executable, str(BUILDER)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    seconds = time.monotonic() - started
    site = work / "site"
    if done.returncode == 0:
        shutil.copytree(BUILT_SITE, site)
    return Build(done.returncode, done.stdout + done.stderr, seconds, site)


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def page_url(site: Path, page: Path) -> str:
    return page.relative_to(site).as_posix()


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


# ---- links


@dataclass
class Links:
    """What a site's pages link to: the broken internal ones, the external ones (listed,
    never fetched) and the internal ones written from the host's root."""

    broken: list[str] = field(default_factory=list)
    external: set[str] = field(default_factory=set)
    root_absolute: list[str] = field(default_factory=list)
    checked: int = 0


def path_in_site(value: str, site_url: str | None) -> str | None:
    """The path from the site's root that ``value`` names through the site's public address
    (its full URL, or its path from the host's root as 404.html links), else None."""
    if not site_url:
        return None
    parts, site = urlsplit(value), urlsplit(site_url)
    if (parts.scheme, parts.netloc) not in {("", ""), (site.scheme, site.netloc)}:
        return None
    return parts.path.removeprefix(site.path) if parts.path.startswith(site.path) else None


def anchors_of(page: BeautifulSoup) -> set[str]:
    ids = {str(tag["id"]) for tag in page.find_all(id=True)}
    return ids | {str(tag["name"]) for tag in page.find_all("a", attrs={"name": True})}


def check_links(site: Path, site_url: str | None = None) -> Links:
    """Every ``href`` and ``src`` of every page: local files exist, ``#fragments`` are ids of
    the target page. Links into ``site_url`` (the site's public address: its full URL, or its
    path from the host's root, as in 404.html) are internal and checked too."""
    site = site.resolve()
    pages = {page.resolve(): soup(page) for page in html_pages(site)}
    anchors = {path: anchors_of(page) for path, page in pages.items()}
    links = Links()
    for path, page in pages.items():
        where = path.relative_to(site).as_posix()
        for tag in page.find_all(True):
            for attribute in ("href", "src"):
                value = tag.get(attribute)
                if isinstance(value, str):
                    check_link(site, path, where, value, anchors, links, site_url)
    return links


def check_link(  # noqa: PLR0913 - one link and what it is checked against
    site: Path,
    path: Path,
    where: str,
    value: str,
    anchors: dict[Path, set[str]],
    links: Links,
    site_url: str | None = None,
) -> None:
    parts = urlsplit(value)
    into_site = path_in_site(value, site_url)
    if into_site is None and (parts.scheme or parts.netloc):
        if parts.scheme not in ("data", "javascript"):
            links.external.add(value)
        return
    links.checked += 1
    if value.startswith("/") and (into_site is None or where != ERROR_PAGE):
        links.root_absolute.append(f"{where}: {value}")
    if into_site is not None:
        target = site / unquote(into_site)
    elif parts.path.startswith("/"):
        target = site / unquote(parts.path).lstrip("/")
    else:
        target = (path.parent / unquote(parts.path)) if parts.path else path
    target = target.resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file() or not target.is_relative_to(site):
        links.broken.append(f"{where}: {value} (no file {target.relative_to(site.parent)})")
    elif parts.fragment and target in anchors and unquote(parts.fragment) not in anchors[target]:
        links.broken.append(f"{where}: {value} (no id {parts.fragment!r} on that page)")


# ---- secrets


def secret_values() -> dict[str, str]:
    """value -> what it is: the canaries, and the developer's own .env values (if any)."""
    values = {value: f"{name} (canary)" for name, value in CANARIES.items()}
    env_file = ROOT / ".env"
    if env_file.is_file():
        for line in env_file.read_text(errors="replace").splitlines():
            name, _, value = line.partition("=")
            value = value.strip().strip("'\"")
            if len(value) >= 8 and not name.lstrip().startswith("#"):
                values[value] = f"{name.strip()} from .env"
    return values


def secret_findings(site: Path, values: dict[str, str]) -> list[str]:
    """``file: what`` for each secret pattern or secret value found in any built file."""
    findings = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        where = path.relative_to(site).as_posix()
        for what, (pattern, literals) in SECRET_PATTERNS.items():
            match = any(x in text for x in literals) and pattern.search(text)
            if match:
                findings.append(f"{where}: {what} ({match.group(0)[:24]}...)")
        findings += [f"{where}: {what}" for value, what in values.items() if value in text]
    return findings


# ---- a notebook's outputs, as committed and as its page shows them


def shown_text(output: dict[str, Any]) -> str | None:
    """The text a page shows for one stored output (HTML as its text), None for widget-only
    outputs (not rendered)."""
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = {mime: value for mime, value in output.get("data", {}).items()}
    for mime in WIDGET_TYPES:
        data.pop(mime, None)
    if not data:
        return None
    if "text/html" in data:
        return BeautifulSoup("".join(data["text/html"]), "html.parser").get_text()
    return "".join(data.get("text/plain", ""))


def committed_outputs(notebook: Path) -> list[str]:
    """The texts of the notebook file's outputs, in order, sanitized as make notebooks does."""
    patterns = load_patterns(NOTEBOOKS / SANITIZE_FILE_NAME)
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    texts = (shown_text(output) for cell in cells for output in cell.get("outputs", []))
    return [sanitize_text(text, patterns) for text in texts if text is not None]


def page_outputs(page: Path) -> list[str]:
    return [area.get_text() for area in soup(page).select(".jp-OutputArea-output")]


def same_text(a: str, b: str) -> bool:
    return a.split() == b.split()


# ---- serving


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site under ``prefix`` (a GitHub Pages project site: /<repository>/) and, as
    Pages does, its 404.html (status 404) for any missing path."""

    def __init__(self, *args: Any, prefix: str = "/", **kwargs: Any) -> None:
        self.prefix = prefix
        super().__init__(*args, **kwargs)

    def send_head(self) -> Any:
        if not self.path.startswith(self.prefix):
            self.send_error(404)
            return None
        self.path = "/" + self.path.removeprefix(self.prefix)
        return super().send_head()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        error_page = Path(self.directory) / ERROR_PAGE
        if code != 404 or not error_page.is_file():
            super().send_error(code, message, explain)
            return
        body = error_page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextlib.contextmanager
def serving(site: Path, prefix: str = "/") -> Iterator[str]:
    """``site`` over HTTP on a free loopback port under the path ``prefix`` (search needs http,
    not file://); yields its base URL, ending in /."""
    handler = functools.partial(SiteHandler, directory=str(site), prefix=prefix)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="docs-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---- in Chromium

# True once every diagram of the page is drawn, or one failed (its console error says why).
ALL_DIAGRAMS_RENDERED = """() => {
  const diagrams = [...document.querySelectorAll('div.kp-mermaid')];
  return diagrams.every(d => d.dataset.rendered === 'true' && d.querySelector('svg'))
      || diagrams.some(d => d.dataset.rendered === 'error');
}"""


class Watched:
    """A tab (browser_support's ``open_tab``) whose console errors and failed loads are
    recorded, and whose requests must all stay on the site (it works offline)."""

    def __init__(self, tab: Any, base_url: str) -> None:
        self.tab, self.page, self.base_url = tab, tab.page, base_url
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"{self.where}: {error}"))
        self.page.on("response", self._response)

    @property
    def outside(self) -> list[str]:
        """Requests to anything but the site (each page's own requests: tab.requests)."""
        urls = (request.url for request in self.tab.requests)
        return [url for url in urls if not url.startswith((self.base_url, "data:", "blob:"))]

    @property
    def where(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"{self.where}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"{self.where}: HTTP {response.status} {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path, wait_until="load")
        if self.page.locator("div.kp-mermaid").count():
            self.page.wait_for_function(ALL_DIAGRAMS_RENDERED)

    def requested(self, file_name: str) -> int:
        """How many of the tab's requests so far asked for a file of that name."""
        return sum(
            request.url.split("?")[0].endswith("/" + file_name) for request in self.tab.requests
        )

    def shot(self, name: str) -> Path:
        """A full-page screenshot build/screenshots/``name``.png, readable by its owner only."""
        path: Path = self.tab.shot(name)
        path.chmod(0o600)
        path.parent.chmod(0o700)
        return path
