"""``/link/token/create`` and ``/link/token/get``: the link tokens Link (or Hosted Link) is
opened with, and the sessions it recorded."""

from __future__ import annotations

import time

from . import account_filters, data, fields
from .catalog import COUNTRY_CODES
from .core import Body, Emulator
from .errors import PlaidAPIError
from .responses import iso_time
from .store import LINK_TOKEN_TTL, LinkConfig, LinkSession

# Plaid's API reference, LinkTokenCreateRequest.language: the languages Link supports.
LINK_LANGUAGES = frozenset(
    {"da", "nl", "en", "et", "fr", "de", "hi", "it", "lv", "lt", "no", "pl", "pt", "ro", "es",
     "sv", "vi"}
)  # fmt: skip


def link_token_create(emulator: Emulator, body: Body, origin: str) -> Body:
    """``origin``: the emulator's own origin, which the Hosted Link URL starts with."""
    client_name = fields.text(body, "client_name")
    language = fields.text(body, "language")
    if language not in LINK_LANGUAGES:
        raise fields.invalid(
            "language", f"must be one of the following: {', '.join(sorted(LINK_LANGUAGES))}"
        )
    country_codes = fields.strings(body, "country_codes", allowed=COUNTRY_CODES)
    user = fields.obj(body, "user", required=True)
    client_user_id = fields.text(user, "client_user_id")
    access_token = fields.text(body, "access_token", required=False)
    products = fields.strings(
        body, "products", required=access_token is None, allowed=data.KNOWN_PRODUCTS
    )
    redirect_uri = fields.text(body, "redirect_uri", required=False)
    if redirect_uri is not None and not emulator.redirect_uri_allowed(redirect_uri):
        raise fields.invalid(
            "redirect_uri",
            "must be configured in the developer dashboard (Allowed redirect URIs). "
            "See https://dashboard.plaid.com/team/api",
        )
    webhook = fields.text(body, "webhook", required=False)
    hosted_link = fields.obj(body, "hosted_link") if body.get("hosted_link") is not None else None
    completion_uri = fields.text(hosted_link or {}, "completion_redirect_uri", required=False)
    filters = account_filters.read(body)
    institution_data = _institution_data(body)
    update_item = None
    if access_token is not None:
        update_item = emulator.item(body)
    config: LinkConfig = {
        "language": language,
        "country_codes": country_codes,
        "client_user_id": client_user_id,
        "products": products or list(update_item.products if update_item else []),
        "redirect_uri": redirect_uri,
        "webhook": webhook,
        "update_item_id": update_item.item_id if update_item else None,
        "client_name": client_name,
        "created_at": time.time(),
        "hosted_link": hosted_link is not None,
        "completion_redirect_uri": completion_uri,
    }
    if filters is not None:
        config["account_filters"] = filters
    if institution_data is not None:
        config["institution_data"] = institution_data
    token, expires_at = emulator.store.create_link_token(config)
    answer: Body = {"link_token": token, "expiration": iso_time(expires_at)}
    if hosted_link is not None:
        hosted_id = emulator.store.create_hosted_link(token)
        answer["hosted_link_url"] = f"{origin}/hosted-link/{hosted_id}"
    return answer


def _institution_data(body: Body) -> Body | None:
    """``institution_data`` (``{routing_number}``), or None when absent."""
    if body.get("institution_data") is None:
        return None
    given = fields.obj(body, "institution_data")
    routing_number = fields.text(given, "routing_number", required=False)
    if routing_number is not None and not routing_number.isdigit():
        raise fields.invalid("institution_data.routing_number", "must be digits")
    return {} if routing_number is None else {"routing_number": routing_number}


def _metadata(config: LinkConfig) -> Body:
    """``LinkTokenGetMetadataResponse``: what the link token was created with."""
    metadata: Body = {
        "initial_products": list(config.get("products") or []),
        "webhook": config.get("webhook"),
        "country_codes": list(config.get("country_codes") or []),
        "language": config.get("language"),
        "redirect_uri": config.get("redirect_uri"),
        "client_name": config.get("client_name"),
    }
    if "account_filters" in config:
        metadata["account_filters"] = account_filters.echo(config["account_filters"])
    if "institution_data" in config:
        metadata["institution_data"] = dict(config["institution_data"])
    return metadata


def _session_json(session: LinkSession) -> Body:
    finished_at = session["finished_at"]
    return {
        "link_session_id": session["link_session_id"],
        "started_at": iso_time(float(session["started_at"])),
        "finished_at": iso_time(float(finished_at)) if finished_at else None,
        "results": {
            "item_add_results": session["item_add_results"],
            "cra_item_add_results": [],
            "cra_update_results": [],
            "bank_income_results": [],
            "payroll_income_results": [],
            "document_income_results": None,
        },
        **({"exit": session["exit"]} if session["exit"] else {}),
    }


def link_token_get(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "link_token") or ""
    config = emulator.store.link_token(token) if token.startswith("link-sandbox-") else None
    if config is None:
        raise PlaidAPIError("INVALID_LINK_TOKEN", "the link token is unknown or expired")
    created = float(config.get("created_at") or 0) or None
    return {
        "link_token": token,
        "created_at": iso_time(created) if created else None,
        "expiration": iso_time(created + LINK_TOKEN_TTL) if created else None,
        "metadata": _metadata(config),
        "link_sessions": [_session_json(s) for s in emulator.store.link_sessions(token)],
    }
