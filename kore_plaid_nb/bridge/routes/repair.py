"""Repair links: the Item's user logs in to the bank again (Plaid Link in update mode), and
Kore's access token works again; no new Item, no new code, nothing issued to Kore.

=========================================  ================================================
``GET /repair/{token}``                    the repair page (a read: the link stays unused,
                                           so a link preview cannot spend it)
``POST /repair/{token}/link_token``        ``{}`` -> ``{"link_token"}`` in update mode (the
                                           page asks right before it opens Link); at most
                                           :data:`LINK_TOKENS_PER_REPAIR_LINK` (then 429)
``POST /repair/{token}/done``              ``{"link_token"}`` -> ``{"repaired": true}``: Link
                                           succeeded; the link is spent, the Item is healthy
=========================================  ================================================

``done`` needs the Link token this link last handed out (the store keeps its digest; else
409), then asks Plaid whether an update-mode session on that token succeeded
(``/link/token/get``: a finished session with results, not an exit; Plaid reports no error
for PENDING_EXPIRATION / PENDING_DISCONNECT, so ``/item/get`` alone proves nothing) and
whether the Item still reports an error (``/item/get``): if not repaired, nothing is spent
(409) and the user may open Link again. A new repair link for an Item spends its older ones.
Spending the link and making the Item healthy is one store transaction. A link
that cannot be used gets a readable 4xx: a page for ``GET``, JSON for the page's calls. The
token never reaches a log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import i18n, page
from ..audit import AuditEvent, record_audit
from ..hosted_link import RESULT_ATTEMPTS, RESULT_INTERVAL_SECONDS, results_of
from ..http import NO_STORE, read_json_body, read_json_params
from ..i18n import N_
from ..i18n.negotiation import negotiate
from ..metrics import recording as metrics
from ..plaid_link import LinkStepError
from ..problems import LINK_TOKENS_PER_REPAIR_LINK, Problem
from ..refusal import Phrase, Refusal, Refused
from ..store import RepairClaim, StoreProblem
from .context import BridgeContext
from .plaid_urls import webhook_url

__all__ = ["repair_routes"]

log = logging.getLogger("kore_plaid_nb.bridge")
REPAIR_PREFIX = "/repair/"
CONFIRMING = Phrase(N_("confirming the bank login with Plaid"))
LOG_IN_AGAIN = N_("Press \u201cLog in to your bank again\u201d and finish the login in Plaid.")
NOT_THIS_LINK = Refusal(
    409,
    "not_repaired",
    N_(
        "This repair page did not open Plaid with the Link token it names, so nothing can be "
        "confirmed."
    ),
    LOG_IN_AGAIN,
)
NOT_LOGGED_IN = Refusal(
    409,
    "not_repaired",
    N_("Plaid shows no finished bank login for this repair link yet."),
    LOG_IN_AGAIN,
)
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,128}")  # secrets.token_urlsafe(32): 43 characters


def valid(ctx: BridgeContext, token: str) -> RepairClaim:
    """The Item of a usable link, or the problem (read only)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return RepairClaim(None, StoreProblem.UNKNOWN)
    return ctx.store.peek_repair_link(token)


async def refused_call(request: Request) -> Refusal | None:
    """None for a JSON request (the page's); else its 415 / 413 / 400. The body is read
    (within the limit), not parsed."""
    try:
        await read_json_body(request)
    except Refused as refused:
        return refused.refusal
    return None


async def show(ctx: BridgeContext, request: Request) -> Response:
    token = request.path_params["token"]
    claim = await run_in_threadpool(valid, ctx, token)
    # the URL's language, else the authorization's (the Item's), else the browser's
    remembered = claim.item.language if claim.item is not None else None
    accept = request.headers.get("accept-language")
    i18n.choose(negotiate(request.query_params, accept, remembered=remembered))
    if claim.problem is not None:
        return Problem.of_repair_link(claim.problem).refusal().page()
    return page.repair_page(ctx.settings, token)


