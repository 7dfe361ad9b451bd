"""Kore's OAuth 2.0 client: the authorization request, then the Token Request URL and the
Refresh Token URL, called the way a :class:`~.behaviour.KoreBehaviour` says.

No public source says how Kore sends the client credentials, which body it posts, or whether
it sends ``state`` or PKCE (``docs/kore-contract.md``), so each is a choice of the behaviour:
credentials in HTTP Basic, in the body, or both (RFC 6749 2.3.1); a form or a JSON body; a
fresh ``state`` or none (RFC 6749 4.1.1 recommends it; Kore's Plaid sample sends none);
PKCE S256 or none (RFC 7636). Kore's sample style (JSON ``{code}``, no grant_type) stays a
separate call, :meth:`KoreOAuthClient.exchange_code_json`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from ..plaid_errors import KEYS_ADVICE
from ..settings import mask
from .behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour
from .diagnosis import json_object
from .procedure import STEP_BRIDGE, STEP_CALLBACK, STEP_SECRET, STEP_TOKEN_URL, KoreFlowError
from .profile import TOKEN_PATH

CREDENTIALS_TEXT = {"basic": "Basic", "body": "body credentials", "both": "Basic + body"}


@dataclass
class ClientCredentials:
    """The profile's Client ID and Client Secret (Kore's actions send them to Plaid too)."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class AuthorizationRequest:
    """The URL Kore sends the user to, and what its callback and token call need later."""

    url: str
    redirect_uri: str
    state: str | None = field(repr=False)
    code_verifier: str | None = field(default=None, repr=False)
    code_challenge: str | None = None
    behaviour: KoreBehaviour = DEFAULT_BEHAVIOUR


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


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 code challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class KoreOAuthClient:
    """Kore's requests to the bridge's Authorization URL and Token Request URL.

    ``behaviour`` may change between authorizations (``kore-plaid verify --matrix``); a
    code is exchanged the way its authorization request was made.
    """

    def __init__(
        self,
        base_url: str,
        credentials: ClientCredentials,
        http: httpx.Client,
        callback: str,
        behaviour: KoreBehaviour = DEFAULT_BEHAVIOUR,
    ) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.http = http
        self.callback = callback
        self.behaviour = behaviour
        self.token_url = base_url + TOKEN_PATH

    @property
    def use_pkce(self) -> bool:
        return self.behaviour.pkce

    def authorization_request(
        self,
        redirect_uri: str | None = None,
        use_pkce: bool | None = None,
        profile_query: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """The URL Kore sends the user to: client_id, redirect_uri, then a fresh state and
        PKCE S256 when the behaviour (or ``use_pkce``) says so. ``profile_query``: a query
        typed into the profile's Authorization URL (``ui_locales=es``), which Kore keeps before
        its own parameters (an assumption: issue 27; not seen on the wire)."""
        behaviour = self.behaviour
        if use_pkce is not None:
            behaviour = replace(behaviour, pkce=use_pkce)
        redirect_uri = redirect_uri or self.callback
        query = {
            "response_type": "code",
            "client_id": self.credentials.client_id,
            "redirect_uri": redirect_uri,
        }
        state = secrets.token_urlsafe(24) if behaviour.state else None
        if state is not None:
            query["state"] = state
        verifier = challenge = None
        if behaviour.pkce:
            verifier, challenge = pkce_pair()
            query.update(code_challenge=challenge, code_challenge_method="S256")
        typed = f"{urlencode(profile_query)}&" if profile_query else ""
        url = f"{self.base_url}/?{typed}{urlencode(query)}"
        return AuthorizationRequest(url, redirect_uri, state, verifier, challenge, behaviour)

    def exchange_code(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code``, sent as ``request.behaviour`` says."""
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
        }
        if request.code_verifier:
            params["code_verifier"] = request.code_verifier
        return self._token_call(request.behaviour, params)

    def exchange_code_form_basic(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code`` as a form, client credentials in HTTP Basic."""
        return self.exchange_code(_as_default(request), code)

    def exchange_code_json(
        self, code: str, request: AuthorizationRequest | None = None
    ) -> TokenResult:
        """Kore's sample: a JSON body with ``code`` and no grant_type (credentials in it)."""
        body: dict[str, str] = {
            "code": code,
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        if request is not None and request.code_verifier:
            body["code_verifier"] = request.code_verifier
        return self._post("JSON {code}", json=body)

    def refresh(self, refresh_token: str) -> TokenResult:
        """``grant_type=refresh_token`` at the Refresh Token URL, sent as the behaviour says."""
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token_call(self.behaviour, params, refresh=True)

    def _token_call(
        self, behaviour: KoreBehaviour, params: dict[str, str], refresh: bool = False
    ) -> TokenResult:
        """POST ``params`` with the credentials and the body ``behaviour`` names."""
        kwargs: dict[str, Any] = {}
        if behaviour.credentials in ("basic", "both"):
            kwargs["auth"] = self._basic()
        if behaviour.credentials in ("body", "both"):
            params = {
                **params,
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
            }
        kwargs["json" if behaviour.body == "json" else "data"] = params
        style = token_style(behaviour)
        return self._post(f"refresh, {style}" if refresh else style, **kwargs)

    def _basic(self) -> tuple[str, str]:
        return self.credentials.client_id, self.credentials.client_secret

    def _post(self, style: str, **kwargs: Any) -> TokenResult:
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
        body = json_object(response)
        _check_token_answer(response, body, style, self.token_url)
        return TokenResult(
            style=style,
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            token_type=str(body.get("token_type", "")),
            status=response.status_code,
            cache_control=response.headers.get("cache-control", ""),
            close_window=body.get("closeWindow"),
        )


def token_style(behaviour: KoreBehaviour) -> str:
    """``form + Basic``, ``json + body credentials``, ``form + Basic + body``."""
    return f"{behaviour.body} + {CREDENTIALS_TEXT[behaviour.credentials]}"


def _as_default(request: AuthorizationRequest) -> AuthorizationRequest:
    """The same request, exchanged as a form with HTTP Basic."""
    return replace(request, behaviour=replace(request.behaviour, credentials="basic", body="form"))


def _check_token_answer(
    response: httpx.Response, body: dict[str, Any], style: str, token_url: str
) -> None:
    """Raise :class:`KoreFlowError` unless the answer is what a token call must get: 200
    with ``access_token`` (what Kore reads: Kore's Plaid sample) and ``Cache-Control:
    no-store`` (RFC 6749 5.1)."""
    if response.status_code == 401 or body.get("error") == "invalid_client":
        raise KoreFlowError(
            f"The Token Request URL refused the client credentials ({style}): "
            "invalid_client. Kore's Client ID / Client Secret do not match the bridge's "
            "PLAID_CLIENT_ID / PLAID_SECRET.",
            fix=f"{KEYS_ADVICE} into both .env and the profile.",
            step=STEP_SECRET,
        )
    if response.status_code == 404:
        raise KoreFlowError(
            f"{token_url} answered 404.",
            fix="Token Request URL and Refresh Token URL end in /api/send_the_access_token_AUTH.",
            step=STEP_TOKEN_URL,
        )
    if response.status_code != 200 or not body.get("access_token"):
        error = body.get("error") or f"HTTP {response.status_code}"
        description = body.get("error_description") or ""
        step = STEP_CALLBACK if "redirect" in str(description).lower() else STEP_TOKEN_URL
        fix = "Check the Token Request URL / Refresh Token URL and the callback."
        if error == "invalid_request" and step == STEP_TOKEN_URL:
            step = STEP_BRIDGE
            fix = (
                f"The bridge must accept a token request sent as {style} (docs/kore-contract.md): "
                "update the bridge, then read its log if it still refuses."
            )
        raise KoreFlowError(
            f"The Token Request URL answered {error} ({style}). {description}".strip(),
            fix=fix,
            step=step,
        )
    if "no-store" not in response.headers.get("cache-control", ""):
        raise KoreFlowError(
            "The token response lacks Cache-Control: no-store (RFC 6749 5.1).",
            fix="Update the bridge.",
            step=STEP_BRIDGE,
        )
