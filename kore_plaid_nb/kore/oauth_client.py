"""Kore's OAuth 2.0 client: the authorization request (client_id, redirect_uri, a fresh state,
optionally PKCE), then the Token Request URL and the Refresh Token URL, called the ways Kore
calls them."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from ..plaid_errors import KEYS_ADVICE
from ..settings import mask
from .diagnosis import json_object
from .procedure import STEP_BRIDGE, STEP_CALLBACK, STEP_SECRET, STEP_TOKEN_URL, KoreFlowError
from .profile import TOKEN_PATH


@dataclass
class ClientCredentials:
    """The profile's Client ID and Client Secret (Kore's actions send them to Plaid too)."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str | None = field(default=None, repr=False)
    code_challenge: str | None = None


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
    """Kore's requests to the bridge's Authorization URL and Token Request URL."""

    def __init__(
        self,
        base_url: str,
        credentials: ClientCredentials,
        http: httpx.Client,
        callback: str,
        use_pkce: bool = True,
    ) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.http = http
        self.callback = callback
        self.use_pkce = use_pkce
        self.token_url = base_url + TOKEN_PATH

    def authorization_request(
        self, redirect_uri: str | None = None, use_pkce: bool | None = None
    ) -> AuthorizationRequest:
        """The URL Kore sends the user to: client_id, redirect_uri, fresh state, PKCE."""
        redirect_uri = redirect_uri or self.callback
        state = secrets.token_urlsafe(24)
        query = {
            "response_type": "code",
            "client_id": self.credentials.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        verifier = challenge = None
        if self.use_pkce if use_pkce is None else use_pkce:
            verifier, challenge = pkce_pair()
            query.update(code_challenge=challenge, code_challenge_method="S256")
        url = f"{self.base_url}/?{urlencode(query)}"
        return AuthorizationRequest(url, redirect_uri, state, verifier, challenge)

    def exchange_code_form_basic(self, request: AuthorizationRequest, code: str) -> TokenResult:
        """``grant_type=authorization_code`` as a form, client credentials in HTTP Basic."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
        }
        if request.code_verifier:
            data["code_verifier"] = request.code_verifier
        return self._token_call("form + Basic", data=data, auth=self._basic())

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
        return self._token_call("JSON {code}", json=body)

    def refresh(self, refresh_token: str) -> TokenResult:
        """``grant_type=refresh_token`` at the Refresh Token URL (form + Basic)."""
        return self._token_call(
            "refresh",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=self._basic(),
        )

    def _basic(self) -> tuple[str, str]:
        return self.credentials.client_id, self.credentials.client_secret

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


def _check_token_answer(
    response: httpx.Response, body: dict[str, Any], style: str, token_url: str
) -> None:
    """Raise :class:`KoreFlowError` when Kore would not accept this token answer."""
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
        raise KoreFlowError(
            f"The Token Request URL answered {error} ({style}). {description}".strip(),
            fix="Check the Token Request URL / Refresh Token URL and the callback.",
            step=step,
        )
    if "no-store" not in response.headers.get("cache-control", ""):
        raise KoreFlowError(
            "The token response lacks Cache-Control: no-store (RFC 6749 5.1).",
            fix="Update the bridge.",
            step=STEP_BRIDGE,
        )
