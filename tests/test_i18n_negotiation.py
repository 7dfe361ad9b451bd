"""Which language a request gets (issue 27): ``ui_locales`` (OpenID Connect: space-separated
BCP 47 tags, in preference order) or ``lang``, then ``Accept-Language`` with its q-values,
then English; a malformed value never raises and gives way to the next source. And Link's
language: only one Plaid lists, for the configured countries (the assumption's table)."""

from __future__ import annotations

import pytest

from kore_plaid_nb.bridge.i18n import LANGUAGES, gettext, using_language
from kore_plaid_nb.bridge.i18n.catalogs import CatalogNotCompiled, translations
from kore_plaid_nb.bridge.i18n.negotiation import accepted, negotiate
from kore_plaid_nb.bridge.i18n.plaid_languages import link_language

NEGOTIATED = [
    # (query, Accept-Language, remembered) -> language
    ({"ui_locales": "es-MX"}, None, None, "es"),
    ({"ui_locales": "it pt-BR de-AT fr"}, None, None, "de"),  # the first one the pages speak
    ({"ui_locales": "NL"}, None, None, "nl"),
    ({"ui_locales": "fr_CA"}, None, None, "fr"),
    ({"lang": "de"}, "es", None, "de"),
    ({"ui_locales": "es", "lang": "de"}, None, None, "es"),  # ui_locales first
    ({"ui_locales": "it", "lang": "fr"}, None, None, "fr"),  # none supported: lang decides
    ({"ui_locales": "xx-YY"}, "nl-BE,nl;q=0.9", None, "nl"),
    ({}, "de-CH, de;q=0.9, en;q=0.8", None, "de"),
    ({}, "en;q=0.5, fr;q=0.9", None, "fr"),  # q-values, not the order
    ({}, "es;q=0.8, de;q=0.8", None, "es"),  # equal weights keep their order
    ({}, "de;q=0, es", None, "es"),  # q=0: not acceptable
    ({}, "it, pt;q=0.9, *;q=0.1", None, "en"),  # nothing the pages speak: English
    ({}, None, None, "en"),
    ({}, "de", "es", "es"),  # the session's language before the browser's
    ({"lang": "fr"}, "de", "es", "fr"),  # the URL's before the session's
    ({}, "de", "xx", "de"),  # a remembered value that is no language is ignored
    # malformed: skipped, the next source decides; never an exception
    ({"ui_locales": "<script>"}, "de", None, "de"),
    ({"ui_locales": "es;q=1"}, None, None, "en"),
    ({"ui_locales": "\x00\x01 ÿ"}, "fr", None, "fr"),
    ({"ui_locales": "es " * 1000}, "nl", None, "nl"),  # absurdly long: not parsed
    ({"lang": ""}, ";;;,,,", None, "en"),
    ({}, "de;q=abc, fr", None, "fr"),  # a malformed weight: that entry is dropped
    ({}, "de;q=1.5, nl;q=-1, es;q=0.3", None, "es"),
    ({}, "deutsch-Schweiz-xxxxxxxxxxxxxxxx", None, "en"),
    ({}, "\u00e9s, es", None, "es"),
]


@pytest.mark.parametrize(("query", "accept", "remembered", "expected"), NEGOTIATED)
def test_negotiation_table(
    query: dict[str, str], accept: str | None, remembered: str | None, expected: str
) -> None:
    assert negotiate(query, accept, remembered) == expected


def test_accept_language_is_ranked_by_weight() -> None:
    assert accepted("da, en-GB;q=0.8, en;q=0.7, de;q=0.9") == ["da", "de", "en-GB", "en"]


LINK_LANGUAGE = [
    # (session language, PLAID_COUNTRY_CODES) -> Link's language (assumption's table)
    ("es", ("US",), "es"),
    ("es", ("ES",), "es"),
    ("es", ("US", "CA"), "en"),  # must fit every country Link shows banks of
    ("fr", ("US",), "en"),
    ("fr", ("CA",), "fr"),
    ("fr", ("FR", "BE"), "fr"),
    ("nl", ("NL", "BE"), "nl"),
    ("nl", ("US",), "en"),
    ("de", ("DE",), "de"),
    ("de", ("US",), "en"),
    ("en", ("US", "GB", "FR"), "en"),
    ("it", ("IT",), "it"),  # a language Plaid lists, in its own country
    ("xx", ("US",), "en"),  # not a language Plaid lists
    (None, ("US",), "en"),
    ("es", (), "en"),
]


@pytest.mark.parametrize(("language", "countries", "expected"), LINK_LANGUAGE)
def test_link_gets_a_language_plaid_offers_for_the_countries(
    language: str | None, countries: tuple[str, ...], expected: str
) -> None:
    assert link_language(language, countries) == expected


def test_messages_are_translated_after_the_values_are_kept_apart() -> None:
    with using_language("en"):
        assert gettext("Wait %(seconds)s seconds.", seconds=3) == "Wait 3 seconds."
    assert set(LANGUAGES) == {"en", "es", "fr", "de", "nl"}


def test_a_catalog_that_is_not_compiled_fails_loudly_with_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from kore_plaid_nb.bridge.i18n import catalogs

    monkeypatch.setattr(catalogs, "LOCALES", tmp_path)
    translations.cache_clear()
    try:
        with pytest.raises(CatalogNotCompiled, match=r"make install"):
            translations("de", "pages")
        assert translations("en", "pages").gettext("Check again now") == "Check again now"
    finally:
        monkeypatch.undo()
        translations.cache_clear()
