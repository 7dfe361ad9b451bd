"""The plaid-python client factory: the only place that knows Plaid's hosts.

Plaid's failures and what they mean are in :mod:`.plaid_errors`; the names callers used from
here (:data:`PLAID_FAILURES`, :class:`PlaidError`, :func:`error_from_exception`) still work."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import plaid
import plaid.rest
import urllib3
from plaid.api import plaid_api

from .errors import PlaidUnreachable, RunbookError
from .plaid_errors import PLAID_FAILURES as PLAID_FAILURES
from .plaid_errors import TRANSPORT_FAILURES as TRANSPORT_FAILURES
from .plaid_errors import Caller, PlaidProblem, advice, emulator_redirect_uris_fix, problem_of
from .plaid_errors import PlaidError as PlaidError
from .plaid_errors import error_from_exception as error_from_exception
from .settings import Settings

PLAID_HOSTS = {
    "sandbox": plaid.Environment.Sandbox,
    "production": plaid.Environment.Production,
}
LINK_SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
PLAID_CDN = "https://cdn.plaid.com"
PLAID_VERSION = "2020-09-14"
# Connections kept per Plaid host: at least the thread pool's size (anyio: 40), so concurrent
# calls reuse keep-alive connections instead of opening (and dropping) new ones.
POOL_MAXSIZE = 64
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def api_host(settings: Settings) -> str:
    """Base URL of the Plaid API: PLAID_API_URL when set, else the PLAID_ENV host."""
    return settings.plaid_api_url or PLAID_HOSTS[settings.plaid_env]


def link_script_url(settings: Settings) -> str:
    """Where the page loads Plaid Link from: the emulator's stand-in or Plaid's CDN."""
    return (settings.plaid_api_url or PLAID_CDN) + LINK_SCRIPT_PATH


def tenant_host(tenant: str) -> str:
    """The host Kore builds from the profile's ``https://{tenant}.plaid.com``."""
    return f"https://{tenant}.plaid.com"


class _BoundedRESTClient(plaid.rest.RESTClientObject):  # type: ignore[misc]  # untyped base
    """plaid-python's transport with a default timeout: plaid-python hands urllib3 an explicit
    "no timeout" unless each call passes ``_request_timeout``, so a hung Plaid would hang us."""

    def __init__(self, configuration: plaid.Configuration, timeout: float) -> None:
        super().__init__(configuration)
        self.default_timeout = timeout

    def request(
        self, *args: object, _request_timeout: object = None, **kwargs: object
    ) -> plaid.rest.RESTResponse | urllib3.BaseHTTPResponse:
        return super().request(
            *args, _request_timeout=_request_timeout or self.default_timeout, **kwargs
        )


def configuration(settings: Settings) -> plaid.Configuration:
    """plaid-python's configuration for these settings: the host and the keys (demo keys in
    embedded mode); the bridge's async hot path (:mod:`.bridge.plaid_async`) reads it too."""
    config = plaid.Configuration(
        host=api_host(settings),
        api_key={
            "clientId": settings.client_id,
            "secret": settings.secret,
            "plaidVersion": PLAID_VERSION,
        },
    )
    config.connection_pool_maxsize = POOL_MAXSIZE
    return config


def create(settings: Settings, timeout: float = 30.0) -> plaid_api.PlaidApi:
    """A plaid-python API client for these settings (demo keys in embedded mode); every call
    gives up after ``timeout`` seconds."""
    config = configuration(settings)
    api_client = plaid.ApiClient(config)
    api_client.rest_client = _BoundedRESTClient(config, timeout)
    return plaid_api.PlaidApi(api_client)


