"""The Plaid endpoints: each handler takes the parsed JSON body and returns the response
(without ``request_id``, which the app adds) or raises :class:`PlaidAPIError`."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from ..settings import Settings
from . import catalog, data, fields, webhooks
from .catalog import COUNTRY_CODES
from .errors import PlaidAPIError, item_error
from .store import ENVIRONMENT, LINK_TOKEN_TTL, Item, Store

Body = dict[str, object]
Handler = Callable[["Emulator", Body], Body]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# the emulator's own origin (scheme://host:port) of the request being handled
REQUEST_ORIGIN: ContextVar[str] = ContextVar("REQUEST_ORIGIN", default="http://127.0.0.1")
WEBHOOK_TYPES = frozenset({"AUTH", "HOLDINGS", "INVESTMENTS_TRANSACTIONS", "ITEM", "LIABILITIES",
                           "TRANSACTIONS", "ASSETS", "IDENTITY"})  # fmt: skip


class Emulator:
    """What every handler needs: the settings, the store, the allowed redirect URIs and the
    webhook sender."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        allowed_redirect_uris: tuple[str, ...],
        webhook_sender: webhooks.WebhookSender | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.allowed_redirect_uris = allowed_redirect_uris
        self.webhooks = webhook_sender or webhooks.WebhookSender(store)

    def item_webhook(self, item: Item, webhook_code: str, **extra: object) -> bool:
        """Send an ITEM webhook to the Item's webhook URL (if it has one), in the background."""
        return self.webhooks.send(item.webhook, webhooks.item_webhook(item.item_id, webhook_code,
                                                                      **extra))  # fmt: skip

    # ------------------------------------------------------------------ shared steps

    def redirect_uri_allowed(self, uri: str) -> bool:
        """The emulator's "Allowed redirect URIs" (Plaid dashboard): the configured ones, and
        any http(s) URL on this machine (loopback), as Plaid's Sandbox allows localhost."""
        if uri in self.allowed_redirect_uris:
            return True
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS

    def login(
        self,
        institution_id: str,
        products: list[str],
        username: str | None,
        password: str | None,
        webhook: str | None = None,
    ) -> Item:
        """Check the institution, products and Sandbox credentials; create an Item."""
        institution = data.institution(institution_id)
        if institution is None:
            raise PlaidAPIError("INVALID_INSTITUTION")
        unsupported = [p for p in products if p not in institution["products"]]
        if unsupported:
            raise PlaidAPIError(
                "PRODUCTS_NOT_SUPPORTED",
                f"{institution['name']} does not support: {', '.join(unsupported)}",
            )
        check_credentials(username, password)
        return self.store.create_item(institution_id, products, webhook)

    def item(self, body: Body) -> Item:
        """The Item of the body's ``access_token`` (any state but removed)."""
        token = fields.text(body, "access_token") or ""
        if not token.startswith(f"access-{ENVIRONMENT}-"):
            raise PlaidAPIError("INVALID_ACCESS_TOKEN")
        item = self.store.item_by_access_token(token)
        if item is None:
            raise PlaidAPIError(
                "INVALID_ACCESS_TOKEN", "provided access token does not match any Item"
            )
        if item.removed:
            raise PlaidAPIError("INVALID_ACCESS_TOKEN", "the Item of this access token was removed")
        return item

    def healthy_item(self, body: Body) -> Item:
        """Like :meth:`item`, but an Item in an error state fails with that error."""
        item = self.item(body)
        if item.error_code:
            raise PlaidAPIError(item.error_code)
        return item


def check_credentials(username: str | None, password: str | None) -> None:
    """Sandbox logins: any username with ``pass_good``; ``error_<CODE>`` fails with CODE."""
    password = password or ""
    if password.startswith("error_") and len(password) > len("error_"):
        raise PlaidAPIError(password[len("error_") :])
    if not username or password != data.SANDBOX_PASSWORD:
        raise PlaidAPIError("INVALID_CREDENTIALS")


def item_json(item: Item) -> Body:
    institution = data.institution(item.institution_id) or {}
    return {
        "item_id": item.item_id,
        "institution_id": item.institution_id,
        "institution_name": institution.get("name"),
        "webhook": item.webhook or "",
        "error": item_error(item.error_code) if item.error_code else None,
        "available_products": [p for p in (*data.PRODUCTS, "balance") if p not in item.products],
        "billed_products": list(item.products),
        "products": list(item.products),
        "consented_products": list(item.products),
        "consent_expiration_time": None,
        "update_type": "background",
    }


def _created(item: Item) -> date:
    return datetime.fromtimestamp(item.created_at, UTC).date()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account_filter(body: Body) -> list[str] | None:
    return fields.strings(fields.obj(body, "options"), "account_ids", required=False)


