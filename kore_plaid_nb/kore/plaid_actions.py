"""Plaid, as Kore's actions call it: raw HTTP to ``https://{tenant}.plaid.com`` with
``access_token`` in the JSON payload and the ``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx

from .. import plaid_client
from ..settings import PLAID_ENVIRONMENTS, Settings
from .diagnosis import error_text, json_object, plaid_error
from .link_user import require_emulator
from .oauth_client import ClientCredentials
from .procedure import STEP_BRIDGE, STEP_TENANT, KoreFlowError


@dataclass(frozen=True)
class PlaidAction:
    """A Plaid call as one of Kore's actions (or a PLAID_PRODUCTS product) makes it."""

    name: str
    path: str
    product: str | None
    kore_action: bool


KORE_ACTIONS = (
    PlaidAction("real-time balance", "/accounts/balance/get", None, True),
    PlaidAction("investment holdings", "/investments/holdings/get", "investments", True),
    PlaidAction("investment transactions", "/investments/transactions/get", "investments", True),
    PlaidAction("liabilities", "/liabilities/get", "liabilities", True),
)
PRODUCT_ACTIONS = (
    PlaidAction("auth", "/auth/get", "auth", False),
    PlaidAction("transactions", "/transactions/sync", "transactions", False),
    PlaidAction("identity", "/identity/get", "identity", False),
)


def plaid_actions(products: tuple[str, ...]) -> tuple[PlaidAction, ...]:
    """Kore's four Plaid actions, then the product calls for the products in PLAID_PRODUCTS."""
    return KORE_ACTIONS + tuple(a for a in PRODUCT_ACTIONS if a.product in products)


@dataclass(frozen=True)
class PlaidCallResult:
    action: PlaidAction
    status: int
    summary: str


def token_environment(access_token: str) -> str | None:
    """The Plaid environment an access token belongs to (``access-sandbox-...``)."""
    match = re.match(r"^access-([a-z]+)-", access_token)
    return match.group(1) if match else None


class KorePlaidActions:
    """Kore's Plaid actions with the profile's tenant, credentials (headers) and payload."""

    def __init__(
        self,
        settings: Settings,
        credentials: ClientCredentials,
        tenant: str,
        http: httpx.Client,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.tenant = tenant
        self.http = http

    def plaid_base_url(self, access_token: str | None = None) -> str:
        """``https://{tenant}.plaid.com`` with the tenant substituted (the emulator when
        PLAID_API_URL is set). Raises when the tenant cannot serve this token."""
        require_emulator(self.settings)
        tenant = self.tenant.strip().lower()
        if tenant not in PLAID_ENVIRONMENTS:
            extra = (
                " Plaid's Development environment was decommissioned on 2024-06-20."
                if tenant == "development"
                else ""
            )
            raise KoreFlowError(
                f"Tenant {self.tenant!r} gives https://{self.tenant}.plaid.com, which is not "
                f"a Plaid host.{extra}",
                fix=f"Type the tenant {self.settings.plaid_env!r} (the PLAID_ENV of your keys).",
                step=STEP_TENANT,
            )
        token_env = token_environment(access_token or "")
        if tenant != self.settings.plaid_env or (token_env and token_env != tenant):
            owner = token_env or self.settings.plaid_env
            raise KoreFlowError(
                f"Tenant {tenant!r} sends Kore's calls to https://{tenant}.plaid.com, but the "
                f"access token and keys belong to {owner!r}: Plaid answers "
                "INVALID_API_KEYS / INVALID_ACCESS_TOKEN.",
                fix=f"Type {owner!r} as the tenant when authorizing (base URL "
                "https://{tenant}.plaid.com).",
                step=STEP_TENANT,
            )
        return self.settings.plaid_api_url or plaid_client.tenant_host(tenant)

    def call_plaid(self, action: PlaidAction, access_token: str) -> PlaidCallResult:
        """POST ``<base>/<path>`` with ``{"access_token": ...}`` and the two headers."""
        base = self.plaid_base_url(access_token)
        payload: dict[str, Any] = {"access_token": access_token}
        if action.path == "/investments/transactions/get":
            today = dt.date.today()
            payload.update(
                start_date=(today - dt.timedelta(days=30)).isoformat(), end_date=today.isoformat()
            )
        headers = {
            "PLAID-CLIENT-ID": self.credentials.client_id,
            "PLAID-SECRET": self.credentials.client_secret,
        }
        try:
            response = self.http.post(base + action.path, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            where = "the Plaid emulator (PLAID_API_URL)" if self.settings.plaid_api_url else base
            raise KoreFlowError(
                f"{where} cannot be reached ({type(exc).__name__}).",
                fix="Start the emulator (notebook 03_bridge, or `kore-plaid sandbox`) or check the "
                "internet connection.",
                step=STEP_BRIDGE if self.settings.plaid_api_url else STEP_TENANT,
            ) from None
        body = json_object(response)
        if response.status_code != 200:
            code = str(body.get("error_code") or f"HTTP {response.status_code}")
            message = str(body.get("error_message") or error_text(response))
            where = f"Kore's {action.name} call"
            raise plaid_error(
                code,
                f"{code}: {message}",
                where,
                response.status_code,
                from_action=True,
                product=action.product,
            )
        return PlaidCallResult(action, response.status_code, _summary(body))


def _summary(body: dict[str, Any]) -> str:
    parts = []
    for key in ("accounts", "holdings", "investment_transactions", "added", "numbers"):
        value = body.get(key)
        if isinstance(value, list):
            parts.append(f"{len(value)} {key.replace('_', ' ')}")
        elif isinstance(value, dict) and key == "numbers":
            parts.append(f"{sum(len(v or []) for v in value.values())} account numbers")
    if isinstance(body.get("liabilities"), dict):
        count = sum(len(v or []) for v in body["liabilities"].values())
        parts.append(f"{count} liabilities")
    return ", ".join(parts) or "ok"
