"""The plaid-python client factory: the only place that knows Plaid's hosts."""

from __future__ import annotations

import json
from dataclasses import dataclass

import plaid
from plaid.api import plaid_api

from .settings import Settings

PLAID_HOSTS = {
    "sandbox": plaid.Environment.Sandbox,
    "production": plaid.Environment.Production,
}
LINK_SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
PLAID_CDN = "https://cdn.plaid.com"
PLAID_VERSION = "2020-09-14"


def api_host(settings: Settings) -> str:
    """Base URL of the Plaid API: PLAID_API_URL when set, else the PLAID_ENV host."""
    return settings.plaid_api_url or PLAID_HOSTS[settings.plaid_env]


def link_script_url(settings: Settings) -> str:
    """Where the page loads Plaid Link from: the emulator's stand-in or Plaid's CDN."""
    return (settings.plaid_api_url or PLAID_CDN) + LINK_SCRIPT_PATH


def tenant_host(tenant: str) -> str:
    """The host Kore builds from the profile's ``https://{tenant}.plaid.com``."""
    return f"https://{tenant}.plaid.com"


def create(settings: Settings, timeout: float = 30.0) -> plaid_api.PlaidApi:
    """A plaid-python API client for these settings (demo keys in embedded mode)."""
    configuration = plaid.Configuration(
        host=api_host(settings),
        api_key={
            "clientId": settings.client_id,
            "secret": settings.secret,
            "plaidVersion": PLAID_VERSION,
        },
    )
    api_client = plaid.ApiClient(configuration)
    api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = timeout
    return plaid_api.PlaidApi(api_client)


@dataclass(frozen=True)
class PlaidError:
    """A Plaid error body (or a transport failure) in a form that is safe to show."""

    status: int
    error_type: str
    error_code: str
    error_message: str
    display_message: str | None = None
    request_id: str | None = None

    def __str__(self) -> str:
        return f"{self.error_type}/{self.error_code} (HTTP {self.status}): {self.error_message}"


def error_from_exception(exc: BaseException) -> PlaidError:
    """Turn a plaid-python exception (or a connection failure) into a :class:`PlaidError`."""
    if isinstance(exc, plaid.ApiException):
        try:
            body = json.loads(exc.body or "{}")
        except (TypeError, ValueError):
            body = {}
        return PlaidError(
            status=int(exc.status or 0),
            error_type=str(body.get("error_type") or "API_ERROR"),
            error_code=str(body.get("error_code") or "UNKNOWN"),
            error_message=str(body.get("error_message") or exc.reason or "no message"),
            display_message=body.get("display_message"),
            request_id=body.get("request_id"),
        )
    return PlaidError(
        status=0,
        error_type="CONNECTION_ERROR",
        error_code=type(exc).__name__,
        error_message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
