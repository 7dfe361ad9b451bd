"""The languages of the end user's pages (issue 27): which one a request gets, and the
text in it.

Interface (stable):

* :data:`LANGUAGES` - the languages the pages are written in, English first.
* :func:`current_language` - the language of the request being answered (a context variable
  :class:`.middleware.Languages` sets for each request, a route may :func:`choose` another;
  English outside a request).
* :func:`using_language` - a context manager that sets it.
* :func:`gettext` - ``message`` (an English msgid of the ``messages`` domain) in the current
  language, ``%(name)s`` values filled in after translating.
* :func:`N_` - marks a msgid where it is declared (tables, constants) for extraction.

Which language (:mod:`.negotiation`), the catalogs (:mod:`.catalogs`), Link's language
(:mod:`.plaid_languages`), the per-request middleware (:mod:`.middleware`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from .catalogs import translate
from .negotiation import DEFAULT_LANGUAGE, LANGUAGES

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "N_",
    "choose",
    "current_language",
    "gettext",
    "page_gettext",
    "using_language",
]

_current: ContextVar[str] = ContextVar("kore_plaid_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    return _current.get()


def choose(language: str | None) -> str:
    """Make ``language`` the current one for the rest of this request (the middleware
    restores the previous one when the request ends); an unknown one is English."""
    _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    return _current.get()


@contextlib.contextmanager
def using_language(language: str) -> Iterator[str]:
    token = _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def N_(message: str) -> str:  # noqa: N802 - gettext's own name for a marker
    return message


def gettext(message: str, /, **values: object) -> str:  # `/`: a value may be `message`
    """``message`` (domain ``messages``) in the current language, values filled in after."""
    return translate(_current.get(), "messages", message, values)


def page_gettext(message: str, **values: object) -> str:
    """``message`` of the ``pages`` domain (page.py's titles and intros) in the current
    language."""
    return translate(_current.get(), "pages", message, values)
