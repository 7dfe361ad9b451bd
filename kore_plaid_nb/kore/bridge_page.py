"""The bridge's Authorization URL as the user's browser drives it: ``/healthz``, the Link
session (``Accept: application/json``), then the public token to ``/api/set_access_token``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from ..settings import mask
from .diagnosis import bridge_explained, error_text
from .link_user import SANDBOX_INSTITUTION
from .oauth_client import AuthorizationRequest
from .procedure import STEP_BRIDGE, STEP_CALLBACK, KoreFlowError


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


class BridgePage:
    """The calls the bridge's page makes, against the bridge at ``base_url``."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url
        self.http = http

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
        raise self._refused(response, request)

    def _refused(self, response: httpx.Response, request: AuthorizationRequest) -> KoreFlowError:
        """Why the Authorization URL did not answer with a Link session."""
        reason = error_text(response)
        explained = bridge_explained(response, "creating the Link token")
        if explained is not None:
            return explained
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("location", "")
            error = parse_qs(urlsplit(location).query).get("error", ["?"])[0]
            return KoreFlowError(
                f"The bridge refused the authorization request and redirected with error={error}.",
                fix="Read the bridge's log (`kore-plaid status`); its Plaid keys and "
                "PLAID_PRODUCTS come from .env (step 4.x).",
                step="4.x",
            )
        lowered = reason.lower()
        if response.status_code == 400 and ("redirect" in lowered or "callback" in lowered):
            return KoreFlowError(
                f"The bridge does not accept the callback {request.redirect_uri} ({reason}).",
                fix="Put Kore's Callback Link, exactly as the profile shows it, into "
                "PLAID_REDIRECT_URI (or KORE_CALLBACK_URLS) in .env, add it to Plaid's "
                "Allowed redirect URIs, and restart the bridge.",
                step=STEP_CALLBACK,
            )
        if response.status_code == 400 and "client" in lowered:
            return KoreFlowError(
                f"The bridge does not know the Client ID the profile sends ({reason}).",
                fix="The profile's Client ID must be PLAID_CLIENT_ID from .env.",
                step="4.iii",
            )
        if response.status_code == 404:
            return KoreFlowError(
                f"{self.base_url}/ answered 404: the Authorization URL is not the bridge.",
                fix="Set the Authorization URL to the bridge's public URL (step 5).",
                step="5",
            )
        return KoreFlowError(
            f"The Authorization URL answered HTTP {response.status_code}: {reason}",
            fix="Read the bridge's log (`kore-plaid status` shows where); it usually names a "
            "Plaid setting in .env (keys, PLAID_ENV, PLAID_PRODUCTS).",
            step=STEP_BRIDGE,
        )

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
            reason = error_text(response)
            explained = bridge_explained(response, "exchanging the public token")
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
