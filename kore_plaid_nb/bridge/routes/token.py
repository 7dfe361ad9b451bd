"""The token endpoint (``POST /api/send_the_access_token_AUTH``, alias ``/oauth/token``):
:meth:`..oauth.BridgeOAuth.token_response`. The only route whose errors are RFC 6749's
(``error`` / ``error_description``), its 503 included."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http import parse_params, read_body, store_unavailable_refusal
from ..refusal import Refused
from ..store import StoreUnavailable
from .context import BridgeContext

TOKEN_PATHS = ("/api/send_the_access_token_AUTH", "/oauth/token")


async def token(ctx: BridgeContext, request: Request) -> Response:
    authorization = request.headers.get("authorization")
    try:
        body = await read_body(request)
        params = parse_params(body, request.headers.get("content-type", ""))
    except Refused as refused:
        return refused.refusal.oauth_json()
    try:
        if ctx.inline_refresh and ("grant_type", "refresh_token") in params:
            answer = ctx.oauth.token_response(params, authorization)  # why: ctx.inline_refresh
        else:
            answer = await run_in_threadpool(ctx.oauth.token_response, params, authorization)
    except StoreUnavailable as exc:
        return store_unavailable_refusal(exc).oauth_json()
    return JSONResponse(answer.body, answer.status, headers=answer.headers)


def token_routes(ctx: BridgeContext) -> list[Route]:
    endpoint = partial(token, ctx)
    return [Route(path, endpoint, methods=["POST"]) for path in TOKEN_PATHS]
