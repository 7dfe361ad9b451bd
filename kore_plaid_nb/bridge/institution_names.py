"""Banks by name, for people: the store keeps each Item's institution id (``ins_109512``);
listings show its name (``Houndstooth Bank``), asked of Plaid's ``/institutions/get_by_id``
once per id and process. Display only: an id Plaid cannot name now stays shown as the id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .. import plaid_client
from ..settings import Settings

if TYPE_CHECKING:
    from plaid.api import plaid_api

_known: dict[tuple[str, str], str] = {}  # (Plaid host, institution id) -> name


def institution_names(settings: Settings, ids: Iterable[str | None]) -> dict[str, str]:
    """``{id: name}`` for the ids Plaid names (one short call per id not known yet)."""
    host = plaid_client.api_host(settings)
    wanted = {i for i in ids if i}
    missing = [i for i in sorted(wanted) if (host, i) not in _known]
    if missing and not (settings.embedded and not settings.plaid_api_url):
        api = plaid_client.create(settings, timeout=5.0)
        for institution_id in missing:
            name = _ask(api, institution_id, settings.plaid_country_codes)
            if name:
                _known[(host, institution_id)] = name
    return {i: _known[(host, i)] for i in wanted if (host, i) in _known}


def _ask(
    api: plaid_api.PlaidApi, institution_id: str, country_codes: tuple[str, ...]
) -> str | None:
    body = {"institution_id": institution_id, "country_codes": list(country_codes)}
    try:
        answer = plaid_client.call_json(api, "institutions_get_by_id", body)
    except plaid_client.PLAID_FAILURES:
        return None
    name = (answer.get("institution") or {}).get("name")
    return name if isinstance(name, str) and name else None


def shown(institution: str | None, names: dict[str, str]) -> str:
    """A bank as a table shows it: its name, else its id, else ``-``."""
    if not institution:
        return "-"
    return names.get(institution, institution)
