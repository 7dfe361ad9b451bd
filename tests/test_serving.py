"""Proxy headers: ``X-Forwarded-*`` count only from the addresses the operator lists."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kore_plaid_nb import serving


async def whoami(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"scheme": request.url.scheme, "client": client})


APP = Starlette(routes=[Route("/", whoami)])
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        ((), {"scheme": "http", "client": "127.0.0.1"}),  # the default trusts no one
        (("10.1.2.3",), {"scheme": "http", "client": "127.0.0.1"}),  # another proxy's address
        (("127.0.0.1",), {"scheme": "https", "client": "203.0.113.9"}),
    ],
)
def test_forwarded_headers_count_only_from_listed_addresses(trusted, expected) -> None:
    with serving.serve_in_thread(APP, forwarded_allow_ips=trusted) as url:
        assert httpx.get(url + "/", headers=FORGED).json() == expected


def test_the_runbook_bridge_trusts_its_own_tunnel_agent_only(monkeypatch) -> None:
    from kore_plaid_nb import services, settings
    from kore_plaid_nb.bridge import ensure_bridge

    captured = {}
    monkeypatch.setattr(
        services, "ensure_running", lambda *args, **kwargs: captured.update(kwargs["env"])
    )
    ensure_bridge(settings.load())
    assert captured["FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5,10.0.0.6")
    ensure_bridge(settings.load())
    assert captured["FORWARDED_ALLOW_IPS"] == "10.0.0.5,10.0.0.6"