def _dated_page(body: Body) -> tuple[date, date, Body, int, int]:
    """``start_date`` / ``end_date`` (in order) and ``options`` with its ``count`` / ``offset``."""
    start = fields.day(body, "start_date")
    end = fields.day(body, "end_date")
    if end < start:
        raise fields.invalid("end_date", "must not be before start_date")
    options = fields.obj(body, "options")
    count = fields.integer(options, "count", default=100, minimum=1, maximum=500)
    offset = fields.integer(options, "offset", default=0, minimum=0)
    return start, end, options, count, offset


def _accounts(item: Item, body: Body, types: tuple[str, ...] | None = None) -> list[Body]:
    accounts = data.accounts(item.item_id)
    wanted = _account_filter(body)
    if wanted is not None:
        known = {a["account_id"] for a in accounts}
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise fields.invalid("options.account_ids", "contains ids not in this Item")
        accounts = [a for a in accounts if a["account_id"] in wanted]
    if types is not None:
        accounts = [a for a in accounts if a["type"] in types]
    return accounts


# ---------------------------------------------------------------------------- link / tokens


def link_token_create(emulator: Emulator, body: Body) -> Body:
    fields.text(body, "client_name")
    language = fields.text(body, "language")
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
    update_item = None
    if access_token is not None:
        update_item = emulator.item(body)
    config = {
        "language": language,
        "country_codes": country_codes,
        "client_user_id": client_user_id,
        "products": products or list(update_item.products if update_item else []),
        "redirect_uri": redirect_uri,
        "webhook": webhook,
        "update_item_id": update_item.item_id if update_item else None,
        "client_name": body.get("client_name"),
        "created_at": time.time(),
        "hosted_link": hosted_link is not None,
        "completion_redirect_uri": completion_uri,
    }
    token, expires_at = emulator.store.create_link_token(config)
    answer: Body = {"link_token": token, "expiration": _iso(expires_at)}
    if hosted_link is not None:
        hosted_id = emulator.store.create_hosted_link(token)
        answer["hosted_link_url"] = f"{REQUEST_ORIGIN.get()}/hosted-link/{hosted_id}"
    return answer


def link_token_get(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "link_token") or ""
    config = emulator.store.link_token(token) if token.startswith("link-sandbox-") else None
    if config is None:
        raise PlaidAPIError("INVALID_LINK_TOKEN", "the link token is unknown or expired")
    created = float(config.get("created_at") or 0) or None
    sessions = [
        {
            "link_session_id": s["link_session_id"],
            "started_at": _iso(float(s["started_at"])),
            "finished_at": _iso(float(s["finished_at"])) if s["finished_at"] else None,
            "results": {
                "item_add_results": s["item_add_results"],
                "cra_item_add_results": [],
                "cra_update_results": [],
                "bank_income_results": [],
                "payroll_income_results": [],
                "document_income_results": None,
            },
            **({"exit": s["exit"]} if s["exit"] else {}),
        }
        for s in emulator.store.link_sessions(token)
    ]
    return {
        "link_token": token,
        "created_at": _iso(created) if created else None,
        "expiration": _iso(created + LINK_TOKEN_TTL) if created else None,
        "metadata": {
            "initial_products": list(config.get("products") or []),
            "webhook": config.get("webhook"),
            "country_codes": list(config.get("country_codes") or []),
            "language": config.get("language"),
            "redirect_uri": config.get("redirect_uri"),
            "client_name": config.get("client_name"),
        },
        "link_sessions": sessions,
    }


def sandbox_public_token_create(emulator: Emulator, body: Body) -> Body:
    institution_id = fields.text(body, "institution_id") or ""
    products = fields.strings(body, "initial_products", allowed=data.KNOWN_PRODUCTS) or []
    options = fields.obj(body, "options")
    username = fields.text(options, "override_username", required=False) or data.SANDBOX_USERNAME
    password = fields.text(options, "override_password", required=False) or data.SANDBOX_PASSWORD
    webhook = fields.text(options, "webhook", required=False)
    item = emulator.login(institution_id, products, username, password, webhook)
    return {"public_token": emulator.store.create_public_token(item.item_id)}


def item_public_token_exchange(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "public_token") or ""
    if not token.startswith(f"public-{ENVIRONMENT}-"):
        raise PlaidAPIError("INVALID_PUBLIC_TOKEN")
    status, item = emulator.store.redeem_public_token(token)
    if status == "used":
        raise PlaidAPIError(
            "INVALID_PUBLIC_TOKEN", "provided public token has already been exchanged"
        )
    if status == "expired":
        raise PlaidAPIError(
            "INVALID_PUBLIC_TOKEN",
            "provided public token is expired. Public tokens expire 30 minutes after creation "
            "at which point they can no longer be exchanged",
        )
    if item is None or item.removed:
        raise PlaidAPIError("INVALID_PUBLIC_TOKEN", "provided public token is not known")
    return {"access_token": item.access_token, "item_id": item.item_id}


