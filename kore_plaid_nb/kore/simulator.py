"""A Kore simulator: an OAuth 2.0 client that plays Kore's platform against the bridge.

It does what Kore does with the profile from :mod:`.profile`: sends the user to the
Authorization URL with client_id and redirect_uri, receives the redirect on a loopback
callback server, calls the Token Request URL and the Refresh Token URL, and then calls Plaid
the way Kore's Plaid actions do: raw HTTP to
``https://{tenant}.plaid.com`` with ``access_token`` in the JSON payload and the
``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers. The user's part (Plaid Link) is played with
``/sandbox/public_token/create``, as Plaid's own tests do.

How it sends the credentials, which body, and whether it sends ``state`` and PKCE is a
:class:`~.behaviour.KoreBehaviour` (default: form, HTTP Basic, state, no PKCE). Every request
carries ``User-Agent: <user_agent>`` so the bridge's record of "what Kore sent" can tell the
runbook's own requests from Kore's.

:class:`KoreSimulator` is a façade over the parts: :mod:`.oauth_client`, :mod:`.bridge_page`,
:mod:`.link_user`, :mod:`.callback_server`, :mod:`.plaid_actions`, and :mod:`.diagnosis` for
what a failure means. Every method returns a small result object or raises
:class:`KoreFlowError`, whose ``step`` names the step of the documented procedure that is
most likely wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..bridge.request_shapes import VERIFY_USER_AGENT
from ..settings import Settings
from ..tls import client_context
from . import link_user
from .behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour
from .bridge_page import BridgePage, LinkResult, LinkSession
from .callback_server import CallbackReceiver, CallbackResult, CallbackServer
from .link_user import SANDBOX_INSTITUTION, product_names
from .oauth_client import (
    AuthorizationRequest,
    ClientCredentials,
    KoreOAuthClient,
    TokenResult,
    token_style,
)
from .plaid_actions import (
    KORE_ACTIONS,
    KorePlaidActions,
    PlaidAction,
    PlaidCallResult,
    plaid_actions,
    token_environment,
)
from .procedure import STEP_BRIDGE, STEP_PRODUCTS, KoreFlowError, StepSkipped

# What callers import through the façade.
__all__ = [
    "KORE_ACTIONS",
    "STEP_BRIDGE",
    "STEP_PRODUCTS",
    "AuthorizationRequest",
    "DEFAULT_BEHAVIOUR",
    "KoreBehaviour",
    "KoreFlowError",
    "KoreSimulator",
    "LinkResult",
    "PlaidAction",
    "StepSkipped",
    "TokenResult",
    "plaid_actions",
    "product_names",
    "simulator",
    "token_environment",
    "token_style",
]


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
        behaviour: KoreBehaviour = DEFAULT_BEHAVIOUR,
        timeout: float = 30.0,
        user_agent: str = VERIFY_USER_AGENT,
        *,
        use_pkce: bool | None = None,
    ) -> None:
        """``use_pkce`` overrides ``behaviour.pkce`` (for callers that only care about PKCE)."""
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.callback = callback or settings.simulator_callback
        # shared by the OAuth client and Kore's Plaid actions: a test may change them
        self.credentials = ClientCredentials(settings.client_id, settings.secret)
        self.http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            verify=client_context(),
        )
        if use_pkce is not None:
            behaviour = replace(behaviour, pkce=use_pkce)
        self.oauth = KoreOAuthClient(
            self.base_url, self.credentials, self.http, self.callback, behaviour
        )
        self.page = BridgePage(self.base_url, self.http)
        self.callback_server = CallbackServer(self.callback)
        tenant = tenant if tenant is not None else settings.plaid_env
        self.plaid = KorePlaidActions(settings, self.credentials, tenant, self.http)

    # The profile's values, as the parts see them.

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @client_id.setter
    def client_id(self, value: str) -> None:
        self.credentials.client_id = value

    @property
    def client_secret(self) -> str:
        return self.credentials.client_secret

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.credentials.client_secret = value

    @property
    def tenant(self) -> str:
        return self.plaid.tenant

    @property
    def behaviour(self) -> KoreBehaviour:
        """How this Kore calls the bridge; set it to play another (the next authorization
        and refresh follow it)."""
        return self.oauth.behaviour

    @behaviour.setter
    def behaviour(self, value: KoreBehaviour) -> None:
        self.oauth.behaviour = value

    @property
    def use_pkce(self) -> bool:
        return self.oauth.use_pkce

    @property
    def user_agent(self) -> str:
        return str(self.http.headers.get("user-agent", ""))

    @property
    def token_url(self) -> str:
        return self.oauth.token_url

    @property
    def receiver(self) -> CallbackReceiver:
        return self.callback_server.receiver

    # Lifecycle.

    def __enter__(self) -> KoreSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # The client hangs up first, so the callback port is not left in TIME_WAIT and the
        # next simulator can bind it at once.
        self.http.close()
        self.callback_server.close()

    def start_callback_server(self) -> str:
        """Serve the loopback callback (``/workflows/callback``); returns its base URL."""
        return self.callback_server.start()

    # 1. Authorization request.

    def authorization_request(
        self,
        redirect_uri: str | None = None,
        use_pkce: bool | None = None,
        profile_query: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """The URL Kore sends the user to: client_id, redirect_uri, and a fresh state and
        PKCE when the behaviour says so; after ``profile_query``, the query of the profile's
        Authorization URL (e.g. ``{"ui_locales": "es"}``)."""
        return self.oauth.authorization_request(redirect_uri, use_pkce, profile_query)

    def check_bridge_up(self) -> str:
        """GET /healthz on the bridge."""
        return self.page.check_bridge_up()

    # 2. The Authorization URL answers the link token.

    def get_link_token(self, request: AuthorizationRequest) -> LinkSession:
        """GET the Authorization URL with ``Accept: application/json``."""
        return self.page.get_link_token(request)

    # 3. The user in Link, played with /sandbox/public_token/create.

    def create_public_token(
        self, institution_id: str = SANDBOX_INSTITUTION, webhook: str | None = None
    ) -> str:
        """A sandbox public token for ``institution_id`` (user_good), via plaid-python."""
        return link_user.create_public_token(self.settings, institution_id, webhook)

    def link_token_webhook(self, session: LinkSession) -> str | None:
        """The ``webhook`` the bridge named in the session's Link token (None: unknown)."""
        return link_user.link_token_webhook(self.settings, session.link_token)

    def complete_link(self, session: LinkSession, public_token: str) -> LinkResult:
        """POST the public token to ``/api/set_access_token`` as the page does."""
        return self.page.complete_link(session, public_token)

    # 4. The redirect back to Kore.

    def follow_redirect(self, link: LinkResult, request: AuthorizationRequest) -> CallbackResult:
        """GET ``redirect_to`` on the loopback callback server; check code and state (none
        when the request sent none)."""
        return self.callback_server.receive(self.http, link, request)

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

    def exchange_code(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code``, with the credentials and body of the behaviour
        the request was made with."""
        return self.oauth.exchange_code(request, code)

    def exchange_code_form_basic(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code`` as a form, client credentials in HTTP Basic."""
        return self.oauth.exchange_code_form_basic(request, code)

    def exchange_code_json(
        self, code: str, request: AuthorizationRequest | None = None
    ) -> TokenResult:
        """Kore's sample: a JSON body with ``code`` and no grant_type (credentials in it)."""
        return self.oauth.exchange_code_json(code, request)

    def refresh(self, refresh_token: str) -> TokenResult:
        """``grant_type=refresh_token`` at the Refresh Token URL, as the behaviour says."""
        return self.oauth.refresh(refresh_token)

    # 6. Plaid, as Kore's actions call it.

    def plaid_base_url(self, access_token: str | None = None) -> str:
        """``https://{tenant}.plaid.com`` with the tenant substituted (the emulator when
        PLAID_API_URL is set). Raises when the tenant cannot serve this token."""
        return self.plaid.plaid_base_url(access_token)

    def call_plaid(self, action: PlaidAction, access_token: str) -> PlaidCallResult:
        """POST ``<base>/<path>`` with ``{"access_token": ...}`` and the two headers."""
        return self.plaid.call_plaid(action, access_token)


@contextlib.contextmanager
def simulator(settings: Settings, base_url: str, **kwargs: Any) -> Iterator[KoreSimulator]:
    """``with simulator(settings, url) as sim:`` - closes the callback server afterwards."""
    sim = KoreSimulator(settings, base_url, **kwargs)
    try:
        yield sim
    finally:
        sim.close()
