"""The compiled gettext catalogs (``locales/<lang>/LC_MESSAGES/<domain>.mo``), loaded once per
language and domain. Two domains: ``pages`` (the templates, page.py, the pages' scripts) and
``messages`` (refusals and problems an end user reads). English needs no catalog: msgids are
English.

The ``.mo`` files are built from the ``.po`` files (``make catalogs``, which ``make install``,
``make test`` and the other targets run); they are never committed. To refresh a catalog
after changing texts (``pages``; ``messages`` the same with its own mapping)::

    .venv/bin/pybabel extract -F kore_plaid_nb/bridge/i18n/babel-pages.cfg \\
        -o kore_plaid_nb/bridge/i18n/locales/pages.pot --no-location --omit-header .
    .venv/bin/pybabel update -D pages -i kore_plaid_nb/bridge/i18n/locales/pages.pot \\
        -d kore_plaid_nb/bridge/i18n/locales --no-fuzzy-matching
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
from pathlib import Path
from typing import Final

from babel.support import Translations

from .negotiation import DEFAULT_LANGUAGE

LOCALES: Final = Path(__file__).parent / "locales"
DOMAINS: Final = ("pages", "messages")
COMPILE_HINT: Final = "run `make install` (or `make catalogs`), which compiles the .po files"


class CatalogNotCompiled(RuntimeError):
    """A language's catalog is missing: the ``.po`` files were not compiled."""


def mo_path(language: str, domain: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{domain}.mo"


@functools.cache
def translations(language: str, domain: str) -> stdlib_gettext.NullTranslations:
    """The catalog of ``domain`` in ``language`` (English: none needed)."""
    if language == DEFAULT_LANGUAGE:
        return stdlib_gettext.NullTranslations()
    path = mo_path(language, domain)
    if not path.is_file():
        raise CatalogNotCompiled(
            f"The bridge's {domain!r} catalog for {language!r} is not compiled "
            f"({path} is missing): {COMPILE_HINT}."
        )
    with path.open("rb") as mo:
        return Translations(mo, domain=domain)


def translate(language: str, domain: str, message: str, values: dict[str, object]) -> str:
    """``message`` in ``language``, ``%(name)s`` values filled in after translating."""
    text = translations(language, domain).gettext(message) if message else message
    return text % values if values else text
