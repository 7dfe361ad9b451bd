"""A Kore simulator: an OAuth 2.0 client that plays Kore's platform against the bridge.

It does what Kore does with the profile from :mod:`.profile`: sends the user to the
Authorization URL with client_id, redirect_uri, a fresh state (and optionally PKCE), receives
the redirect on a loopback callback server, checks the state, calls the Token Request URL and
the Refresh Token URL, and then calls Plaid the way Kore's Plaid actions do: raw HTTP to
``https://{tenant}.plaid.com`` with ``access_token`` in the JSON payload and the
``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers. The user's part (Plaid Link) is played with
``/sandbox/public_token/create``, as Plaid's own tests do.

Every method returns a small result object or raises :class:`KoreFlowError`, whose ``step``
names the step of the documented procedure that is most likely wrong.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import html
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from .. import plaid_client, serving
from ..errors import RunbookError, ServiceError
from ..settings import PLAID_ENVIRONMENTS, Settings, mask
from .profile import TOKEN_PATH

SANDBOX_INSTITUTION = "ins_109508"  # First Platypus Bank
STEP_SECRET = "4.iii-iv / 9"  # noqa: S105 - a procedure step, not a secret  # nosec B105
STEP_CALLBACK = "4.v-vi"
STEP_BRIDGE = "4.vii-x / 5"
STEP_PRODUCTS = "4.x"
STEP_TENANT = "6"
STEP_TOKEN_URL = "7"  # noqa: S105 - a procedure step  # nosec B105
STEP_PAYLOAD = "8"
STEP_HEADERS = "9"

PRODUCT_ERRORS = frozenset(
    {
        "PRODUCTS_NOT_SUPPORTED",
        "INVALID_PRODUCT",
        "PRODUCT_NOT_ENABLED",
        "ADDITIONAL_CONSENT_REQUIRED",
        "NO_INVESTMENT_ACCOUNTS",
        "NO_INVESTMENT_AUTH_ACCOUNTS",
        "NO_LIABILITY_ACCOUNTS",
        "NO_AUTH_ACCOUNTS",
        "INVALID_PRODUCTS",
    }
)


class KoreFlowError(RunbookError):
    """A step of Kore's flow failed; ``step`` names the procedure step to look at."""


class StepSkipped(RunbookError):
    """A step cannot run in this setting (e.g. the Link stand-in outside the sandbox)."""


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
class AuthorizationRequest:
    url: str
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str | None = field(default=None, repr=False)
    code_challenge: str | None = None


@dataclass(frozen=True)
class LinkSession:
    session: str = field(repr=False)
    link_token: str = field(repr=False)

    def __str__(self) -> str:
        return f"link token {self.link_token.split('-')[0]}-{mask(self.link_token)}"


@dataclass(frozen=True)
class LinkResult:
    redirect_to: str = field(repr=False)
    institution: str = SANDBOX_INSTITUTION


@dataclass(frozen=True)
class CallbackResult:
    code: str = field(repr=False)
    state_matches: bool
    callback: str


@dataclass(frozen=True)
class TokenResult:
    style: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    status: int
    cache_control: str
    close_window: bool | None

    def __str__(self) -> str:
        refresh = "with" if self.refresh_token else "without"
        return f"{self.token_type} {mask(self.access_token)}, {refresh} refresh token"


@dataclass(frozen=True)
class PlaidCallResult:
    action: PlaidAction
    status: int
    summary: str


