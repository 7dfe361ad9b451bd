"""The bridge's live ngrok tunnel is opened with request inspection off (issue 23, 3.6): the
agent's inspector on 127.0.0.1:4040 would otherwise keep every token request (the Basic
header with the Plaid secret, codes, tokens). No agent, no network: pyngrok's call to the
agent's API is caught where it leaves pyngrok."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyngrok import ngrok

from kore_plaid_nb.settings import load
from kore_plaid_nb.tunnel import agent

AGENT_API = "http://127.0.0.1:4040"


@pytest.fixture
def agent_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What pyngrok posts to the agent's API (a fake agent answers it)."""
    sent: list[dict[str, Any]] = []

    def api_request(url: str, method: str = "GET", data: Any = None, **_: Any) -> dict[str, Any]:
        sent.append({"url": url, "method": method, "data": data})
        return {"name": data["name"], "url": "https://kore-plaid.example.ngrok.app"}

    monkeypatch.setattr(
        ngrok, "get_ngrok_process", lambda config: SimpleNamespace(api_url=AGENT_API)
    )
    monkeypatch.setattr(ngrok, "api_request", api_request)
    return sent


@pytest.mark.parametrize("domain", [None, "kore-plaid.example.ngrok.app"])
def test_the_live_tunnel_is_opened_with_inspection_off(
    home: Path, agent_requests: list[dict[str, Any]], domain: str | None
) -> None:
    values = {
        **os.environ,
        "PLAID_CLIENT_ID": "live0client0id000000000",
        "PLAID_SECRET": "live0secret000000000000000000",
        "NGROK_AUTHTOKEN": "2live0authtoken0000000000000_0000000000000000000",
    }
    if domain:
        values["NGROK_DOMAIN"] = domain
    settings = load(values)
    assert not settings.embedded

    tunnel = agent.connect(settings, 8123)

    assert tunnel.public_url == "https://kore-plaid.example.ngrok.app"
    [request] = agent_requests
    assert request["method"] == "POST"
    assert request["url"].startswith(AGENT_API + "/api/")
    body = request["data"]
    assert body["inspect"] is False  # the agent API's "inspect": false
    assert body["upstream"] == {"url": "http://127.0.0.1:8123"}
    if domain:
        assert body["url"] == f"https://{domain}"
