"""``GET /hosted-link/return?return_id=``: Plaid's Hosted Link sends the browser back here
(LINK_MODE=hosted, :mod:`..hosted_link`). The session's public token is exchanged once and the
browser goes on to Kore with the code; with ``access_denied`` when Plaid says the user left
without a bank; a self-reloading page while Plaid has not finished the session."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import i18n, page
from ..hosted_link import FINISHING_RELOAD_SECONDS, RETURN_PARAM, RETURN_PATH, session_id_for
from ..http import NO_STORE, Redirect, wants_json
from ..i18n.negotiation import negotiate
from ..metrics import recording as metrics
from ..oauth import AuthorizationRequest
from ..plaid_link import LinkStepError
from ..problems import CANNOT_FINISH, Problem
from ..refusal import Refusal
from ..store import HostedSession
from .authorize import complete, counted
from .context import BridgeContext


@dataclass(frozen=True)
class Finishing:
    """Plaid has not finished the session yet: the browser asks again at ``retry_url``."""

    retry_url: str


@dataclass(frozen=True)
class Finished:
    """Plaid's Hosted Link session made this public token: exchange it."""

    session_id: str
    public_token: str


async def finish_hosted(ctx: BridgeContext, return_id: str) -> Redirect | Finishing | Refusal:
    """Where the browser that came back from Hosted Link goes next: the session's result
    in the thread pool (the store, ``/link/token/get``), the exchange on the event loop."""
    result = await run_in_threadpool(hosted_result, ctx, return_id)
    if not isinstance(result, Finished):
        return result
    try:
        outcome = await complete(ctx, result.session_id, result.public_token)
    finally:
        await run_in_threadpool(ctx.store.forget_hosted_public_token, return_id)
    return _cannot_finish(outcome)


def hosted_result(ctx: BridgeContext, return_id: str) -> Finished | Redirect | Finishing | Refusal:
    """The Hosted Link session's public token, or where the browser goes without one."""
    session = ctx.store.find_hosted_session(return_id) if return_id else None
    if session is None:
        return Problem.SESSION_UNKNOWN.refusal()
    if session.expires_at <= ctx.store.clock():
        return Problem.SESSION_EXPIRED.refusal()
    if session.status == "completed":
        return Problem.SESSION_USED.refusal()
    try:
        result = ctx.hosted.result(session)
    except LinkStepError as exc:
        return exc.refusal
    session_id = session_id_for(return_id, session.salt)
    if result.denied:
        return _denied(ctx, session_id, session)
    if result.public_token is None:
        return Finishing(f"{RETURN_PATH}?{urlencode({RETURN_PARAM: return_id})}")
    return Finished(session_id, result.public_token)


def _denied(ctx: BridgeContext, session_id: str, session: HostedSession) -> Redirect | Refusal:
    """The user left Hosted Link without a bank: close the session (nothing completes it
    afterwards), then on to Kore with access_denied."""
    claim = ctx.store.claim_session(session_id)
    if claim.problem is not None:
        return Problem.of_session(claim.problem).refusal()
    ctx.store.close_claimed_session(session_id)
    metrics.authorization_failed("user_left", session_id)
    state = dict(parse_qsl(session.auth_query, keep_blank_values=True)).get("state")
    auth = AuthorizationRequest(session.client_id, session.redirect_uri, state, session.auth_query)
    return Redirect(ctx.oauth.denial_location(auth))


def _cannot_finish(outcome: Redirect | Refusal) -> Redirect | Refusal:
    """A completion's refusal as the return page tells it (no procedure step: the user at
    the bank is not running the procedure)."""
    if isinstance(outcome, Refusal):
        return outcome.with_title(CANNOT_FINISH).with_step(None)
    return outcome


def session_language(ctx: BridgeContext, return_id: str) -> str | None:
    """The language the session was started in (None: unknown session, or not recorded)."""
    session = ctx.store.find_hosted_session(return_id) if return_id else None
    return session.language if session is not None else None


async def hosted_return(ctx: BridgeContext, request: Request) -> Response:
    return_id = request.query_params.get(RETURN_PARAM, "")
    remembered = await run_in_threadpool(session_language, ctx, return_id)
    accept = request.headers.get("accept-language")
    i18n.choose(negotiate(request.query_params, accept, remembered=remembered))
    session_key = "hosted-return:" + return_id  # names one session, as its id does
    outcome = await counted(session_key, finish_hosted(ctx, return_id))
    if wants_json(request):
        return as_json(outcome)
    if isinstance(outcome, Refusal):
        return outcome.page()
    if isinstance(outcome, Finishing):
        return page.finishing_page(outcome.retry_url, FINISHING_RELOAD_SECONDS)
    return outcome.response()


def as_json(outcome: Redirect | Finishing | Refusal) -> Response:
    """The finishing page's own check (static/finishing.js, ``Accept: application/json``):
    202 while Plaid finishes, then where to go (``redirect_to``), as the authorization page's
    calls answer; the page then navigates instead of reloading itself."""
    if isinstance(outcome, Refusal):
        return outcome.json()
    if isinstance(outcome, Finishing):
        return JSONResponse({"finishing": True}, 202, headers=NO_STORE)
    return JSONResponse({"redirect_to": outcome.location}, headers=NO_STORE)


def hosted_return_routes(ctx: BridgeContext) -> list[Route]:
    return [Route(RETURN_PATH, partial(hosted_return, ctx), methods=["GET"])]
