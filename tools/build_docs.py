"""Build the documentation site (``make docs``) into build/site/.

Stages the pages into build/docs-stage/ from their one source each (README.md split at its
sections, docs/*.md, BENCHMARKS.md, the notebooks with their committed outputs), then runs
``mkdocs build --strict`` with docs/site/mkdocs.yml. Nothing is executed or fetched: the
Mermaid script comes from .tools/ (tools/install_docs_assets.sh, run by ``make install``).
What the built pages hold for tests: docs/site/README.md.
"""

from __future__ import annotations

import html
import json
import os
import posixpath
import re
import shutil
import subprocess  # nosec B404: git and mkdocs, fixed argument lists
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
SITE_CONFIG = ROOT / "docs" / "site" / "mkdocs.yml"
SITE_ASSETS = ROOT / "docs" / "site" / "assets"
MERMAID_JS = ROOT / ".tools" / "mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
STAGE = ROOT / "build" / "docs-stage"
PAGES = STAGE / "pages"
SITE = ROOT / "build" / "site"

SITE_URL_VARIABLE = "KORE_PLAID_SITE_URL"  # the public address, e.g. https://o.github.io/repo/
DEVELOPER_ONLY = {"docs/site/README.md"}  # linked from the README, not published: text only
HOME_SECTIONS = ("Two commands",)  # README sections that join its opening text on the home page
OWN_PAGE_SUBSECTIONS = ("Every setting", "Monitoring")  # README ### sections with a page each
WIDGET_TYPES = (
    "application/vnd.jupyter.widget-state+json",
    "application/vnd.jupyter.widget-view+json",
)
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


class BuildError(Exception):
    """A problem in the sources that the site cannot be built with; the message says what."""


@dataclass
class Page:
    """One staged page: where it goes (posix, under the stage), its title, its origin."""

    path: str
    title: str
    source: str  # repo path its relative links are resolved against
    text: str = ""


@dataclass
class Site:
    """Every staged page and file, by the repo path it came from."""

    pages: dict[str, Page] = field(default_factory=dict)  # repo path -> page
    anchors: dict[str, tuple[str, str]] = field(default_factory=dict)  # README slug -> page, #
    extra_pages: list[Page] = field(default_factory=list)  # linked .md files (deploy READMEs)
    files: set[str] = field(default_factory=set)  # other linked files, copied as they are


# ---- git: which commit built the site and which stored each notebook's outputs


