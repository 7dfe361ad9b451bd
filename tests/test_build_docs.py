"""tools/build_docs.py's staging, without a build: README split into pages with one source,
Mermaid blocks made drawable, widget state dropped, links to missing files refused.

The built site itself (links, secrets, Chromium, outputs) is tests/test_docs_site.py's.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_docs"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build_docs = load_builder()


def test_every_readme_section_lands_on_exactly_one_page() -> None:
    site = build_docs.Site()
    pages = build_docs.readme_pages(site)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    titles = [title for title, _ in build_docs.sections(readme.split("\n"), 2)[1:]]
    paths = [page.path for page in pages]
    assert paths[0] == "index.md"
    assert "## Two commands" in pages[0].text and "```mermaid" in pages[0].text
    for title in titles:
        if title not in build_docs.HOME_SECTIONS:
            assert f"guide/{build_docs.page_slug(title)}.md" in paths
    assert {"guide/every-setting.md", "guide/monitoring.md"} <= set(paths)
    assert len(paths) == len(set(paths))
    # every README line is on one page, once (headings one or two levels up)
    body_lines = [line.lstrip("#") for page in pages for line in page.text.split("\n")]
    assert sorted(line for line in body_lines if line.strip()) == sorted(
        line.lstrip("#") for line in readme.split("\n") if line.strip()
    )


def test_a_mermaid_block_becomes_a_drawable_html_block() -> None:
    text = "before\n\n```mermaid\nflowchart LR\n\n    a[x<br/>y] --> b\n```\nafter"
    staged = build_docs.mermaid_to_html(text)
    assert "```" not in staged
    block = re.search(
        r'<div class="kp-mermaid"><pre class="kp-mermaid-source">(.*?)</pre></div>', staged, re.S
    )
    assert block is not None
    assert "<" not in block.group(1)  # escaped: the browser's textContent is the source
    assert html.unescape(block.group(1)) == "flowchart LR\n    a[x<br/>y] --> b"  # no blank line
    with pytest.raises(build_docs.BuildError, match="not closed"):
        build_docs.mermaid_to_html("```mermaid\nflowchart LR\n")


def test_widget_state_and_views_are_dropped_other_outputs_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_docs, "outputs_commit", lambda path: "def5678")
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# 09 · A title\n\nIntro."},
            {
                "cell_type": "code",
                "metadata": {},
                "source": "form()",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"application/vnd.jupyter.widget-view+json": view},
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "application/vnd.jupyter.widget-view+json": view,
                            "text/plain": "Form(...)",
                        },
                    },
                    {"output_type": "stream", "name": "stdout", "text": "ok\n"},
                ],
            },
        ],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "09_title.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    page, staged = build_docs.notebook_page(path, "abc1234")
    dumped = json.dumps(staged)
    assert "widget" not in dumped and "model_id" not in dumped
    code = [cell for cell in staged["cells"] if cell["cell_type"] == "code"][0]
    assert code["outputs"] == [
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "Form(...)"}},
        {"output_type": "stream", "name": "stdout", "text": "ok\n"},
    ]
    sources = [cell["source"] for cell in staged["cells"] if cell["cell_type"] == "markdown"]
    assert sources[0] == "# 09 · A title"
    assert 'id="kp-provenance"' in sources[1] and 'id="kp-run-note"' in sources[1]
    assert "make lab" in sources[1] and "abc1234" in sources[1] and "def5678" in sources[1]
    assert sources[2] == "\nIntro."
    assert page.title == "09 · A title" and page.path == "notebooks/09_title.ipynb"


def test_a_link_to_a_missing_file_or_heading_fails_the_build() -> None:
    site = build_docs.Site()
    build_docs.readme_pages(site)
    with pytest.raises(build_docs.BuildError, match="not in the checkout"):
        build_docs.rewrite_links(site, "[x](docs/nowhere.md)", "README.md", "guide/a.md")
    with pytest.raises(build_docs.BuildError, match="no such heading"):
        build_docs.rewrite_links(site, "[x](../README.md#no-such-heading)", "docs/a.md", "a.md")
    linked = build_docs.rewrite_links(
        site, "[s](../README.md#every-setting) [w](https://example.com/a.md)", "docs/a.md", "a/b.md"
    )
    assert linked == "[s](../guide/every-setting.md) [w](https://example.com/a.md)"


def test_the_site_url_comes_from_the_environment_or_is_refused_clearly() -> None:
    variable = build_docs.SITE_URL_VARIABLE
    assert variable == "KORE_PLAID_SITE_URL"
    assert build_docs.site_url({}) is None
    assert build_docs.site_url({variable: " "}) is None
    assert build_docs.site_url({variable: "https://o.github.io/kore-plaid"}) == (
        "https://o.github.io/kore-plaid/"
    )
    for wrong in ("o.github.io/kore-plaid/", "ftp://host/", "https://host/?x=1"):
        with pytest.raises(build_docs.BuildError, match="KORE_PLAID_SITE_URL=.* e.g. https://"):
            build_docs.site_url({variable: wrong})


def test_without_a_site_url_the_404_page_links_relatively() -> None:
    page = (
        '<link href="/assets/main.css"><script src="/assets/bundle.js"></script>'
        '<a href="/index.html">Home</a><a href="/">root</a><a href="https://x.org/a">out</a>'
        '<a href="//cdn.example/x.js">cdn</a>'
        '<script id="__config" type="application/json">{"base": "/", "features": []}</script>'
    )
    assert build_docs.relative_error_page(page) == (
        '<link href="assets/main.css"><script src="assets/bundle.js"></script>'
        '<a href="index.html">Home</a><a href="./">root</a><a href="https://x.org/a">out</a>'
        '<a href="//cdn.example/x.js">cdn</a>'
        '<script id="__config" type="application/json">{"base": ".", "features": []}</script>'
    )


def test_the_site_builders_own_readme_is_not_published() -> None:
    site = build_docs.Site()
    build_docs.readme_pages(site)
    linked = build_docs.rewrite_links(
        site, "How: [`docs/site/README.md`](docs/site/README.md).", "README.md", "guide/a.md"
    )
    assert linked == "How: `docs/site/README.md`."
    assert "docs/site/README.md" not in site.pages and site.files == set()
