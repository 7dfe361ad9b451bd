"""Issue 27, "fast on a slow phone": each page an end user sees weighs at most 30 KB before
Link's own script (HTML + CSS + the bridge's JS and icons it loads, uncompressed), with no web
font and no script but the bridge's own and Link's, in every language of the pages.

The pages are fetched from the bridge in-process (Starlette's test client), then everything
their HTML references, and the CSS's own ``url()``s. ``pytest -s`` prints the weights."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from bridge_support import authorize_query, record_completion_uris
from http_support import TLS

from kore_plaid_nb import plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.i18n import LANGUAGES
from kore_plaid_nb.bridge.store import ItemRecord
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

BUDGET = 30 * 1024  # bytes, before Link's own script
FONT = re.compile(
    r"@font-face|\.(woff2?|ttf|otf|eot)\b|fonts\.(googleapis|gstatic)\.com|\bas=[\"']?font",
    re.IGNORECASE,
)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")
KINDS = {"stylesheet": "css", "script": "js"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class References(HTMLParser):
    """What a page makes the browser fetch: stylesheets, scripts, images, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (kind, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        rel = set(values.get("rel", "").lower().split())
        if tag == "link" and values.get("href"):
            if "stylesheet" in rel:
                self.found.append(("stylesheet", values["href"]))
            elif rel & {"icon", "apple-touch-icon", "preload", "modulepreload", "manifest"}:
                self.found.append(("other", values["href"]))
        elif tag == "script" and values.get("src"):
            self.found.append(("script", values["src"]))
        elif tag in ("img", "source", "input", "video", "audio") and values.get("src"):
            self.found.append(("other", values["src"]))
        for candidate in values.get("srcset", "").split(","):
            if candidate.strip():
                self.found.append(("other", candidate.split()[0]))


@dataclass
class Weight:
    """A page and what it loads, in bytes (uncompressed)."""

    page: str
    language: str
    html: int = 0
    css: int = 0
    js: int = 0
    other: int = 0
    link_script: int = 0  # Link's own, not in the budget
    texts: list[str] = field(default_factory=list)  # HTML, CSS and JS, for the font check
    foreign: list[str] = field(default_factory=list)  # anything from another origin

    @property
    def total(self) -> int:
        return self.html + self.css + self.js + self.other


def table(weights: list[Weight]) -> str:
    rows = [f"{'page':<18}{'lang':<6}{'HTML':>7}{'CSS':>7}{'JS':>7}{'icons':>7}{'total':>8}"
            f"{'budget':>8}  Link's script (not counted)"]  # fmt: skip
    for w in weights:
        over = "  OVER" if w.total > BUDGET else ""
        link = f"{w.link_script} B" if w.link_script else "-"
        rows.append(f"{w.page:<18}{w.language:<6}{w.html:>7}{w.css:>7}{w.js:>7}{w.other:>7}"
                    f"{w.total:>8}{BUDGET:>8}  {link}{over}")  # fmt: skip
    return "\n".join(rows)


def fetch_ok(client: TestClient, url: str) -> httpx.Response:
    answer = client.get(url)
    assert answer.status_code == 200, f"{url}: {answer.status_code} (a page references it)"
    return answer


def weigh(
    client: TestClient, link_script: str, page: str, language: str, answer: httpx.Response
) -> Weight:
    """The page's HTML and everything it loads from the bridge; Link's script apart."""
    weight = Weight(page, language, html=len(answer.content), texts=[answer.text])
    parser = References()
    parser.feed(answer.text)
    bridge = f"{urlsplit(str(answer.url)).scheme}://{urlsplit(str(answer.url)).netloc}"
    queue = [(kind, urljoin(str(answer.url), ref)) for kind, ref in parser.found]
    seen: set[str] = set()
    while queue:
        kind, url = queue.pop(0)
        if url in seen or url.startswith("data:"):
            continue
        seen.add(url)
        if url == link_script:
            weight.link_script = len(httpx.get(url, timeout=10, verify=TLS).content)
            continue
        if not url.startswith(bridge + "/"):
            weight.foreign.append(url)
            continue
        loaded = fetch_ok(client, url)
        slot = KINDS.get(kind, "other")
        setattr(weight, slot, getattr(weight, slot) + len(loaded.content))
        if slot in ("css", "js"):
            weight.texts.append(loaded.text)
        if slot == "css":
            for match in CSS_URL.finditer(loaded.text):
                queue.append(("other", urljoin(url, match.group(1) or match.group(2))))
    return weight


def html_language(answer: httpx.Response) -> str | None:
    found = re.search(r"<html[^>]*\blang=[\"']?([A-Za-z-]+)", answer.text)
    return found.group(1) if found else None


@pytest.fixture
def settings(home: object, emulator_url: str) -> Settings:
    return settings_module.load().with_values(plaid_api_url=emulator_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=True) as served:
        yield served


@pytest.fixture
def hosted_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, list[str]]]:
    """A LINK_MODE=hosted bridge, and the completion_redirect_uris it gives Plaid."""
    completions = record_completion_uris(monkeypatch)
    app = create_app(settings.with_values(link_mode="hosted"))
    with TestClient(app, raise_server_exceptions=True) as served:
        yield served, completions