class CallbackReceiver:
    """What the loopback callback server received, keyed by state."""

    def __init__(self) -> None:
        self._received: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def app(self, path: str) -> Starlette:
        async def callback(request: Request) -> HTMLResponse:
            params = dict(request.query_params)
            with self._lock:
                self._received[params.get("state", "")] = params
            if "error" in params:
                text = f"Authorization failed: {html.escape(params['error'])}."
            else:
                text = "Authorized. You can close this window."
            return HTMLResponse(f"<!doctype html><title>Kore simulator</title><p>{text}</p>")

        return Starlette(routes=[Route(path, callback)])

    def pop(self, state: str) -> dict[str, str] | None:
        with self._lock:
            return self._received.pop(state, None)


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _error_text(response: httpx.Response) -> str:
    """A short readable reason from an error response (JSON or HTML)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [
            str(body[key])
            for key in ("error", "error_code", "error_description", "error_message", "detail")
            if body.get(key)
        ]
        if parts:
            return ": ".join(parts)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text[:300] or f"HTTP {response.status_code}"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _bridge_explained(response: httpx.Response, during: str) -> KoreFlowError | None:
    """The bridge's own explanation of a failed Plaid call (code, message, fix, step)."""
    body = _json_object(response)
    code = body.get("plaid_error_code")
    if not code and not body.get("step"):
        return None
    message = str(body.get("message") or _error_text(response))
    if not body.get("step"):
        return _plaid_error(str(code), f"{code}: {message}", f"the bridge ({during})")
    return KoreFlowError(
        f"The bridge failed while {during}: {code + ': ' if code else ''}{message}",
        fix=str(body.get("fix") or "Read the bridge's log (`kore-plaid status` shows where)."),
        step=str(body["step"]),
    )


def token_environment(access_token: str) -> str | None:
    """The Plaid environment an access token belongs to (``access-sandbox-...``)."""
    match = re.match(r"^access-([a-z]+)-", access_token)
    return match.group(1) if match else None