def issue_link_token(
    ctx: BridgeContext,
    token: str,
    webhook: str | None,
    asked: Mapping[str, str] | None = None,
    accept_language: str | None = None,
) -> str | Refusal:
    """A Link token in update mode for the link's Item (counted before Plaid is asked), in
    the language ``asked`` in the query (the page sends its own), else the Item's, else
    ``accept_language``'s."""
    if not TOKEN_SHAPE.fullmatch(token):
        return Problem.REPAIR_UNKNOWN.refusal()
    claim = ctx.store.start_repair(token, LINK_TOKENS_PER_REPAIR_LINK)
    if claim.item is None:
        return Problem.of_repair_link(claim.problem).refusal()
    item = claim.item
    try:
        language = negotiate(asked or {}, accept_language, remembered=item.language)
        link_token = ctx.link.create_update_link_token(
            item.access_token, item.client_user_id, webhook=webhook, language=language
        )
    except LinkStepError as exc:
        return exc.refusal
    ctx.store.record_repair_link_token(token, link_token)
    return link_token


async def link_token(ctx: BridgeContext, request: Request) -> Response:
    refused = await refused_call(request)
    if refused is not None:
        return refused.json()
    token = request.path_params["token"]
    webhook = webhook_url(ctx.settings, request)
    asked, accept = dict(request.query_params), request.headers.get("accept-language")
    issued = await run_in_threadpool(issue_link_token, ctx, token, webhook, asked, accept)
    if isinstance(issued, Refusal):
        return issued.json()
    return JSONResponse({"link_token": issued}, headers=NO_STORE)


def update_succeeded(answer: dict[str, Any]) -> bool:
    """Whether a ``/link/token/get`` answer shows a Link session that succeeded: results
    (a public token, or ``on_success``), or finished with results and no exit."""
    public_token, _finished = results_of(answer)
    if public_token is not None:
        return True
    for session in answer.get("link_sessions") or []:
        if not isinstance(session, dict) or session.get("exit") or session.get("on_exit"):
            continue
        if session.get("finished_at") and (session.get("results") or session.get("on_success")):
            return True
    return False


def confirmed_by_plaid(ctx: BridgeContext, link_token: str) -> bool:
    """Plaid's ``/link/token/get`` shows the update-mode session succeeded (asked again
    shortly while Plaid shows none yet); :class:`LinkStepError` when Plaid cannot say."""
    for attempt in range(RESULT_ATTEMPTS):
        if attempt:
            time.sleep(RESULT_INTERVAL_SECONDS)
        if update_succeeded(ctx.link.link_token_get(link_token, CONFIRMING)):
            return True
    return False


def finish_repair(ctx: BridgeContext, token: str, link_token: str) -> Refusal | None:
    """Spend the link when Plaid shows the Link session on its token succeeded and no
    longer reports the Item's error; None when repaired."""
    peeked = valid(ctx, token)
    if peeked.item is None:
        return Problem.of_repair_link(peeked.problem).refusal()
    if peeked.link_tokens == 0:  # Link never ran: nothing can have been repaired
        return Problem.REPAIR_NOT_STARTED.refusal()
    if not link_token or not ctx.store.is_repair_link_token(token, link_token):
        return NOT_THIS_LINK
    try:
        if not confirmed_by_plaid(ctx, link_token):
            return NOT_LOGGED_IN
        still = ctx.link.item_error(peeked.item.access_token)
    except LinkStepError as exc:
        return exc.refusal
    if still is not None:
        return Refusal(
            409,
            "not_repaired",
            N_("Plaid still reports this bank connection as broken (%(code)s)."),
            LOG_IN_AGAIN,
            values={"code": still},
        )
    claim = ctx.store.complete_repair(token)  # single use: exactly one caller gets here
    if claim.item is None:
        return Problem.of_repair_link(claim.problem).refusal()
    log.info("item repaired through its repair link (the audit trail names it)")
    metrics.repair_link_used()
    record_audit(ctx.store, AuditEvent.ITEM_REPAIRED, claim.item.ref, "repair link")
    return None


async def done(ctx: BridgeContext, request: Request) -> Response:
    try:
        params = await read_json_params(request)
    except Refused as refused:
        return refused.refusal.json()
    token, link_token = request.path_params["token"], params.get("link_token") or ""
    refusal = await run_in_threadpool(finish_repair, ctx, token, link_token)
    if refusal is not None:
        return refusal.json()
    return JSONResponse({"repaired": True}, headers=NO_STORE)


def repair_routes(ctx: BridgeContext) -> list[Route]:
    return [
        Route(REPAIR_PREFIX + "{token}", partial(show, ctx), methods=["GET"]),
        Route(REPAIR_PREFIX + "{token}/link_token", partial(link_token, ctx), methods=["POST"]),
        Route(REPAIR_PREFIX + "{token}/done", partial(done, ctx), methods=["POST"]),
    ]
