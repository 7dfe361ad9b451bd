"""The store's statements are written once with ``?`` placeholders (SQLite's own style);
psycopg wants ``%s``. :func:`to_pyformat` renders one for the other the way PostgreSQL reads
the statement: a ``?`` inside a string literal, a quoted identifier, a dollar-quoted string or
a comment is text, not a placeholder, and every ``%`` becomes ``%%`` (psycopg reads ``%``
everywhere in a statement that has parameters)."""

from __future__ import annotations

import functools
import re

_NOT_AFTER_NAME = r"(?<![A-Za-z0-9_$])"
_TOKEN = re.compile(
    rf"""
    (?P<text>
        {_NOT_AFTER_NAME}[Ee]'(?:[^'\\]|\\.|'')*'    # E'...': backslash escapes
      | '(?:[^']|'')*'                               # '...'
      | "(?:[^"]|"")*"                               # "quoted identifier"
      | --[^\n]*                                     # -- comment
      | /\*.*?\*/                                    # /* comment */
      | {_NOT_AFTER_NAME}(?P<tag>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$).*?(?P=tag)  # $tag$...$tag$
    )
    | (?P<mark>\?)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


def _render(match: re.Match[str]) -> str:
    if match.group("mark"):
        return "%s"
    if match.group("percent"):
        return "%%"
    return match.group("text").replace("%", "%%")


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """``sql`` with its ``?`` placeholders as psycopg's ``%s`` (and ``%`` as ``%%``)."""
    return _TOKEN.sub(_render, sql)
