"""Link's ``language`` (``/link/token/create``): the session's language when Plaid offers it
for the configured countries (PLAID_COUNTRY_CODES), else English.

Which languages Plaid Link speaks comes from Plaid's API reference
(``LinkTokenCreateRequest.language``, API version 2020-09-14). Which of them fit which
countries is NOT documented in the references this project holds: :data:`ASSUMED_COUNTRIES`
is an ASSUMPTION, kept in this one place. Its reason: Link shows each country's banks in
texts Plaid writes for that country, so a language is only asked for where Plaid is known
(from its own country list and product pages) to serve its speakers; English everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .negotiation import DEFAULT_LANGUAGE

# Plaid's API reference, LinkTokenCreateRequest.language: the languages Link supports.
PLAID_LINK_LANGUAGES: Final = frozenset(
    {"da", "nl", "en", "et", "fr", "de", "hi", "it", "lv", "lt", "no", "pl", "pt", "ro", "es",
     "sv", "vi"}
)  # fmt: skip
# ASSUMPTION (see the module's docstring): the countries each language fits, beyond its own.
ASSUMED_COUNTRIES: Final[dict[str, frozenset[str]]] = {
    "es": frozenset({"US", "ES"}),
    "fr": frozenset({"FR", "CA", "BE"}),
    "nl": frozenset({"NL", "BE"}),
    "de": frozenset({"DE"}),
}
# ASSUMPTION too: a language Plaid lists fits its own country (ISO 3166-1 alpha-2).
OWN_COUNTRY: Final = {
    "da": "DK", "nl": "NL", "et": "EE", "fr": "FR", "de": "DE", "hi": "IN", "it": "IT",
    "lv": "LV", "lt": "LT", "no": "NO", "pl": "PL", "pt": "PT", "ro": "RO", "es": "ES",
    "sv": "SE", "vi": "VN",
}  # fmt: skip


def fits(language: str, country: str) -> bool:
    if language == DEFAULT_LANGUAGE:
        return True
    return country in ASSUMED_COUNTRIES.get(language, frozenset()) or (
        OWN_COUNTRY.get(language) == country
    )


def link_language(language: str | None, country_codes: Iterable[str]) -> str:
    """What Link is opened in: ``language`` when Plaid lists it and it fits every configured
    country (Link shows the banks of all of them), else English."""
    countries = [c.upper() for c in country_codes]
    if not language or language not in PLAID_LINK_LANGUAGES or not countries:
        return DEFAULT_LANGUAGE
    return language if all(fits(language, c) for c in countries) else DEFAULT_LANGUAGE