def git(*args: str) -> str:
    """A git command's output in the checkout, "" when git or the repository is missing."""
    try:
        done = subprocess.run(  # noqa: S603  # nosec B603 B607 - git, fixed arguments
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def site_commit() -> str:
    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    if git("status", "--porcelain", "--untracked-files=no"):
        return commit + " (with uncommitted changes)"
    return commit


def outputs_commit(notebook: Path) -> str:
    relative = notebook.relative_to(ROOT).as_posix()
    if git("rev-parse", "--is-shallow-repository") == "true":
        return "unknown (a shallow clone: fetch the whole history, e.g. fetch-depth: 0)"
    commit = git("log", "-1", "--format=%h", "--", relative) or "unknown (not committed)"
    if git("status", "--porcelain", "--", relative):
        return commit + " (changed since: not committed yet)"
    return commit


# ---- Markdown: sections, headings, Mermaid blocks, links


def is_fence(line: str) -> bool:
    return line.lstrip().startswith(("```", "~~~"))


def sections(lines: list[str], level: int) -> list[tuple[str | None, list[str]]]:
    """``lines`` cut at headings of exactly ``level`` (outside code blocks), each with its title."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    in_code = False
    for line in lines:
        if is_fence(line):
            in_code = not in_code
        match = None if in_code else HEADING.match(line)
        if match and len(match.group(1)) == level:
            parts.append((match.group(2), []))
        parts[-1][1].append(line)
    return parts


def shift_headings(lines: list[str], by: int) -> list[str]:
    """Headings ``by`` levels up (## becomes # for by=1), code blocks left alone."""
    shifted, in_code = [], False
    for line in lines:
        if is_fence(line):
            in_code = not in_code
        match = None if in_code else HEADING.match(line)
        if match:
            line = "#" * max(1, len(match.group(1)) - by) + " " + match.group(2)
        shifted.append(line)
    return shifted


def slugify(title: str) -> str:
    """The anchor Python-Markdown's toc gives a heading (its default slugify)."""
    text = re.sub(r"[^\w\s-]", "", re.sub(r"<[^>]+>|`", "", title)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def page_slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def mermaid_to_html(text: str) -> str:
    """Each ```mermaid block as div.kp-mermaid > pre.kp-mermaid-source (kp-mermaid.js draws it).

    One HTML block without blank lines, so Python-Markdown and the notebooks' Markdown alike
    pass it through untouched."""
    out: list[str] = []
    block: list[str] | None = None
    for line in text.split("\n"):
        if block is None and line.strip() == "```mermaid":
            block = []
        elif block is not None and line.strip() == "```":
            source = html.escape("\n".join(row for row in block if row.strip()), quote=False)
            box = f'<div class="kp-mermaid"><pre class="kp-mermaid-source">{source}</pre></div>'
            out += ["", box, ""]
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise BuildError("a ```mermaid block is not closed")
    return "\n".join(out)


def rewrite_links(site: Site, text: str, source: str, page_path: str) -> str:
    """Relative links of ``source`` (a repo path) made to point at the staged pages and files."""

    def rewritten(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if SCHEME.match(target) or target.startswith("#"):
            return match.group(0)
        if repo_path_of(source, target) in DEVELOPER_ONLY:
            return label.removeprefix("!")[1:-1]  # the file's name, for a developer's clone
        staged = resolve(site, source, target)
        path, _, anchor = staged.partition("#")
        relative = posixpath.relpath(path, posixpath.dirname(page_path) or ".")
        return f"{label}({relative}{'#' + anchor if anchor else ''})"

    return LINK.sub(rewritten, text)


def repo_path_of(source: str, target: str) -> str:
    """The repo path a relative link ``target`` of ``source`` names (a folder: its README)."""
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target.split("#")[0]))
    if (ROOT / repo_path).is_dir() and not repo_path.startswith("../"):
        return posixpath.join(repo_path, "README.md")
    return repo_path


def resolve(site: Site, source: str, target: str) -> str:
    """The staged path (with its anchor) for ``target`` linked from repo path ``source``."""
    path, _, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    if repo_path.startswith("../") or not (ROOT / repo_path).exists():
        raise BuildError(f"{source} links to {target}, which is not in the checkout")
    if (ROOT / repo_path).is_dir():
        if not (ROOT / repo_path / "README.md").is_file():
            raise BuildError(f"{source} links to the folder {target}, which has no README.md")
        repo_path = posixpath.join(repo_path, "README.md")
    if repo_path == "README.md" and anchor:
        if anchor not in site.anchors:
            raise BuildError(f"{source} links to README.md#{anchor}: no such heading")
        page, page_anchor = site.anchors[anchor]
        return page + (f"#{page_anchor}" if page_anchor else "")
    if repo_path not in site.pages and repo_path.endswith(".md"):
        page = Page(repo_path, title_of(ROOT / repo_path), repo_path)
        site.pages[repo_path] = page
        site.extra_pages.append(page)
    elif repo_path not in site.pages:
        site.files.add(repo_path)
    staged = site.pages[repo_path].path if repo_path in site.pages else repo_path
    return staged + (f"#{anchor}" if anchor else "")


def title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return plain(match.group(2))
    raise BuildError(f"{path.relative_to(ROOT)} has no '# ' title")


def plain(title: str) -> str:
    """A heading as nav text: no emphasis marks or backticks."""
    return re.sub(r"[*_`]", "", title).strip()


# ---- the pages


def readme_pages(site: Site) -> list[Page]:
    """README.md as the home page and one guide page per section (two subsections apart)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
    parts = sections(lines, 2)
    home = Page("index.md", "Home", "README.md")
    home_lines = list(parts[0][1])
    pages = [home]
    for title, body in parts[1:]:
        if title in HOME_SECTIONS:
            home_lines += body
            record_anchors(site, body, home.path, top=False)
            continue
        pages += section_pages(site, title or "", body)
    home.text = "\n".join(home_lines)
    record_anchors(site, parts[0][1], home.path, top=False)
    return pages


def section_pages(site: Site, title: str, body: list[str]) -> list[Page]:
    """One README ``## `` section as a page, and its own-page ``### `` subsections after it."""
    page = Page(f"guide/{page_slug(title)}.md", plain(title), "README.md")
    kept: list[str] = []
    apart: list[Page] = []
    for sub_title, sub_body in sections(body, 3):
        if sub_title in OWN_PAGE_SUBSECTIONS:
            sub = Page(f"guide/{page_slug(sub_title)}.md", plain(sub_title), "README.md")
            sub.text = "\n".join(shift_headings(sub_body, 2))
            record_anchors(site, sub_body, sub.path, top=True)
            apart.append(sub)
        else:
            kept += sub_body
    page.text = "\n".join(shift_headings(kept, 1))
    record_anchors(site, kept, page.path, top=True)
    return [page, *apart]


def record_anchors(site: Site, lines: list[str], page_path: str, top: bool) -> None:
    """README heading slugs -> (page, anchor on it); a page's own title needs no anchor."""
    first = top
    for title in heading_titles(lines):
        site.anchors[slugify(title)] = (page_path, "" if first else slugify(title))
        first = False


def heading_titles(lines: list[str]) -> list[str]:
    titles: list[str] = []
    in_code = False
    for line in lines:
        if is_fence(line):
            in_code = not in_code
        match = None if in_code else HEADING.match(line)
        if match:
            titles.append(match.group(2))
    return titles


def reference_pages() -> list[Page]:
    """docs/*.md (the Kore contract, the operations guide, ...) and BENCHMARKS.md."""
    sources = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "BENCHMARKS.md"]
    return [
        Page(f"reference/{source.stem.lower()}.md", title_of(source), str(source.relative_to(ROOT)))
        for source in sources
    ]


def notebook_page(path: Path, built_by: str) -> tuple[Page, dict[str, Any]]:
    """A notebook's page: widget state removed, its provenance and the "Run this notebook" note
    after its title; outputs as committed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook.get("metadata", {}).pop("widgets", None)
    cells = notebook["cells"]
    for cell in cells:
        cell.get("metadata", {}).pop("widgets", None)
        if "outputs" in cell:
            cell["outputs"] = [o for o in map(without_widgets, cell["outputs"]) if o is not None]
    first = "".join(cells[0]["source"]) if cells and cells[0]["cell_type"] == "markdown" else ""
    match = HEADING.match(first.split("\n", 1)[0])
    if not match:
        raise BuildError(f"{path.relative_to(ROOT)}: its first cell is not a '# ' title")
    title, _, introduction = first.partition("\n")
    cells[0:1] = [
        markdown_cell("kp-title", title),
        markdown_cell("kp-provenance-cell", provenance_html(path, built_by)),
        *([markdown_cell("kp-introduction", introduction)] if introduction.strip() else []),
    ]
    page = Page(f"notebooks/{path.name}", plain(match.group(2)), f"notebooks/{path.name}")
    return page, notebook


def markdown_cell(cell_id: str, source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def without_widgets(output: dict[str, Any]) -> dict[str, Any] | None:
    data = output.get("data")
    if not isinstance(data, dict) or not any(kind in data for kind in WIDGET_TYPES):
        return output
    kept = {kind: value for kind, value in data.items() if kind not in WIDGET_TYPES}
    return {**output, "data": kept} if kept else None


def provenance_html(path: Path, built_by: str) -> str:
    name = path.name
    return (
        '<div id="kp-provenance" class="kp-provenance">Outputs: the embedded run stored by '
        "<code>make notebooks</code> in commit "
        f'<code class="kp-outputs-commit">{html.escape(outputs_commit(path))}</code>; '
        f'site built from commit <code class="kp-site-commit">{html.escape(built_by)}</code>.'
        "</div>\n\n"
        '<div id="kp-run-note" class="admonition tip kp-run-note">\n'
        '<p class="admonition-title">Run this notebook</p>\n'
        "<p>On your machine: <code>make lab</code> in a clone of the runbook (it installs what "
        f"is needed and opens JupyterLab on <code>notebooks/</code>), then open <code>{name}"
        "</code>. In a training session: open it in your JupyterLab on the class's JupyterHub "
        f"(<code>~/runbook/notebooks/{name}</code>). Without Plaid keys it runs in the embedded "
        "mode and shows what this page shows.</p>\n</div>"
    )


# ---- staging and building


def stage(site: Site, built_by: str) -> list[Any]:
    """Writes every page and file under build/docs-stage/pages/; returns mkdocs' nav."""
    shutil.rmtree(STAGE, ignore_errors=True)
    PAGES.mkdir(parents=True)
    guide = readme_pages(site)
    reference = reference_pages()
    site.pages["README.md"] = guide[0]
    for page in reference:
        site.pages[page.source] = page
    notebooks = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        page, notebook = notebook_page(path, built_by)
        site.pages[page.source] = page
        notebooks.append((page, notebook))
    for page in [*guide, *reference]:
        if not page.text:
            page.text = (ROOT / page.source).read_text(encoding="utf-8")
        write_markdown(site, page)
    for page, notebook in notebooks:
        write_notebook(site, page, notebook)
    written: set[str] = set()
    while len(written) < len(site.extra_pages):  # linked pages may link to more pages
        for page in [p for p in site.extra_pages if p.path not in written]:
            page.text = (ROOT / page.source).read_text(encoding="utf-8")
            write_markdown(site, page)
            written.add(page.path)
    for repo_path in sorted(site.files):
        copy(ROOT / repo_path, PAGES / repo_path)
    copy_assets()
    return nav(guide, notebooks, reference, site.extra_pages)


def write_markdown(site: Site, page: Page) -> None:
    text = rewrite_links(site, mermaid_to_html(page.text), page.source, page.path)
    target = PAGES / page.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def write_notebook(site: Site, page: Page, notebook: dict[str, Any]) -> None:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            text = mermaid_to_html("".join(cell["source"]))
            cell["source"] = rewrite_links(site, text, page.source, page.path)
    target = PAGES / page.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def copy_assets() -> None:
    if not MERMAID_JS.is_file():
        raise BuildError(
            f"{MERMAID_JS.relative_to(ROOT)} is missing: the site's diagrams need it. Run "
            "`bash tools/install_docs_assets.sh` (npm; `make install` runs it)."
        )
    shutil.copytree(SITE_ASSETS, PAGES / "assets")
    copy(MERMAID_JS, PAGES / "assets" / "javascripts" / "mermaid.min.js")


def nav(
    guide: list[Page],
    notebooks: list[tuple[Page, dict[str, Any]]],
    reference: list[Page],
    extra: list[Page],
) -> list[Any]:
    entries = [{page.title: page.path} for page in guide[1:]]
    return [
        {"Home": "index.md"},
        {"The runbook, step by step": [{page.title: page.path} for page, _ in notebooks]},
        {"Guide": entries},
        {"Reference": [{page.title: page.path} for page in [*reference, *extra]]},
    ]


def site_url(environment: dict[str, str]) -> str | None:
    """The site's public address from KORE_PLAID_SITE_URL (ending in /), None when unset."""
    value = environment.get(SITE_URL_VARIABLE, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BuildError(
            f"{SITE_URL_VARIABLE}={value!r} is not a site address: give the public URL the site "
            "is served at, e.g. https://<owner>.github.io/<repository>/ (or unset it)"
        )
    return value if value.endswith("/") else value + "/"


def mkdocs_config(navigation: list[Any], built_by: str, public_url: str | None) -> Path:
    config = yaml.safe_load(SITE_CONFIG.read_text(encoding="utf-8"))
    config.update(
        docs_dir=str(PAGES),
        site_dir=str(SITE),
        nav=navigation,
        copyright=f"Built from commit {built_by} of the kore-plaid runbook.",
    )
    if public_url:  # the 404 page's links then start with its path (e.g. /repository/)
        config["site_url"] = public_url
    path = STAGE / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def build(config: Path) -> None:
    environment = dict(os.environ)
    # the sitemap's dates: the commit's, so two builds of one commit are the same
    environment["SOURCE_DATE_EPOCH"] = git("log", "-1", "--format=%ct") or "0"
    environment["NO_MKDOCS_2_WARNING"] = "1"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(config)]
    # cwd: mkdocs-jupyter keeps a .cache/ in it, which the next build removes with the stage
    done = subprocess.run(  # noqa: S603  # nosec B603 - this Python's mkdocs, fixed arguments
        command, cwd=STAGE, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise BuildError("mkdocs build --strict failed (its output is above)")


ROOT_ABSOLUTE = re.compile(r'\b((?:href|src|action)=")/(?!/)([^"]*)"|("base": )"/"')


def relative_error_page(text: str) -> str:
    """404.html without a site address: its links from the host's root ("/assets/...") made
    relative, so it works wherever the site is served (for a missing page at the top level)."""

    def relative(match: re.Match[str]) -> str:
        if match.group(3):
            return match.group(3) + '"."'
        return f'{match.group(1)}{match.group(2) or "./"}"'

    return ROOT_ABSOLUTE.sub(relative, text)


def main() -> int:
    started = time.monotonic()
    built_by = site_commit()
    site = Site()
    try:
        public_url = site_url(dict(os.environ))
        build(mkdocs_config(stage(site, built_by), built_by, public_url))
        if public_url is None:
            error_page = SITE / "404.html"
            error_page.write_text(relative_error_page(error_page.read_text("utf-8")), "utf-8")
    except BuildError as problem:
        print(f"make docs: {problem}", file=sys.stderr)
        return 1
    pages = len(list(SITE.rglob("*.html")))
    elapsed = time.monotonic() - started
    print(f"Site built: {SITE.relative_to(ROOT)}/index.html ({pages} pages, {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