class KoreSimulator:
    """Plays Kore against the bridge at ``base_url`` (the profile's public URL).

    Use as a context manager: it runs the loopback callback server on
    ``127.0.0.1:settings.simulator_port`` while open.
    """

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        tenant: str | None = None,
        callback: str | None = None,
        use_pkce: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.tenant = tenant if tenant is not None else settings.plaid_env
        self.callback = callback or settings.simulator_callback
        self.use_pkce = use_pkce
        self.client_id = settings.client_id
        self.client_secret = settings.secret
        self.token_url = self.base_url + TOKEN_PATH
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)
        self.receiver = CallbackReceiver()
        self._server: contextlib.ExitStack | None = None

    # Lifecycle.

    def __enter__(self) -> KoreSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # The client hangs up first, so the callback port is not left in TIME_WAIT and the
        # next simulator can bind it at once.
        self.http.close()
        if self._server is not None:
            self._server.close()
            self._server = None

    def start_callback_server(self) -> str:
        """Serve the loopback callback (``/workflows/callback``); returns its base URL."""
        if self._server is not None:
            return self._callback_base()
        parts = urlsplit(self.callback)
        if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise KoreFlowError(
                f"The simulator can only receive redirects on this machine, not at "
                f"{self.callback}.",
                fix="Leave KORE_SIMULATOR_PORT at a free port; the simulator's callback "
                "is http://127.0.0.1:<port>/workflows/callback.",
            )
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(
                serving.serve_in_thread(
                    self.receiver.app(parts.path or "/"),
                    host="127.0.0.1",
                    port=parts.port,
                    what="Kore simulator callback",
                )
            )
        except ServiceError as exc:
            raise KoreFlowError(
                f"The simulator's callback port {parts.port} is taken ({exc.message})",
                fix=f"Stop what holds it (`lsof -i :{parts.port}`), or set KORE_SIMULATOR_PORT "
                "to a free port in .env and restart the bridge (it registers that callback).",
            ) from None
        self._server = stack
        return self._callback_base()

    def _callback_base(self) -> str:
        parts = urlsplit(self.callback)
        return f"{parts.scheme}://{parts.netloc}"

    # 1. Authorization request.

    def authorization_request(
        self, redirect_uri: str | None = None, use_pkce: bool | None = None
    ) -> AuthorizationRequest:
        """The URL Kore sends the user to: client_id, redirect_uri, fresh state, PKCE."""
        redirect_uri = redirect_uri or self.callback
        state = secrets.token_urlsafe(24)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        verifier = challenge = None
        if self.use_pkce if use_pkce is None else use_pkce:
            verifier, challenge = _pkce_pair()
            query.update(code_challenge=challenge, code_challenge_method="S256")
        url = f"{self.base_url}/?{urlencode(query)}"
        return AuthorizationRequest(url, redirect_uri, state, verifier, challenge)

    def check_bridge_up(self) -> str:
        """GET /healthz on the bridge."""
        try:
            response = self.http.get(self.base_url + "/healthz")
        except httpx.HTTPError as exc:
            raise self._bridge_down(exc) from None
        if response.status_code != 200:
            raise KoreFlowError(
                f"{self.base_url}/healthz answered HTTP {response.status_code}: this URL is "
                "not the bridge (or the tunnel points elsewhere).",
                fix="Start the bridge (`kore-plaid bridge`, notebook 03_bridge) and use its URL as "
                "the Authorization URL (step 5).",
                step=STEP_BRIDGE,
            )
        return f"bridge answers at {self.base_url}"

    def _bridge_down(self, exc: Exception) -> KoreFlowError:
        return KoreFlowError(
            f"Nothing answers at {self.base_url} ({type(exc).__name__}): the bridge is down "
            "or the URL is wrong.",
            fix="Start the bridge (`kore-plaid bridge` or notebook 03_bridge), open the tunnel if "
            "Kore must reach it, and make the profile's Authorization URL that URL (step 5).",
            step=STEP_BRIDGE,
        )

    # 2. The Authorization URL answers the link token.

    def get_link_token(self, request: AuthorizationRequest) -> LinkSession:
        """GET the Authorization URL with ``Accept: application/json``."""
        try:
            response = self.http.get(request.url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._bridge_down(exc) from None
        if response.status_code == 200:
            try:
                body = response.json()
                return LinkSession(str(body["session"]), str(body["link_token"]))
            except (ValueError, KeyError, TypeError):
                raise KoreFlowError(
                    "The Authorization URL answered, but not with a Link session: it is not "
                    "the bridge's root.",
                    fix="Set the Authorization URL to the bridge's public URL ending in `/`.",
                    step="5",
                ) from None
        reason = _error_text(response)
        explained = _bridge_explained(response, "creating the Link token")
        if explained is not None:
            raise explained
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("location", "")
            error = parse_qs(urlsplit(location).query).get("error", ["?"])[0]
            raise KoreFlowError(
                f"The bridge refused the authorization request and redirected with error={error}.",
                fix="Read the bridge's log (`kore-plaid status`); its Plaid keys and "
                "PLAID_PRODUCTS come from .env (step 4.x).",
                step="4.x",
            )
        if response.status_code == 400:
            lowered = reason.lower()
            if "redirect" in lowered or "callback" in lowered:
                raise KoreFlowError(
                    f"The bridge does not accept the callback {request.redirect_uri} ({reason}).",
                    fix="Put Kore's Callback URL, exactly as the profile shows it, into "
                    "PLAID_REDIRECT_URI (or KORE_CALLBACK_URLS) in .env, add it to Plaid's "
                    "Allowed redirect URIs, and restart the bridge.",
                    step=STEP_CALLBACK,
                )
            if "client" in lowered:
                raise KoreFlowError(
                    f"The bridge does not know the Client ID the profile sends ({reason}).",
                    fix="The profile's Client ID must be PLAID_CLIENT_ID from .env.",
                    step="4.iii",
                )
        if response.status_code == 404:
            raise KoreFlowError(
                f"{self.base_url}/ answered 404: the Authorization URL is not the bridge.",
                fix="Set the Authorization URL to the bridge's public URL (step 5).",
                step="5",
            )
        raise KoreFlowError(
            f"The Authorization URL answered HTTP {response.status_code}: {reason}",
            fix="Read the bridge's log (`kore-plaid status` shows where); it usually names a "
            "Plaid setting in .env (keys, PLAID_ENV, PLAID_PRODUCTS).",
            step=STEP_BRIDGE,
        )

    # 3. The user in Link, played with /sandbox/public_token/create.

    def _require_emulator(self) -> None:
        if self.settings.embedded and not self.settings.plaid_api_url:
            raise KoreFlowError(
                "Embedded mode (demo keys), but PLAID_API_URL does not point at the Plaid "
                "emulator: real Plaid refuses the demo keys.",
                fix="Start the emulator (notebook 03_bridge, or `kore-plaid sandbox`) and set "
                "PLAID_API_URL to its URL in .env, or put your own Plaid keys in .env.",
                step="4.x",
            )

    def create_public_token(
        self, institution_id: str = SANDBOX_INSTITUTION, webhook: str | None = None
    ) -> str:
        """A sandbox public token for ``institution_id`` (user_good), via plaid-python; the
        Item gets ``webhook`` as an Item made through Link gets its link token's."""
        self._require_emulator()
        if self.settings.plaid_env != "sandbox" and not self.settings.plaid_api_url:
            raise StepSkipped(
                "Outside the sandbox nobody can stand in for the user in Link.",
                fix="Authorize once in Kore and watch for its token call (live check).",
            )
        unknown = [p for p in self.settings.plaid_products if p not in product_names()]
        if unknown:
            raise KoreFlowError(
                f"PLAID_PRODUCTS names unknown Plaid products: {', '.join(unknown)}.",
                fix="Use PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities.",
                step=STEP_PRODUCTS,
            )
        client = plaid_client.create(self.settings)
        request = SandboxPublicTokenCreateRequest(
            institution_id=institution_id,
            initial_products=[Products(p) for p in self.settings.plaid_products],
        )
        if webhook:
            request.options = SandboxPublicTokenCreateRequestOptions(webhook=webhook)
        try:
            response = client.sandbox_public_token_create(request)
        except Exception as exc:  # noqa: BLE001 - plaid-python or transport failure
            error = plaid_client.error_from_exception(exc)
            raise _plaid_error(error.error_code, str(error), "the Link stand-in") from None
        return str(response["public_token"])

    def link_token_webhook(self, session: LinkSession) -> str | None:
        """The ``webhook`` the bridge named in the session's Link token (``/link/token/get``):
        Plaid sends the Item's webhooks there. None when Plaid cannot tell."""
        try:
            answer = plaid_client.link_token_get(plaid_client.create(self.settings),
                                                 session.link_token, timeout=10)  # fmt: skip
        except Exception:  # noqa: BLE001 - no webhook then; the authorization goes on
            return None
        webhook = (answer.get("metadata") or {}).get("webhook")
        return str(webhook) if webhook else None

    def complete_link(self, session: LinkSession, public_token: str) -> LinkResult:
        """POST the public token to ``/api/set_access_token`` as the page does."""
        try:
            response = self.http.post(
                self.base_url + "/api/set_access_token",
                json={"session": session.session, "public_token": public_token},
            )
        except httpx.HTTPError as exc:
            raise self._bridge_down(exc) from None
        if response.status_code != 200:
            reason = _error_text(response)
            explained = _bridge_explained(response, "exchanging the public token")
            if explained is not None:
                raise explained
            raise KoreFlowError(
                f"The bridge refused the public token: HTTP {response.status_code}: {reason}",
                fix="Read the bridge's log; check its Plaid keys in .env.",
                step=STEP_BRIDGE,
            )
        try:
            return LinkResult(str(response.json()["redirect_to"]))
        except (ValueError, KeyError, TypeError):
            raise KoreFlowError(
                "The bridge accepted the public token but gave no redirect_to.",
                fix="Update the bridge (issue 3 contract).",
                step=STEP_BRIDGE,
            ) from None

    # 4. The redirect back to Kore.

    def follow_redirect(self, link: LinkResult, request: AuthorizationRequest) -> CallbackResult:
        """GET ``redirect_to`` on the loopback callback server; check code and state."""
        if not link.redirect_to.startswith(request.redirect_uri + "?"):
            raise KoreFlowError(
                f"The bridge redirects to {link.redirect_to.split('?')[0]}, not to the "
                f"callback in the request ({request.redirect_uri}).",
                fix="The bridge must send the user back to Kore's Callback URL exactly.",
                step=STEP_CALLBACK,
            )
        self.start_callback_server()
        try:
            response = self.http.get(link.redirect_to)
        except httpx.HTTPError as exc:
            raise KoreFlowError(
                f"The callback {request.redirect_uri} could not be reached ({exc}).",
                fix="Another program may hold KORE_SIMULATOR_PORT; pick a free one.",
                step=STEP_CALLBACK,
            ) from None
        received = self.receiver.pop(request.state)
        if response.status_code != 200 or received is None:
            raise KoreFlowError(
                "The redirect reached the callback without the state Kore sent: Kore would "
                "refuse it.",
                fix="The bridge must echo the state unchanged (RFC 6749 4.1.2).",
                step=STEP_BRIDGE,
            )
        if "error" in received:
            raise KoreFlowError(
                f"The callback received error={received['error']}.",
                fix="Read the bridge's log.",
                step=STEP_BRIDGE,
            )
        if not received.get("code"):
            raise KoreFlowError(
                "The callback received no code.",
                fix="The bridge must redirect with ?code=...&state=...",
                step=STEP_BRIDGE,
            )
        return CallbackResult(received["code"], True, request.redirect_uri)

    def authorize(
        self, use_pkce: bool | None = None, institution_id: str = SANDBOX_INSTITUTION
    ) -> tuple[AuthorizationRequest, str]:
        """The whole authorization leg: request, Link, redirect. Returns (request, code)."""
        request = self.authorization_request(use_pkce=use_pkce)
        session = self.get_link_token(request)
        webhook = self.link_token_webhook(session)
        link = self.complete_link(session, self.create_public_token(institution_id, webhook))
        return request, self.follow_redirect(link, request).code

    # 5. The Token Request URL and the Refresh Token URL.

    def exchange_code_form_basic(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code`` as a form, client credentials in HTTP Basic."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
        }
        if request.code_verifier:
            data["code_verifier"] = request.code_verifier
        return self._token_call(
            "form + Basic", data=data, auth=(self.client_id, self.client_secret)
        )

    def exchange_code_json(
        self, code: str, request: AuthorizationRequest | None = None
    ) -> TokenResult:
        """Kore's sample: a JSON body with ``code`` and no grant_type (credentials in it)."""
        body: dict[str, str] = {
            "code": code,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if request is not None and request.code_verifier:
            body["code_verifier"] = request.code_verifier
        return self._token_call("JSON {code}", json=body)

    def refresh(self, refresh_token: str) -> TokenResult:
        """``grant_type=refresh_token`` at the Refresh Token URL (form + Basic)."""
        return self._token_call(
            "refresh",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(self.client_id, self.client_secret),
        )

    def _token_call(self, style: str, **kwargs: Any) -> TokenResult:
        try:
            response = self.http.post(self.token_url, **kwargs)
        except httpx.HTTPError as exc:
            raise KoreFlowError(
                f"Nothing answers at the Token Request URL {self.token_url} "
                f"({type(exc).__name__}).",
                fix="Start the bridge; Token Request URL = Refresh Token URL = "
                "<public URL>/api/send_the_access_token_AUTH.",
                step=f"{STEP_TOKEN_URL} / {STEP_BRIDGE}",
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 401 or body.get("error") == "invalid_client":
            raise KoreFlowError(
                f"The Token Request URL refused the client credentials ({style}): "
                "invalid_client. Kore's Client ID / Client Secret do not match the bridge's "
                "PLAID_CLIENT_ID / PLAID_SECRET.",
                fix="Copy the client_id and the secret of the PLAID_ENV environment from "
                "dashboard.plaid.com > Developers > Keys into both .env and the profile.",
                step=STEP_SECRET,
            )
        if response.status_code == 404:
            raise KoreFlowError(
                f"{self.token_url} answered 404.",
                fix="Token Request URL and Refresh Token URL end in "
                "/api/send_the_access_token_AUTH.",
                step=STEP_TOKEN_URL,
            )
        if response.status_code != 200 or not body.get("access_token"):
            error = body.get("error") or f"HTTP {response.status_code}"
            description = body.get("error_description") or ""
            step = STEP_CALLBACK if "redirect" in str(description).lower() else STEP_TOKEN_URL
            raise KoreFlowError(
                f"The Token Request URL answered {error} ({style}). {description}".strip(),
                fix="Check the Token Request URL / Refresh Token URL and the callback.",
                step=step,
            )
        cache_control = response.headers.get("cache-control", "")
        if "no-store" not in cache_control:
            raise KoreFlowError(
                "The token response lacks Cache-Control: no-store (RFC 6749 5.1).",
                fix="Update the bridge.",
                step=STEP_BRIDGE,
            )
        return TokenResult(
            style=style,
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            token_type=str(body.get("token_type", "")),
            status=response.status_code,
            cache_control=cache_control,
            close_window=body.get("closeWindow"),
        )

    # 6. Plaid, as Kore's actions call it.

    def plaid_base_url(self, access_token: str | None = None) -> str:
        """``https://{tenant}.plaid.com`` with the tenant substituted (the emulator when
        PLAID_API_URL is set). Raises when the tenant cannot serve this token."""
        self._require_emulator()
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
        headers = {"PLAID-CLIENT-ID": self.client_id, "PLAID-SECRET": self.client_secret}
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
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            code = str(body.get("error_code") or f"HTTP {response.status_code}")
            message = str(body.get("error_message") or _error_text(response))
            raise _plaid_error(code, f"{code}: {message}", f"Kore's {action.name} call", action)
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


def product_names() -> frozenset[str]:
    return frozenset(Products.allowed_values[("value",)].values())


RATE_LIMIT_CODES = frozenset(
    {
        "RATE_LIMIT",
        "ACCOUNTS_LIMIT",
        "AUTH_LIMIT",
        "BALANCE_LIMIT",
        "IDENTITY_LIMIT",
        "ITEM_GET_LIMIT",
        "TRANSACTIONS_LIMIT",
        "INVESTMENTS_LIMIT",
        "LIABILITIES_LIMIT",
    }
)
PLAID_OUTAGE_CODES = frozenset(
    {
        "INTERNAL_SERVER_ERROR",
        "PLANNED_MAINTENANCE",
        "INSTITUTION_DOWN",
        "INSTITUTION_NOT_RESPONDING",
    }
)


def _plaid_error(
    code: str, detail: str, where: str, action: PlaidAction | None = None
) -> KoreFlowError:
    """Map a Plaid error code to the procedure step that most likely caused it."""
    if code == "INVALID_API_KEYS":
        return KoreFlowError(
            f"Plaid refused the client id / secret in {where} ({detail}).",
            fix="Copy the client_id and the secret of the PLAID_ENV environment from "
            "dashboard.plaid.com > Developers > Keys into .env, the profile's Client "
            "ID / Client Secret and the PLAID-CLIENT-ID / PLAID-SECRET headers.",
            step=STEP_SECRET,
        )
    if code in PRODUCT_ERRORS or (action is not None and code == "PRODUCT_NOT_READY"):
        product = action.product if action is not None else None
        return KoreFlowError(
            f"{where} failed with {detail}"
            + (f": the Item was linked without '{product}'." if product else "."),
            fix="Set PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities in "
            ".env, restart the bridge and authorize again.",
            step=STEP_PRODUCTS,
        )
    if code == "INVALID_ACCESS_TOKEN":
        return KoreFlowError(
            f"Plaid refused the access token in {where} ({detail}).",
            fix="Authorization field: payload | access_token | {{accessToken}} (step 8), "
            "and the tenant must be the token's environment (step 6).",
            step=f"{STEP_PAYLOAD} / {STEP_TENANT}",
        )
    if code == "MISSING_FIELDS":
        return KoreFlowError(
            f"Plaid says a field is missing in {where} ({detail}).",
            fix="Authorization fields: payload access_token = {{accessToken}}; headers "
            "PLAID-CLIENT-ID and PLAID-SECRET.",
            step=f"{STEP_PAYLOAD} / {STEP_HEADERS}",
        )
    if code == "ITEM_LOGIN_REQUIRED":
        return KoreFlowError(
            f"{where} failed: the bank login expired ({detail}).",
            fix="The user must authorize again (Kore: Authorize; end users get a new link).",
            step="10-12",
        )
    if code in RATE_LIMIT_CODES or code.startswith("HTTP 429"):
        return KoreFlowError(
            f"{where} was rate-limited by Plaid ({detail}).",
            fix="Wait a minute and run the check again; nothing is misconfigured.",
        )
    if code in PLAID_OUTAGE_CODES or code.startswith("HTTP 5"):
        return KoreFlowError(
            f"{where} failed on Plaid's side ({detail}).",
            fix="Plaid (or the emulator) had an internal error: run the check again; "
            "https://status.plaid.com says whether Plaid is down.",
        )
    return KoreFlowError(
        f"{where} failed: {detail}",
        fix="Read the message; the bridge's log may say more.",
        step=STEP_BRIDGE if action is None else f"{STEP_TENANT} / {STEP_PAYLOAD} / {STEP_HEADERS}",
    )


@contextlib.contextmanager
def simulator(settings: Settings, base_url: str, **kwargs: Any) -> Iterator[KoreSimulator]:
    """``with simulator(settings, url) as sim:`` - closes the callback server afterwards."""
    sim = KoreSimulator(settings, base_url, **kwargs)
    try:
        yield sim
    finally:
        sim.close()
