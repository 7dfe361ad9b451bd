"""The documentation site (issue 26), tested like the notebooks: ``make docs``'s builder runs
once (warnings are errors), then every internal link and anchor resolves, no built file holds
a secret or widget state, each notebook page shows exactly its notebook's committed outputs,
and in Chromium every page opens with no console error and nothing fetched from outside, the
diagrams render, search finds the redirect URI notebook, the theme toggles, and a phone needs
no sideways scroll. The publishing workflow (deploy/docs/) is checked as YAML: it cannot run here.

Layout of the built pages: docs/site/README.md. Screenshots: build/screenshots/docs-*.png.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_support import DESKTOP, browser, open_tab
from docs_site_support import (
    ALL_DIAGRAMS_RENDERED,
    NOTEBOOKS,
    ROOT,
    SCREENSHOTS,
    SITE_PATH,
    SITE_URL,
    WORKFLOW,
    Build,
    Links,
    Watched,
    build_site,
    check_links,
    committed_outputs,
    html_pages,
    page_outputs,
    page_url,
    same_text,
    secret_findings,
    secret_values,
    serving,
    soup,
)

__all__ = ["browser", "open_tab"]  # fixtures used by name

pytestmark = pytest.mark.timeout(300)

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
PHONE = {"width": 390, "height": 844}
MERMAID = "mermaid.min.js"
SEARCH_PHRASE = "redirect URI"
SEARCH_ANSWER = "notebooks/02_redirect_uri.html"  # the notebook about Kore's callback URIs
SEARCH_ANSWERED = """() => {
  if (document.querySelector('li.md-search-result__item > a')) return true;
  const input = document.querySelector('input.md-search__input');
  input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true}));
  return false;
}"""
SCREENSHOT_PAGES = {
    "home": "index.html",
    "05": "notebooks/05_kore_profile.html",
    "07": "notebooks/07_end_users.html",
}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build_site(tmp_path_factory.mktemp("docs-site"))


@pytest.fixture(scope="module")
def site(build: Build) -> Path:
    if build.returncode != 0:
        pytest.fail(f"make docs failed ({build.returncode}):\n{build.output[-4000:]}")
    return build.site


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with serving(site, prefix=SITE_PATH) as url:  # as a GitHub Pages project site
        yield url


# ---- the build and the files it writes


def test_the_site_builds_with_warnings_as_errors(build: Build) -> None:
    assert build.returncode == 0, build.output[-4000:]
    assert "WARNING" not in build.output, build.output
    assert "Site built: build/site/index.html" in build.output
    print(f"make docs: {build.seconds:.1f} s")
    pages = {page_url(build.site, page) for page in html_pages(build.site)}
    assert "index.html" in pages
    assert {f"notebooks/{nb.stem}.html" for nb in NOTEBOOK_FILES} <= pages
    # the site's own README is for the developers who change the site: not a page of it
    assert not [page for page in pages if page.startswith("docs/site/")]


def test_every_internal_link_and_anchor_resolves(site: Path) -> None:
    links = check_links(site, SITE_URL)
    print("external links (listed, not fetched):", *sorted(links.external), sep="\n  ")
    assert links.checked > 100, links.checked
    assert links.broken == [], "\n".join(links.broken)
    # relative links only: the site works under any path (a GitHub Pages project site)
    assert links.root_absolute == [], "\n".join(links.root_absolute)
    # 404.html (served for any missing path) links from the site's path in KORE_PLAID_SITE_URL
    error_links = [str(a["href"]) for a in soup(site / "404.html").select("a[href]")]
    assert f"{SITE_PATH}index.html" in error_links, error_links
    assert not [href for href in error_links if href.startswith("/") and SITE_PATH not in href]


def test_the_link_checker_finds_a_missing_page_anchor_and_root_link(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#top">b</a>')
    (tmp_path / "b.html").write_text(
        '<a href="a.html#top">ok</a><a href="a.html#gone">x</a><a href="c.html">x</a>'
        '<img src="/a.html"><a href="https://example.org/">out</a>'
    )
    links: Links = check_links(tmp_path)
    assert [line.split(" (")[0] for line in links.broken] == [
        "a.html: b.html#top",  # b.html has no id "top"
        "b.html: a.html#gone",
        "b.html: c.html",
    ]
    assert links.root_absolute == ["b.html: /a.html"]
    assert links.external == {"https://example.org/"}


def test_the_link_checker_follows_404_html_into_the_sites_address(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(f'<a href="{SITE_URL}b.html">b</a><a href="/x/a.html">x</a>')
    (tmp_path / "b.html").write_text(f'<a href="{SITE_PATH}a.html">a</a>')
    (tmp_path / "404.html").write_text(
        f'<a href="{SITE_PATH}a.html">ok</a><a href="{SITE_PATH}gone.html">x</a>'
        '<link href="/a.html"><a href="https://example.org/kore-plaid/a.html">out</a>'
    )
    links = check_links(tmp_path, SITE_URL)
    assert [line.split(" (")[0] for line in links.broken] == [
        "404.html: /kore-plaid/gone.html",
        "a.html: /x/a.html",
    ]
    # only the error page may link from the host's root, and only into the site's path
    assert links.root_absolute == [
        "404.html: /a.html",
        "a.html: /x/a.html",
        "b.html: /kore-plaid/a.html",
    ]
    assert links.external == {"https://example.org/kore-plaid/a.html"}


def test_no_built_file_holds_a_secret_token_or_widget_state(site: Path) -> None:
    files = [path for path in site.rglob("*") if path.is_file()]
    assert len(files) > 30, files
    assert secret_findings(site, secret_values()) == []


def test_the_secret_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    planted = {
        "state.html": '<script type="application/vnd.jupyter.widget-state+json">{}</script>',
        "view.json": '{"application/vnd.jupyter.widget-view+json": {"model_id": "abc"}}',
        "token.html": "access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970",
        "masked.html": "access-sandbox-UUID, ****…****, PLAID_SECRET=your-plaid-secret",
        "url.html": '<a href="https://kore/cb?code=Zx8qR2mT4vB6nP0sL3kJ">cb</a>',
        "env.txt": "PLAID_SECRET=0123456789abcdef0123456789abcd",
        "canary.js": "var k = 'CANARYdocs0f7e3d9c1b5a2e8d4c0';",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    found = {line.split(":")[0] for line in secret_findings(tmp_path, secret_values())}
    assert found == set(planted) - {"masked.html"}


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda path: path.stem)
def test_a_notebook_page_shows_exactly_its_committed_outputs(site: Path, notebook: Path) -> None:
    expected = committed_outputs(notebook)
    shown = page_outputs(site / "notebooks" / f"{notebook.stem}.html")
    assert len(shown) == len(expected), (
        f"{notebook.name} has {len(expected)} outputs, its page {len(shown)}"
    )
    for index, (stored, on_page) in enumerate(zip(expected, shown, strict=True)):
        assert same_text(stored, on_page), f"output {index}:\n{stored}\n--- page:\n{on_page}"


def test_notebook_pages_come_in_order_with_their_commit_and_how_to_run_them(site: Path) -> None:
    navigation = soup(site / "index.html").select("nav.md-nav--primary a[href]")
    order = [str(a["href"]) for a in navigation if re.search(r"\d\d_\w+\.html$", str(a["href"]))]
    assert [Path(href).stem for href in dict.fromkeys(order)] == [nb.stem for nb in NOTEBOOK_FILES]
    for notebook in NOTEBOOK_FILES:
        page = soup(site / "notebooks" / f"{notebook.stem}.html")
        provenance, run_note = page.select_one("#kp-provenance"), page.select_one("#kp-run-note")
        assert provenance is not None and run_note is not None, notebook.name
        shown_commit = provenance.select_one(".kp-outputs-commit")
        assert shown_commit is not None and provenance.select_one(".kp-site-commit") is not None
        committed = git_commit_of(notebook)
        if committed:
            assert shown_commit.get_text().startswith(committed), (notebook.name, committed)
        assert "make lab" in run_note.get_text() and "JupyterHub" in run_note.get_text()


def git_commit_of(path: Path) -> str:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%h", "--", str(path.relative_to(ROOT))],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


# ---- the publishing workflow


def test_the_publishing_workflow_builds_and_deploys_the_site() -> None:
    workflow: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "workflow_dispatch"} <= set(triggers), triggers
    jobs = workflow["jobs"]
    build_steps, deploy_steps = jobs["build"]["steps"], jobs["deploy"]["steps"]
    assert all("uses" in step or "run" in step for step in build_steps + deploy_steps)
    [make_docs] = [step for step in build_steps if step.get("run", "").strip() == "make docs"]
    # the public address from the Pages step, set before the build (the 404 page's links)
    [pages] = [s for s in build_steps if s.get("uses", "").startswith("actions/configure-pages")]
    assert (
        make_docs["env"]["KORE_PLAID_SITE_URL"]
        == f"${{{{ steps.{pages['id']}.outputs.base_url }}}}"
    )
    assert build_steps.index(pages) < build_steps.index(make_docs)
    [python] = [s for s in build_steps if s.get("uses", "").startswith("actions/setup-python")]
    assert python["with"]["python-version"] == "3.11"
    [upload] = [s for s in build_steps if "upload-pages-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "build/site"
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in deploy_steps)
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


# ---- in Chromium


@pytest.fixture
def watched(open_tab: Any, base_url: str) -> Any:
    def open_(viewport: dict[str, int] = DESKTOP, color_scheme: str = "light") -> Watched:
        return Watched(open_tab(viewport=viewport, color_scheme=color_scheme), base_url)

    return open_


def test_every_page_opens_with_no_error_and_its_diagrams_rendered(site: Path, watched: Any) -> None:
    tab = watched()
    with_diagrams, loaded_mermaid = [], []
    shots = {path: name for name, path in SCREENSHOT_PAGES.items()}
    for page in html_pages(site):
        before = tab.requested(MERMAID)
        tab.open(page_url(site, page))
        if page_url(site, page) in shots:
            tab.shot(f"docs-{shots[page_url(site, page)]}-desktop")
        diagrams = tab.page.locator("div.kp-mermaid")
        if diagrams.count():
            with_diagrams.append(page_url(site, page))
            rendered = tab.page.locator("div.kp-mermaid[data-rendered=true] svg")
            assert rendered.count() == diagrams.count(), page_url(site, page)
        if tab.requested(MERMAID) > before:
            loaded_mermaid.append(page_url(site, page))
    assert tab.errors == [] and tab.outside == [], tab.errors + tab.outside
    assert {"index.html", "notebooks/00_start_here.html"} <= set(with_diagrams)
    # the 5.7 MB renderer is fetched by the pages with a diagram, and by no other page
    assert loaded_mermaid == with_diagrams


def test_a_missing_page_gets_the_404_page_with_its_style_and_links(watched: Any) -> None:
    tab = watched()
    tab.page.goto(tab.base_url + "notebooks/gone/deeper.html", wait_until="load")
    assert tab.page.locator("h1").first.inner_text() == "404 - Not found"
    header = "getComputedStyle(document.querySelector('.md-header')).position"
    assert tab.page.evaluate(header) == "sticky", "the theme's stylesheet did not load"
    tab.page.locator("a.md-logo").first.click()
    tab.page.wait_for_url(tab.base_url + "index.html")
    missing = tab.base_url + "notebooks/gone/deeper.html"
    # the missing page's own 404, as the server's answer and as Chromium's console line
    own_404 = (
        f"HTTP 404 {missing}",
        "deeper.html: Failed to load resource: the server "
        "responded with a status of 404 (Not Found)",
    )
    assert [e for e in tab.errors if not e.endswith(own_404)] == [], tab.errors
    assert tab.outside == [], tab.outside


def test_the_browser_check_sees_errors_and_requests_leaving_the_site(
    open_tab: Any, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text(
        "<!doctype html><title>t</title><img src='gone.png'>"
        "<img src='http://192.0.2.1/outside.png'><script>undefinedName()</script>"
    )
    with serving(tmp_path) as url:
        tab = Watched(open_tab(viewport=DESKTOP), url)
        tab.page.goto(url + "index.html", wait_until="domcontentloaded")
        tab.page.wait_for_function("document.images[0].complete")  # its 404 came
    assert any("undefinedName" in error for error in tab.errors), tab.errors
    assert any("HTTP 404" in error for error in tab.errors), tab.errors
    assert tab.outside == ["http://192.0.2.1/outside.png"]


def test_search_for_redirect_uri_returns_its_notebook_first(watched: Any) -> None:
    tab = watched()
    tab.open("index.html")
    tab.page.locator("input.md-search__input").fill(SEARCH_PHRASE)
    # Material drops a query typed before its search worker is ready: key up again until the
    # results come, as a reader would type one more letter
    tab.page.wait_for_function(SEARCH_ANSWERED, polling=250)
    results = tab.page.locator("li.md-search-result__item > a")
    first = results.first.get_attribute("href") or ""
    assert first.removeprefix(tab.base_url).split("?")[0] == SEARCH_ANSWER, first
    assert tab.errors == [] and tab.outside == [], tab.errors + tab.outside


def test_the_theme_toggles_between_light_and_dark(watched: Any) -> None:
    tab = watched()
    tab.open("index.html")
    scheme = "document.body.dataset.mdColorScheme"
    assert tab.page.evaluate(scheme) == "default"
    tab.page.locator("[data-md-component=palette] label:visible").first.click()
    tab.page.wait_for_function(f"{scheme} === 'slate'")
    tab.page.wait_for_function(ALL_DIAGRAMS_RENDERED)  # the diagram is drawn again, dark
    tab.shot("docs-home-dark")
    tab.page.locator("[data-md-component=palette] label:visible").first.click()
    tab.page.wait_for_function(f"{scheme} === 'default'")
    assert tab.errors == [], tab.errors


@pytest.mark.parametrize("name", SCREENSHOT_PAGES)
def test_a_phone_reads_the_page_without_sideways_scroll(watched: Any, name: str) -> None:
    path = SCREENSHOT_PAGES[name]
    phone = watched(viewport=PHONE)
    phone.open(path)
    width = phone.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{path}: {width[0]} px wide on a {width[1]} px phone"
    if name == "05":  # the profile's copy buttons are shown on the site
        assert phone.page.locator("button.kore-plaid-copy:visible").count() > 5
        check_the_profile_reads_and_copies_on_a_phone(phone)
    shot = phone.shot(f"docs-{name}-phone")
    assert phone.errors == [] and phone.outside == [], phone.errors + phone.outside
    assert shot.stat().st_mode & 0o777 == 0o600 and SCREENSHOTS.stat().st_mode & 0o777 == 0o700


def check_the_profile_reads_and_copies_on_a_phone(phone: Any) -> None:
    """Notebook 05's profile tables fit the phone's width (rows stacked, no sideways scroll
    inside them), each value names its column, and a Copy button copies its value."""
    tables = phone.page.locator("table.kore-plaid-profile")
    assert tables.count() >= 1
    for index in range(tables.count()):
        box = tables.nth(index).evaluate(
            "t => [t.getBoundingClientRect().right, t.scrollWidth, t.clientWidth, innerWidth]"
        )
        right, scroll_width, client_width, viewport = box
        assert right <= viewport and scroll_width <= client_width, (index, box)
    label = "getComputedStyle(el, '::before').content"
    kore_input = phone.page.locator("table.kore-plaid-profile tbody td:nth-child(2)").first
    assert kore_input.evaluate(f"el => {label}") == '"Kore input: "'
    phone.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    button = phone.page.locator("button.kore-plaid-copy:visible").nth(3)
    value = button.get_attribute("data-copy")
    button.click()
    phone.page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
    assert phone.page.evaluate("navigator.clipboard.readText()") == value
