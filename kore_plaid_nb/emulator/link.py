"""The Link stand-in: Plaid's script path, a small dialog, and two stand-in-only endpoints.

A page loads ``<emulator>/link/v2/stable/link-initialize.js`` exactly as it would load Plaid's
CDN script. The dialog lives in the page (no iframe): it talks to the emulator with nothing
but the link token, over two endpoints that allow cross-origin calls (CORS ``*``, no
cookies) because the page (the bridge) is on another origin:

- ``POST /link/_standin/session`` ``{link_token}`` -> institutions to offer, update mode;
- ``POST /link/_standin/complete`` ``{link_token, institution_id, username, password,
  link_session_id}`` -> ``{public_token, metadata}`` (Link's onSuccess metadata), or, for
  an OAuth institution when the link token has a ``redirect_uri``, ``{oauth_redirect_uri}``
  (``redirect_uri?oauth_state_id=<uuid>``). Re-opened with ``receivedRedirectUri``, the
  stand-in sends ``{link_token, received_redirect_uri}`` and gets the public token.

Like real Link, the page never holds a secret: the link token is the only credential, and it
is bound to the client that created it. Only these endpoints send CORS headers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import TypedDict
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import body as request_body
from . import data, fields, transactions
from .core import Body, Emulator, Handler, check_credentials
from .errors import PlaidAPIError, request_id
from .store import Item, LinkConfig

log = logging.getLogger("kore_plaid_nb.emulator")

SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
    "Cache-Control": "no-store",
}


@cache
def script_text() -> str:
    return resources.files(__package__).joinpath("link-initialize.js").read_text()


def _json(body: Body, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**CORS_HEADERS, **(headers or {})})


def _link_config(emulator: Emulator, body: Body) -> tuple[str, LinkConfig]:
    token = fields.text(body, "link_token") or ""
    config = emulator.store.link_token(token) if token.startswith("link-sandbox-") else None
    if config is None:
        raise PlaidAPIError(
            "INVALID_LINK_TOKEN", "the link token is unknown or expired; create a new one"
        )
    return token, config


def metadata(item_id: str, institution_id: str, link_session_id: str) -> Body:
    """Link's onSuccess metadata for a user_good Item."""
    institution = data.institution(institution_id)
    accounts = [
        {
            "id": account["account_id"],
            "name": account["name"],
            "mask": account["mask"],
            "type": account["type"],
            "subtype": account["subtype"],
            "verification_status": None,
            "class_type": None,
        }
        for account in data.accounts(item_id, data.country(institution_id))
    ]
    return {
        "institution": {
            "name": institution["name"] if institution else None,
            "institution_id": institution_id,
        },
        "accounts": accounts,
        "account": accounts[0],
        "account_id": accounts[0]["id"],
        "link_session_id": link_session_id,
        "transfer_status": None,
    }


class OfferedInstitution(TypedDict):
    institution_id: str
    name: str
    oauth: bool


class Offer(TypedDict):
    """What the dialog offers for a link token."""

    institutions: list[OfferedInstitution]
    update_mode: bool
    oauth_redirect: bool
    language: str  # what the link token was created with (the dialog shows it)


def offer(emulator: Emulator, config: LinkConfig) -> Offer:
    """The banks to offer (in update mode: the Item's own), and whether the login ends with
    an OAuth redirect."""
    update_item_id = config.get("update_item_id")
    update_institution = None
    if update_item_id:
        item = emulator.store.item(str(update_item_id))
        update_institution = item.institution_id if item else None
    institutions = [i for i in map(data.institution, data.INSTITUTION_IDS) if i is not None]
    # as Plaid Link: only banks in the token's countries that support all its products
    countries = set(config.get("country_codes") or ["US"])
    products = set(config.get("products") or [])
    return {
        "institutions": [
            {"institution_id": i["institution_id"], "name": i["name"], "oauth": i["oauth"]}
            for i in institutions
            if (
                i["institution_id"] == update_institution
                if update_institution is not None
                else countries & set(i["country_codes"]) and products <= set(i["products"])
            )
        ],
        "update_mode": bool(update_item_id),
        "oauth_redirect": bool(config.get("redirect_uri")),
        "language": str(config.get("language") or "en"),
    }


def session(emulator: Emulator, body: Body) -> Body:
    _, config = _link_config(emulator, body)
    return {**offer(emulator, config)}


