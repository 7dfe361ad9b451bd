"""Which of :data:`LANGUAGES` a request gets: the Authorization URL's ``ui_locales`` (OpenID
Connect Core 1.0, 3.1.2.1: space-separated BCP 47 tags, in preference order) or ``lang``,
then ``Accept-Language`` (RFC 9110, 12.5.4: q-values honoured), then English. Only a tag's
primary subtag counts (``es-MX`` is ``es``). A malformed value never raises: it is skipped,
and the next source decides."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

LANGUAGES = ("en", "es", "fr", "de", "nl")
DEFAULT_LANGUAGE = "en"

QUERY_PARAMETERS = ("ui_locales", "lang")
MAX_VALUE = 512  # longer values are someone's mistake: not parsed
MAX_TAGS = 32
TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


def supported(tag: str) -> str | None:
    """The language of one BCP 47 tag when the pages speak it (``"es-MX"`` -> ``"es"``)."""
    tag = tag.strip()
    if not TAG.fullmatch(tag):
        return None
    primary = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
    return primary if primary in LANGUAGES else None


def first_supported(tags: Iterable[str]) -> str | None:
    for tag in tags:
        language = supported(tag)
        if language is not None:
            return language
    return None


def from_ui_locales(value: str | None) -> str | None:
    """The first supported language of a ``ui_locales`` value (space-separated tags)."""
    if not value or len(value) > MAX_VALUE:
        return None
    return first_supported(value.split()[:MAX_TAGS])


def from_query(params: Mapping[str, str]) -> str | None:
    """``ui_locales``, else ``lang`` (one tag, or a list like ``ui_locales``)."""
    for name in QUERY_PARAMETERS:
        language = from_ui_locales(params.get(name))
        if language is not None:
            return language
    return None


def accepted(header: str | None) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (q=0 and malformed
    entries left out; equal q-values keep their order)."""
    if not header or len(header) > MAX_VALUE * 4:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")[: MAX_TAGS * 2]):
        tag, *params = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() != "q":
                continue
            value = value.strip()
            if not QVALUE.fullmatch(value):
                quality = -1.0  # a malformed weight: the entry is not trusted
                break
            quality = float(value)
        if quality > 0 and tag and tag != "*":
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def from_accept_language(header: str | None) -> str | None:
    return first_supported(accepted(header))


def negotiate(
    params: Mapping[str, str],
    accept_language: str | None,
    remembered: str | None = None,
) -> str:
    """The request's language: the query's, then ``remembered`` (the session's or the Item's,
    when the request belongs to one), then ``Accept-Language``'s, then English."""
    return (
        from_query(params)
        or (remembered if remembered in LANGUAGES else None)
        or from_accept_language(accept_language)
        or DEFAULT_LANGUAGE
    )
