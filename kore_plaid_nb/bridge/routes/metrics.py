"""``GET /metrics`` on the main port, for a Prometheus that can only reach the bridge there:
served only when ``BRIDGE_METRICS_TOKEN`` is set (else 404, as for any unknown path), and
answered only to ``Authorization: Bearer <that token>`` (else 401). The metrics listener
(``BRIDGE_METRICS_PORT``, :mod:`..metrics.listener`) needs no token."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...http_plumbing import bearer_token
from ..client_auth import equal_secrets
from ..http import NO_STORE
from ..metrics.exposition import CONTENT_TYPE, render
from ..refusal import Refusal
from .context import BridgeContext

REALM = 'Bearer realm="kore-plaid bridge metrics"'


def refused(token: str) -> Response:
    """401 with a Bearer challenge; ``token``: the one sent ("" for none)."""
    challenge = REALM + ', error="invalid_token"' if token else REALM
    return Refusal(
        401,
        "invalid_token" if token else "unauthorized",
        "This is not the bridge's metrics token."
        if token
        else "The bridge's metrics need its metrics token.",
        "Send Authorization: Bearer $BRIDGE_METRICS_TOKEN (Prometheus: the scrape job's "
        "authorization credentials), or scrape the metrics listener (BRIDGE_METRICS_PORT).",
        headers={"WWW-Authenticate": challenge},
    ).json()


async def metrics(ctx: BridgeContext, request: Request) -> Response:
    token = bearer_token(request)
    if not token or not equal_secrets(token, ctx.settings.bridge_metrics_token):
        return refused(token)
    body = await run_in_threadpool(render, ctx.metrics)  # the Items gauge may read the store
    return Response(body, headers=NO_STORE, media_type=CONTENT_TYPE)


def metrics_routes(ctx: BridgeContext) -> list[Route]:
    if not ctx.settings.bridge_metrics_token:
        return []
    return [Route("/metrics", partial(metrics, ctx), methods=["GET"])]
