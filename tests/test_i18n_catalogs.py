"""The pages' gettext catalogs are complete: the msgids are extracted fresh from the sources
(Babel's extractors in-process, with the project's mapping files; nothing is written), and
every language's ``.po`` of each domain (``pages``, ``messages``) translates each of them,
not fuzzy, with the same ``%(name)s`` placeholders. The ``.po`` files compile without an
error and the ``.mo`` files (``make catalogs``) are what they compile to now."""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.util import pathmatch

from kore_plaid_nb.bridge.i18n import LANGUAGES
from kore_plaid_nb.bridge.i18n.catalogs import DOMAINS, LOCALES, mo_path

ROOT = Path(__file__).resolve().parents[1]
I18N = LOCALES.parent
TRANSLATED = [language for language in LANGUAGES if language != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def source_files() -> list[str]:
    """The package's files, relative to the checkout (what the mappings' patterns name)."""
    found = []
    for folder, dirs, files in os.walk(ROOT / "kore_plaid_nb"):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            found.append((Path(folder) / name).relative_to(ROOT).as_posix())
    return sorted(found)


def extracted(domain: str) -> dict[str, str]:
    """msgid -> the file it comes from, for ``domain``, from the sources as they are now."""
    with open(I18N / f"babel-{domain}.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    messages: dict[str, str] = {}
    for path in source_files():
        for pattern, method in method_map:
            if not pathmatch(pattern, path):
                continue
            options = options_map.get(pattern, {})
            for _line, message, _comments, _context in extract_from_file(
                method, str(ROOT / path), DEFAULT_KEYWORDS, (), options
            ):
                msgid = message[0] if isinstance(message, tuple) else message
                if msgid:
                    messages.setdefault(msgid, path)
            break  # the first matching pattern decides, as pybabel's
    return messages


def catalog(language: str, domain: str) -> Catalog:
    path = LOCALES / language / "LC_MESSAGES" / f"{domain}.po"
    assert path.is_file(), f"{path} is missing: the {domain!r} catalog has no {language} yet"
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=domain)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_text_of_the_pages_is_translated_in_every_language(domain: str) -> None:
    messages = extracted(domain)
    assert len(messages) > 10, f"extraction found only {sorted(messages)}"
    problems = []
    for language in TRANSLATED:
        po = catalog(language, domain)
        for msgid, source in sorted(messages.items()):
            entry = po.get(msgid)
            if entry is None or not entry.string:
                problems.append(f"{language}: missing ({source}): {msgid!r}")
            elif entry.fuzzy:
                problems.append(f"{language}: fuzzy ({source}): {msgid!r}")
            elif Counter(PLACEHOLDER.findall(str(entry.string))) != Counter(
                PLACEHOLDER.findall(msgid)
            ):
                problems.append(f"{language}: placeholders differ: {msgid!r} -> {entry.string!r}")
    fix = (
        "\nUpdate the catalogs (see kore_plaid_nb/bridge/i18n/catalogs.py), translate, then "
        "`make catalogs`."
    )
    assert not problems, "\n".join(problems) + fix


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalogs_compile_without_error_and_the_mo_files_are_up_to_date(domain: str) -> None:
    for language in TRANSLATED:
        po = catalog(language, domain)
        errors = [f"{m.id!r}: {e}" for m, errs in po.check() for e in errs]
        assert not errors, f"{language}/{domain}.po: " + "; ".join(errors)
        compiled = io.BytesIO()
        write_mo(compiled, po, use_fuzzy=False)
        mo = mo_path(language, domain)
        assert mo.is_file(), f"{mo} is missing: run `make catalogs` (make install does it)"
        assert mo.read_bytes() == compiled.getvalue(), (
            f"{mo} is older than its .po: run `make catalogs`"
        )


def test_the_extraction_sees_the_templates_the_scripts_and_page_py() -> None:
    sources = set(extracted("pages").values())
    assert {
        "kore_plaid_nb/bridge/page.py",
        "kore_plaid_nb/bridge/templates/authorize.html",
        "kore_plaid_nb/bridge/templates/error.html",
        "kore_plaid_nb/bridge/static/bridge.js",
        "kore_plaid_nb/bridge/static/repair.js",
    } <= sources