def call_json(
    api: plaid_api.PlaidApi,
    operation: str,
    body: Mapping[str, object],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send ``body`` to a Plaid ``operation`` (``"item_get"``, ...) through plaid-python's
    ``ApiClient`` (same host, authentication headers, transport, timeout and exceptions) and
    return Plaid's JSON answer as a dict. Skips what costs most in plaid-python and that the
    bridge does not need: request and response models and their type checks."""
    settings = getattr(api, f"{operation}_endpoint").settings
    response = api.api_client.call_api(
        settings["endpoint_path"],
        settings["http_method"],
        header_params=dict(_JSON_HEADERS),
        body=body,
        auth_settings=settings["auth"],
        _return_http_data_only=True,
        _preload_content=False,
        _request_timeout=timeout,
    )
    try:
        return json_object(response.data, response.status)
    finally:
        response.release_conn()


def json_object(data: bytes, status: int) -> dict[str, Any]:
    """Plaid's JSON answer; a 2xx page that is not one (a captive portal, a proxy) is a Plaid
    failure whose effect is unknown (``status`` 0), not a bug."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise plaid.ApiException(status=0, reason=f"Plaid's answer was not JSON (HTTP {status})")
    return answer


def create_link_token(
    settings: Settings, user_id: str, redirect_uri: str | None = None, **options: Any
) -> str:
    """The ``link_token`` of :func:`link_token_answer` (same options)."""
    return str(link_token_answer(settings, user_id, redirect_uri, **options)["link_token"])


def link_token_answer(
    settings: Settings,
    user_id: str,
    redirect_uri: str | None = None,
    client_name: str = "Kore.ai",
    api: plaid_api.PlaidApi | None = None,
    timeout: float | None = None,
    webhook: str | None = None,
    hosted_link: dict[str, object] | None = None,
    access_token: str | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """Plaid's whole ``/link/token/create`` answer (:func:`create_link_token`), within
    ``timeout`` seconds (plaid-python waits forever without one). ``webhook``: where Plaid
    sends the Item's webhooks; ``hosted_link`` (e.g. ``{"completion_redirect_uri": ...}``):
    the answer holds ``hosted_link_url``; ``access_token``: update mode (no products);
    ``language``: Link's (one Plaid lists for these countries: the caller chooses it, see
    :func:`.bridge.i18n.plaid_languages.link_language`)."""
    body = link_token_body(
        settings, user_id, redirect_uri, client_name, webhook, hosted_link, access_token, language
    )
    api = api or create(settings)
    return call_json(api, "link_token_create", body, timeout)


def link_token_body(
    settings: Settings,
    user_id: str,
    redirect_uri: str | None = None,
    client_name: str = "Kore.ai",
    webhook: str | None = None,
    hosted_link: dict[str, object] | None = None,
    access_token: str | None = None,
    language: str = "en",
) -> dict[str, object]:
    """The ``/link/token/create`` request body of :func:`link_token_answer` (same options)."""
    body: dict[str, object] = {
        "user": {"client_user_id": user_id},
        "client_name": client_name,
        "country_codes": list(settings.plaid_country_codes),
        "language": language,
    }
    if access_token is None:
        body["products"] = list(settings.plaid_products)
    else:
        body["access_token"] = access_token
    if redirect_uri:
        body["redirect_uri"] = redirect_uri
    if webhook:
        body["webhook"] = webhook
    if hosted_link is not None:
        body["hosted_link"] = dict(hosted_link)
    return body


def link_token_get(
    api: plaid_api.PlaidApi, link_token: str, timeout: float | None = None
) -> dict[str, Any]:
    """``/link/token/get``: the Link token's sessions and their results (public tokens)."""
    return call_json(api, "link_token_get", {"link_token": link_token}, timeout)


def create_update_link_token(
    settings: Settings, access_token: str, user_id: str, **options: Any
) -> dict[str, Any]:
    """Plaid's whole ``/link/token/create`` answer in update mode (its ``link_token``,
    ``request_id``, ...): Link logs the Item's user in again (the Item and its access token
    stay); no products, the Item keeps its own."""
    return link_token_answer(settings, user_id, access_token=access_token, **options)


def sandbox_reset_login(settings: Settings, access_token: str, timeout: float = 30.0) -> None:
    """``/sandbox/item/reset_login`` (Sandbox only): the bank asks the Item's user to log in
    again; Plaid sends the Item's webhook ITEM ERROR (ITEM_LOGIN_REQUIRED)."""
    call_json(create(settings, timeout), "sandbox_item_reset_login", {"access_token": access_token},
              timeout)  # fmt: skip


def invalidate_access_token(
    settings_or_api: Settings | plaid_api.PlaidApi, access_token: str, timeout: float = 30.0
) -> str:
    """``/item/access_token/invalidate``: the Item's new access token; from Plaid's answer on,
    ``access_token`` no longer works (the Item and its data stay)."""
    api = (
        create(settings_or_api, timeout)
        if isinstance(settings_or_api, Settings)
        else settings_or_api
    )
    body = {"access_token": access_token}
    return str(call_json(api, "item_access_token_invalidate", body, timeout)["new_access_token"])


def webhook_verification_key(
    api: plaid_api.PlaidApi, key_id: str, timeout: float | None = None
) -> dict[str, Any]:
    """Plaid's whole ``/webhook_verification_key/get`` answer: its ``key``, the public key
    (a JWK) Plaid signs webhooks with, named by the ``kid`` of their ``Plaid-Verification``
    JWT, and its ``request_id``."""
    return call_json(api, "webhook_verification_key_get", {"key_id": key_id}, timeout)


def explain(error: PlaidError, host: str | None = None) -> RunbookError:
    """A :class:`RunbookError` for a Plaid error, naming the procedure step to check
    (a :class:`PlaidUnreachable` one when Plaid was not reached)."""
    problem = problem_of(error)
    if problem in (PlaidProblem.UNREACHABLE, PlaidProblem.TIMEOUT):
        emulator = host is not None and host not in PLAID_HOSTS.values()
        problem = PlaidProblem.EMULATOR_UNREACHABLE if emulator else PlaidProblem.UNREACHABLE
        said = advice(problem, Caller.RUNBOOK)
        return PlaidUnreachable(
            said.says(at=f" at {host}" if host else "", reason=error.error_message),
            fix=said.advises(host=host),
            step=said.step,
        )
    said = advice(problem, Caller.RUNBOOK)
    fix = said.advises()
    if problem is PlaidProblem.FIELD and host is not None and host not in PLAID_HOSTS.values():
        fix = emulator_redirect_uris_fix()
    return RunbookError(said.says(error=error), fix=fix, step=said.step)