# ---------------------------------------------------------------------------- items


def item_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    return {"item": item_json(item)}


def item_remove(emulator: Emulator, body: Body) -> Body:
    token = fields.text(body, "access_token") or ""
    removed = emulator.store.item_by_access_token(token)
    if removed is not None and removed.removed:
        raise PlaidAPIError(
            "ITEM_NOT_FOUND",
            "the requested item was not found: this Item was already removed with /item/remove",
        )
    item = emulator.item(body)
    emulator.store.remove_item(item.item_id)
    return {}


def sandbox_item_reset_login(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    emulator.store.set_item_error(item.item_id, "ITEM_LOGIN_REQUIRED")
    emulator.item_webhook(item, "ERROR", error=webhooks.error_object("ITEM_LOGIN_REQUIRED"))
    return {"reset_login": True}


def item_webhook_update(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    webhook = fields.text(body, "webhook", required=False)
    if webhook is not None and not webhooks.valid_webhook_url(webhook):
        raise fields.invalid("webhook", "must be an http or https URL")
    emulator.store.set_item_webhook(item.item_id, webhook or None)
    item = emulator.store.item(item.item_id) or item
    if webhook:
        emulator.item_webhook(item, "WEBHOOK_UPDATE_ACKNOWLEDGED", error=None,
                              new_webhook_url=webhook)  # fmt: skip
    return {"item": item_json(item)}


def sandbox_item_fire_webhook(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    code = fields.text(body, "webhook_code") or ""
    kind = fields.text(body, "webhook_type", required=False)
    allowed = {"DEFAULT_UPDATE", *webhooks.FIRE_TYPES, *webhooks.NOT_EMULATED}
    if code not in allowed:
        raise fields.invalid("webhook_code", f"must be one of {', '.join(sorted(allowed))}")
    if kind is not None and kind not in WEBHOOK_TYPES:
        raise fields.invalid("webhook_type", f"must be one of {', '.join(sorted(WEBHOOK_TYPES))}")
    if not item.webhook or not webhooks.valid_webhook_url(item.webhook):
        raise PlaidAPIError(
            "SANDBOX_WEBHOOK_INVALID",
            "Webhook for this item is either empty or has been malformed: set one with "
            "/item/webhook/update",
        )
    emulator.webhooks.send(item.webhook, webhooks.fire_body(item, code, kind))
    return {"webhook_fired": True}


def webhook_verification_key_get(emulator: Emulator, body: Body) -> Body:
    key_id = fields.text(body, "key_id") or ""
    key = emulator.webhooks.jwk(key_id)
    if key is None:
        raise PlaidAPIError("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    return {"key": key}


def item_access_token_invalidate(emulator: Emulator, body: Body) -> Body:
    item = emulator.item(body)
    return {"new_access_token": emulator.store.rotate_access_token(item.item_id)}


# ---------------------------------------------------------------------------- products


def accounts_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    return {"accounts": _accounts(item, body), "item": item_json(item)}


def accounts_balance_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    options = fields.obj(body, "options")
    fields.text(options, "min_last_updated_datetime", required=False)
    return {"accounts": _accounts(item, body), "item": item_json(item)}


def auth_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    emulator.store.add_products(item.item_id, ["auth"])
    accounts = _accounts(item, body)
    ids = {a["account_id"] for a in accounts}
    numbers = data.auth_numbers(item.item_id)
    numbers["ach"] = [n for n in numbers["ach"] if n["account_id"] in ids]
    return {"accounts": accounts, "numbers": numbers, "item": item_json(item)}


def identity_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = [{**a, "owners": data.owners()} for a in _accounts(item, body)]
    return {"accounts": accounts, "item": item_json(item)}


def investments_holdings_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = _accounts(item, body, ("investment",))
    ids = {a["account_id"] for a in accounts}
    holdings = [h for h in data.holdings(item.item_id) if h["account_id"] in ids]
    security_ids = {h["security_id"] for h in holdings}
    securities = [s for s in data.securities() if s["security_id"] in security_ids]
    return {
        "accounts": accounts,
        "holdings": holdings,
        "securities": securities,
        "item": item_json(item),
        "is_investments_fallback_item": False,
    }


def investments_transactions_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    start, end, options, count, offset = _dated_page(body)
    accounts = _accounts(item, body, ("investment",))
    ids = {a["account_id"] for a in accounts}
    matching = [
        t
        for t in data.investment_transactions(item.item_id, _created(item))
        if t["account_id"] in ids and start.isoformat() <= t["date"] <= end.isoformat()
    ]
    page = matching[offset : offset + count]
    security_ids = {t["security_id"] for t in page}
    return {
        "item": item_json(item),
        "accounts": accounts,
        "securities": [s for s in data.securities() if s["security_id"] in security_ids],
        "investment_transactions": page,
        "total_investment_transactions": len(matching),
        "is_investments_fallback_item": False,
    }


def liabilities_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    accounts = _accounts(item, body, ("credit", "loan"))
    ids = {a["account_id"] for a in accounts}
    liabilities = {
        kind: [entry for entry in entries if entry["account_id"] in ids]
        for kind, entries in data.liabilities(item.item_id).items()
    }
    return {"accounts": accounts, "liabilities": liabilities, "item": item_json(item)}


# ---------------------------------------------------------------------------- transactions/sync


def _encode_cursor(item: Item, position: int) -> str:
    raw = json.dumps({"v": 1, "i": item.item_id[:12], "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(item: Item, cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = decoded["p"]
        if decoded["i"] != item.item_id[:12] or not isinstance(position, int) or position < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise fields.invalid(
            "cursor", "is not a cursor returned by /transactions/sync for this Item"
        ) from None
    return position


def transactions_sync(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    cursor = fields.text(body, "cursor", required=False) or ""
    count = fields.integer(body, "count", default=100, minimum=1, maximum=500)
    fields.obj(body, "options")
    emulator.store.add_products(item.item_id, ["transactions"])
    everything = data.transactions(item.item_id, _created(item))
    position = min(_decode_cursor(item, cursor), len(everything)) if cursor else 0
    page = everything[position : position + count]
    next_position = position + len(page)
    return {
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "accounts": data.accounts(item.item_id),
        "added": page,
        "modified": [],
        "removed": [],
        "next_cursor": _encode_cursor(item, next_position),
        "has_more": next_position < len(everything),
    }


# ---------------------------------------------------------------------------- transactions/get


def transactions_get(emulator: Emulator, body: Body) -> Body:
    item = emulator.healthy_item(body)
    start, end, options, count, offset = _dated_page(body)
    fields.integer(options, "days_requested", default=90, minimum=1, maximum=730)
    original = catalog.flag(options, "include_original_description")
    accounts = _accounts(item, body)
    ids = {a["account_id"] for a in accounts}
    emulator.store.add_products(item.item_id, ["transactions"])
    matching = [
        t
        for t in reversed(data.transactions(item.item_id, _created(item)))  # newest first
        if t["account_id"] in ids and start.isoformat() <= str(t["date"]) <= end.isoformat()
    ]
    page = matching[offset : offset + count]
    if original:
        page = [{**t, "original_description": t["name"]} for t in page]
    item = emulator.store.item(item.item_id) or item
    return {
        "accounts": accounts,
        "transactions": page,
        "total_transactions": len(matching),
        "item": item_json(item),
    }


def transactions_refresh(emulator: Emulator, body: Body) -> Body:
    """Sandbox data is always fresh: nothing to fetch, but the Item must be healthy."""
    emulator.healthy_item(body)
    return {}


# Plaid endpoints that take no client_id / secret (``security: []`` in Plaid's spec)
NO_CREDENTIALS = frozenset({"/categories/get"})

ENDPOINTS: dict[str, Handler] = {
    "/link/token/create": link_token_create,
    "/sandbox/public_token/create": sandbox_public_token_create,
    "/item/public_token/exchange": item_public_token_exchange,
    "/item/get": item_get,
    "/item/remove": item_remove,
    "/accounts/get": accounts_get,
    "/accounts/balance/get": accounts_balance_get,
    "/auth/get": auth_get,
    "/transactions/sync": transactions_sync,
    "/identity/get": identity_get,
    "/investments/holdings/get": investments_holdings_get,
    "/investments/transactions/get": investments_transactions_get,
    "/liabilities/get": liabilities_get,
    "/institutions/get_by_id": catalog.institutions_get_by_id,
    "/institutions/get": catalog.institutions_get,
    "/institutions/search": catalog.institutions_search,
    "/categories/get": catalog.categories_get,
    "/transactions/get": transactions_get,
    "/transactions/refresh": transactions_refresh,
    "/item/access_token/invalidate": item_access_token_invalidate,
    "/sandbox/item/reset_login": sandbox_item_reset_login,
    "/link/token/get": link_token_get,
    "/item/webhook/update": item_webhook_update,
    "/sandbox/item/fire_webhook": sandbox_item_fire_webhook,
    "/webhook_verification_key/get": webhook_verification_key_get,
}