def repair_path(client: TestClient) -> str:
    """A repair link of a stored Item (as ``kore-plaid items`` hands it out)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    item = ItemRecord("item-weight", "access-sandbox-weight-0123456789", "ins_109508", "u")
    store.save_authorization("s-weight", item, "code-weight", "client", "http://127.0.0.1/cb",
                             None, None, 60)  # fmt: skip
    [status] = store.item_statuses()
    token = store.create_repair_link(status.ref)
    assert token, "no repair link for the stored Item"
    return f"/repair/{token}"


def end_user_pages(
    client: TestClient,
    hosted: tuple[TestClient, list[str]],
    settings: Settings,
    language: str,
) -> Iterator[tuple[str, TestClient, httpx.Response]]:
    """Each page an end user can see, asked for in ``language`` (``ui_locales`` on the
    Authorization URL, ``Accept-Language`` everywhere)."""
    asked = {"Accept": BROWSER_ACCEPT, "Accept-Language": f"{language},en;q=0.5"}
    query = authorize_query(settings, f"weight-{language}", ui_locales=language)
    yield "authorization", client, client.get("/?" + query, headers=asked)
    yield "oauth-return", client, client.get("/oauth-return", headers=asked)
    yield "repair", client, client.get(repair_path(client), headers=asked)
    bad = authorize_query(settings, "weight-bad", client_id="not-this-bridge", ui_locales=language)
    yield "error", client, client.get("/?" + bad, headers=asked)
    yield "not-found", client, client.get("/no-such-page", headers=asked)
    hosted_client, completions = hosted
    started = hosted_client.get("/?" + query, headers=asked, follow_redirects=False)
    assert started.status_code == 303, started.text  # to Plaid's Hosted Link
    finishing = hosted_client.get(completions[-1], headers=asked)
    assert finishing.status_code == 202, finishing.text  # Plaid has not finished yet
    yield "hosted-finishing", hosted_client, finishing


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_end_user_page_weighs_at_most_30_kb_before_links_script(
    client: TestClient,
    hosted_client: tuple[TestClient, list[str]],
    settings: Settings,
    language: str,
) -> None:
    link_script = plaid_client.link_script_url(settings)
    weights = []
    for page, served_by, answer in end_user_pages(client, hosted_client, settings, language):
        assert "text/html" in answer.headers["content-type"], (page, answer.text[:200])
        assert html_language(answer) == language, f"{page}: <html lang> is not {language}"
        weights.append(weigh(served_by, link_script, page, language, answer))
    print(f"\n{table(weights)}")

    for w in weights:
        assert not w.foreign, f"{w.page}: loads from elsewhere (no framework, no CDN): {w.foreign}"
        fonts = [m.group(0) for text in w.texts for m in FONT.finditer(text)]
        assert not fonts, f"{w.page}: a web font: {fonts}"
    with_link = {w.page for w in weights if w.link_script}
    assert with_link == {"authorization", "oauth-return", "repair"}, with_link
    assert all(w.css and w.html for w in weights)  # the stylesheet was found and weighed
    over = [w for w in weights if w.total > BUDGET]
    assert not over, f"over {BUDGET} bytes before Link's script:\n{table(weights)}"


def test_the_weigher_counts_what_a_page_loads_and_sees_fonts_and_other_origins() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    heavy = "x" * BUDGET
    html = (
        '<html lang="en"><link rel="stylesheet" href="/a.css"><link rel="icon" href="/i.svg">'
        '<script src="https://cdn.example/react.js"></script><script src="/big.js"></script>'
    )
    css = "@font-face{src:url(/f.woff2)} body{background:url('/i.svg')}"
    routes = [
        Route("/", lambda r: HTMLResponse(html)),
        Route("/a.css", lambda r: Response(css, media_type="text/css")),
        Route("/i.svg", lambda r: Response("<svg/>", media_type="image/svg+xml")),
        Route("/f.woff2", lambda r: Response(b"w" * 10)),
        Route("/big.js", lambda r: Response(heavy, media_type="text/javascript")),
    ]
    with TestClient(Starlette(routes=routes)) as site:
        weight = weigh(site, "https://link.example/l.js", "fake", "en", site.get("/"))
    assert (weight.html, weight.css, weight.js) == (len(html), len(css), BUDGET)
    assert weight.other == len("<svg/>") + 10  # the icon once, and the CSS's font file
    assert weight.total > BUDGET and "OVER" in table([weight])
    assert weight.foreign == ["https://cdn.example/react.js"]
    assert any(FONT.search(text) for text in weight.texts)
