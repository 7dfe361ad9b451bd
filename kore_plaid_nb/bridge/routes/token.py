"""The token endpoint (``POST /api/send_the_access_token_AUTH``, alias ``/oauth/token``):
:meth:`..oauth.BridgeOAuth.token_response`. The only route whose errors are RFC 6749's
(``error`` / ``error_description``), its 503 included. Every request records its shape,
whatever its answer (:mod:`.recording`), and is counted and timed, a 500 included
(:mod:`..metrics.recording`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..deferred_audit import AuditWrite, holding_audits, write_held
from ..http import parse_params, read_body, store_unavailable_refusal
from ..metrics import recording as metrics
from ..metrics.catalog import OTHER
from ..oauth import TokenResponse
from ..refusal import Refused
from ..store import StoreUnavailable
from . import recording
from .context import BridgeContext
from .store_steps import on_the_loop

TOKEN_PATHS = ("/api/send_the_access_token_AUTH", "/oauth/token")
# A refresh behind a SQLite write lock another program holds: 503 after this, not 30 s.
REFRESH_WAIT_SECONDS = 3.0
JSON_TYPE = "application/json"


def answer_and_record(
    ctx: BridgeContext,
    params: Sequence[tuple[str, str]],
    authorizations: Sequence[str],
    seen: recording.SeenRequest,
) -> TokenResponse:
    """The answer to a token request (``authorizations``: every Authorization header); its
    shape recorded with the answer's status."""
    answer = ctx.oauth.token_response(params, authorizations)
    recording.record(seen, answer.status)
    return answer


def held_answer(
    ctx: BridgeContext,
    params: Sequence[tuple[str, str]],
    authorizations: Sequence[str],
    seen: recording.SeenRequest,
) -> tuple[TokenResponse, list[AuditWrite]]:
    """:func:`answer_and_record`, and the writes it holds back (audit records, a replayed
    code's revocation and Plaid's ``/item/remove``, a failed request's refresh token revoked:
    for the thread pool, no wait nor network call on the event loop)."""
    with holding_audits() as held:
        return answer_and_record(ctx, params, authorizations, seen), held


async def inline_answer(
    ctx: BridgeContext,
    params: Sequence[tuple[str, str]],
    authorizations: Sequence[str],
    seen: recording.SeenRequest,
) -> tuple[TokenResponse, list[AuditWrite]] | None:
    """A SQLite token request on the event loop (:attr:`.BridgeContext.inline_refresh`),
    never waiting there for a lock (:func:`.store_steps.on_the_loop`): :func:`held_answer`;
    None when a lock stays held, always before anything was changed (the thread pool then
    answers)."""
    try:
        return await on_the_loop(ctx, held_answer, ctx, params, authorizations, seen)
    except StoreUnavailable:
        return None


def answered(
    ctx: BridgeContext,
    params: Sequence[tuple[str, str]],
    authorizations: Sequence[str],
    seen: recording.SeenRequest,
    wait: float | None,
) -> TokenResponse:
    """:func:`answer_and_record` in the thread pool; a SQLite lock waited for at most
    ``wait`` seconds (None: the store's own timeout)."""
    if wait is None:
        return answer_and_record(ctx, params, authorizations, seen)
    with holding_audits() as held:  # its audit writes wait the store's own time
        try:
            with ctx.store.waiting_at_most(wait):
                return answer_and_record(ctx, params, authorizations, seen)
        finally:  # a 503 (a wrong key) keeps its record
            write_held(held)


async def token(ctx: BridgeContext, request: Request) -> Response:
    started = time.perf_counter()
    authorization = request.headers.getlist("authorization")
    try:
        body = await read_body(request)
        params = parse_params(body, request.headers.get("content-type", ""))
    except Refused as refused:  # a body not read or not parsed: no parameter to describe
        unread = recording.seen_request(ctx, request, "token", (), authorization)
        recording.record(unread, refused.refusal.status)
        metrics.token_request(OTHER, refused.refusal.status, refused.refusal.error, started)
        return refused.refusal.oauth_json()
    grant_type = metrics.token_grant_type(params)
    try:
        return await answer_token(ctx, request, params, authorization, grant_type, started)
    except Exception:  # a bug: the app's handler answers 500; counted here first
        metrics.token_request(grant_type, 500, "server_error", started)
        raise


async def answer_token(
    ctx: BridgeContext,
    request: Request,
    params: Sequence[tuple[str, str]],
    authorization: list[str],
    grant_type: str,
    started: float,
) -> Response:
    """The answer to a token request whose parameters were read, counted and timed."""
    seen = recording.seen_request(ctx, request, "token", params, authorization)
    refresh = ("grant_type", "refresh_token") in params
    try:
        inline = None
        if ctx.inline_refresh:
            inline = await inline_answer(ctx, params, authorization, seen)
        if inline is not None:
            answer, held = inline
            if held:
                await run_in_threadpool(write_held, held)
        else:
            wait = REFRESH_WAIT_SECONDS if refresh else None
            answer = await run_in_threadpool(answered, ctx, params, authorization, seen, wait)
    except StoreUnavailable as exc:
        refusal = store_unavailable_refusal(exc)
        response = recording.recorded(refusal.oauth_json(), seen)
        metrics.token_request(grant_type, refusal.status, refusal.error, started)
        return response
    metrics.token_request(grant_type, answer.status, answer.body.get("error"), started)
    return token_json(answer)


def token_json(answer: TokenResponse) -> Response:
    """``answer`` as JSON: oauthlib's own text when it made it, else encoded here."""
    if answer.encoded is not None:
        return Response(answer.encoded, answer.status, answer.headers, JSON_TYPE)
    return JSONResponse(answer.body, answer.status, headers=answer.headers)


def token_routes(ctx: BridgeContext) -> list[Route]:
    endpoint = partial(token, ctx)
    return [Route(path, endpoint, methods=["POST"]) for path in TOKEN_PATHS]