def _return_from_oauth(emulator: Emulator, token: str, config: LinkConfig, received: str) -> Item:
    """The second half of an OAuth login: the page came back with ``oauth_state_id``."""
    state_id = (parse_qs(urlsplit(received).query).get("oauth_state_id") or [""])[0]
    institution_id = emulator.store.take_oauth_state(state_id, token) if state_id else None
    if institution_id is None:
        raise fields.invalid(
            "received_redirect_uri", "does not carry an oauth_state_id of this link token"
        )
    products = [str(p) for p in config.get("products") or []]
    item = emulator.login(institution_id, products, data.SANDBOX_USERNAME,
                          data.SANDBOX_PASSWORD, config.get("webhook"))  # fmt: skip
    transactions.item_created(emulator, item)
    return item


def _update_mode(emulator: Emulator, config: LinkConfig, institution_id: str, body: Body) -> Item:
    """Update mode: the user logs in again; the Item's error is cleared."""
    item = emulator.store.item(str(config.get("update_item_id")))
    if item is None or item.removed or item.institution_id != institution_id:
        raise PlaidAPIError("INVALID_INSTITUTION", "update mode: pick the Item's own bank")
    check_credentials(fields.text(body, "username", required=False),
                      fields.text(body, "password", required=False))  # fmt: skip
    emulator.store.set_item_error(item.item_id, None)
    if item.error_code:  # the Item works again: its webhook hears LOGIN_REPAIRED
        emulator.item_webhook(item, "LOGIN_REPAIRED")
    return item


def complete(emulator: Emulator, body: Body, *, oauth_redirect: bool = True) -> Body:
    """Log in with the dialog's values; a public token + metadata, or an OAuth redirect
    (never with ``oauth_redirect=False``: Hosted Link plays the bank's page itself)."""
    token, config = _link_config(emulator, body)
    link_session_id = fields.text(body, "link_session_id", required=False) or request_id()
    received = fields.text(body, "received_redirect_uri", required=False)
    if received is not None:
        item = _return_from_oauth(emulator, token, config, received)
    else:
        institution_id = fields.text(body, "institution_id") or ""
        institution = data.institution(institution_id)
        if institution is None:
            raise PlaidAPIError("INVALID_INSTITUTION")
        username = fields.text(body, "username", required=False)
        password = fields.text(body, "password", required=False)
        if config.get("update_item_id"):
            item = _update_mode(emulator, config, institution_id, body)
        elif institution["oauth"] and config.get("redirect_uri") and oauth_redirect:
            check_credentials(username, password)
            state_id = emulator.store.create_oauth_state(token, institution_id)
            redirect_uri = str(config.get("redirect_uri"))
            joiner = "&" if urlsplit(redirect_uri).query else "?"
            return {"oauth_redirect_uri": f"{redirect_uri}{joiner}oauth_state_id={state_id}"}
        else:
            products = [str(p) for p in config.get("products") or []]
            webhook = config.get("webhook")
            item = emulator.login(institution_id, products, username, password, webhook)
            transactions.item_created(emulator, item)
    public_token = emulator.store.create_public_token(item.item_id)
    success = metadata(item.item_id, item.institution_id, link_session_id)
    emulator.store.finish_link_session(token, link_session_id, {
        "public_token": public_token, "item_id": item.item_id,
        "institution": success["institution"], "accounts": success["accounts"],
    })  # fmt: skip
    return {"public_token": public_token, "metadata": success}


def routes(emulator: Emulator) -> list[Route]:
    async def script(request: Request) -> Response:
        return Response(
            script_text(),
            media_type="application/javascript",
            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
        )

    def standin(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=CORS_HEADERS)
            try:
                body = await request_body.read_json(request)
                return _json(handler(emulator, body))
            except PlaidAPIError as error:
                return _json(error.body(request_id()), error.status, error.headers)
            except Exception:  # a bug here must still answer in Plaid's shape
                log.exception("emulator: Link stand-in failed")
                failure = PlaidAPIError("INTERNAL_SERVER_ERROR")
                return _json(failure.body(request_id()), failure.status)

        return endpoint

    return [
        Route(SCRIPT_PATH, script, methods=["GET"]),
        Route("/link/_standin/session", standin(session), methods=["POST", "OPTIONS"]),
        Route("/link/_standin/complete", standin(complete), methods=["POST", "OPTIONS"]),
    ]
