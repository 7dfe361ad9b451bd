"""Quick checks of a running bridge, for notebook 03: health, the Authorization URL as Kore
opens it, and the refusals that keep it safe."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from ..errors import RunbookError
from ..settings import Settings
from ..tls import client_context

TOKEN_PATH = "/api/send_the_access_token_AUTH"  # noqa: S105 - a URL path  # nosec B105


def bridge_checks(settings: Settings, url: str) -> list[tuple[str, str]]:
    """Rows of (check, result); raises :class:`RunbookError` on the first failure."""
    rows: list[tuple[str, str]] = []
    with httpx.Client(
        base_url=url, timeout=15, follow_redirects=False, verify=client_context()
    ) as http:
        health = http.get("/healthz")
        _expect(health.status_code == 200, "GET /healthz", health)
        rows.append(("GET /healthz", "ok"))

        query = {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": settings.plaid_redirect_uri,
            "state": "runbook-check",
        }
        start = http.get("/?" + urlencode(query), headers={"Accept": "application/json"})
        link_token = start.json().get("link_token", "") if start.status_code == 200 else ""
        _expect(str(link_token).startswith("link-"), "Authorization URL", start)
        rows.append(("Authorization URL opens a Plaid Link session", "ok"))

        query["redirect_uri"] = "https://attacker.example/callback"
        foreign = http.get("/?" + urlencode(query))
        _expect(foreign.status_code == 400, "unregistered callback refused", foreign)
        rows.append(("an unregistered callback gets a 400 page, no redirect", "ok"))

        anonymous = http.post(TOKEN_PATH, data={"grant_type": "authorization_code", "code": "x"})
        refused = anonymous.status_code == 401 and anonymous.json().get("error") == "invalid_client"
        _expect(refused, "token request without client credentials", anonymous)
        rows.append(("a token request without client credentials gets 401", "ok"))
    return rows


def _expect(ok: bool, what: str, response: httpx.Response) -> None:
    if not ok:
        raise RunbookError(
            f"Bridge check failed: {what} answered HTTP {response.status_code}.",
            fix="Read the bridge's log (`kore-plaid status` shows where) and restart it "
            "(`kore-plaid stop bridge`, then this notebook again).",
            step="4.vii-x",
        )
