"""The authorization: ``GET /`` starts a session (the page, JSON, or Hosted Link),
``POST /api/link_token`` gives the page its Link token (the Plaid call started when a browser
navigated to the page, :mod:`.link_token_ahead`, or its own), ``POST /api/set_access_token``
exchanges Link's public token once and mints the code, ``GET /oauth-return`` re-opens Link
for OAuth banks. Every ``GET /`` records its shape, whatever its answer (:mod:`.recording`);
sessions started, codes issued and failures are counted (:mod:`..metrics.recording`: a
failure once per session and reason, whatever the user's retries).

New sessions are rate limited per client address and overall (:mod:`..ratelimit`: 429 with
``Retry-After``); a session gets at most :data:`LINK_TOKENS_PER_SESSION` Link tokens. The
flows (:func:`start_session`, :func:`start_hosted`, :func:`issue_link_token`,
:func:`complete`) return what happened, a value or a :class:`..refusal.Refusal`, which the
endpoints render as JSON or as a page. Their Plaid calls run on the event loop
(:mod:`..plaid_async`), their store steps too for SQLite when no lock is held, else in the
thread pool (:mod:`.store_steps`).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from oauthlib.oauth2.rfc6749 import errors
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import i18n, page
from ..hosted_link import hosted_link_url, new_hosted_session
from ..http import NO_STORE, Redirect, read_json_params, store_unavailable, wants_json
from ..i18n import N_, cookie
from ..i18n.negotiation import negotiate
from ..metrics import recording as metrics
from ..oauth import (
    SESSION_TTL,
    AuthorizationRedirect,
    AuthorizationRequest,
    FatalClientError,
    OAuth2Error,
)
from ..plaid_link import LinkStepError
from ..problems import LINK_TOKENS_PER_SESSION, Problem
from ..public_url import public_base_url
from ..refusal import Refusal, Refused
from ..store import ItemRecord, SessionClaim, SessionRecord, StoreUnavailable
from . import recording
from .context import BridgeContext
from .link_token_ahead import LinkTokensAhead, is_browser_navigation
from .plaid_urls import OAUTH_RETURN_PATH, link_urls, webhook_url
from .store_steps import store_step

__all__ = [
    "LINK_TOKENS_PER_SESSION",
    "SESSION_TTL",
    "Started",
    "authorize_routes",
    "complete",
    "explain_fatal",
    "start_hosted",
    "start_session",
    "too_many_sessions",
]

T = TypeVar("T")
CANNOT_START = N_("Cannot start the authorization")
MISSING_SESSION = Refusal(
    400,
    "invalid_request",
    N_("The request needs 'session'."),
    N_("Let the authorization page send it (it does so before it opens Plaid Link)."),
)
MISSING_TOKEN = Refusal(
    400,
    "invalid_request",
    N_("The request needs both 'session' and 'public_token'."),
    N_("Let the authorization page send it (it does so when Plaid Link succeeds)."),
)


def explain_fatal(exc: FatalClientError) -> Refusal:
    """The answer to an authorization request that must not redirect (400)."""
    error, message, fix = _fatal_reason(exc)
    values = {"description": str(exc.description)}  # oauthlib's words: English
    return Refusal(400, error, message, fix, title=CANNOT_START, values=values)


def _fatal_reason(exc: FatalClientError) -> tuple[str, str, str]:
    if isinstance(exc, errors.InvalidClientIdError):
        return (
            "invalid_client",
            N_(
                "This authorization link was not made for this bridge: its client_id is not "
                "the Plaid client id configured here."
            ),
            N_(
                "In Kore's authorization profile, set Client ID to the PLAID_CLIENT_ID in the "
                "bridge's .env (procedure step 4.iii), save, and authorize again."
            ),
        )
    if isinstance(exc, errors.MissingClientIdError):
        return (
            "invalid_request",
            N_(
                "This page is the Authorization URL of Kore's authorization profile; it was "
                "opened without a client_id."
            ),
            N_(
                "Start the authorization from Kore (Authorize button, or the link in the "
                "conversation)."
            ),
        )
    if isinstance(exc, errors.MissingRedirectURIError):
        return (
            "invalid_request",
            N_("The authorization link names no callback URL, and the bridge accepts several."),
            N_(
                "Let Kore send redirect_uri, or keep a single callback in PLAID_REDIRECT_URI / "
                "KORE_CALLBACK_URLS."
            ),
        )
    if isinstance(exc, errors.MismatchingRedirectURIError | errors.InvalidRedirectURIError):
        return (
            "invalid_request",
            N_("The callback URL in this authorization link is not one the bridge accepts."),
            N_(
                "Set PLAID_REDIRECT_URI (or KORE_CALLBACK_URLS) in .env to the Callback Link "
                "shown in Kore's authorization profile, exactly as shown, then restart the "
                "bridge (procedure step 4.v-vi)."
            ),
        )
    return (
        "invalid_request",
        N_("The authorization request is not valid: %(description)s"),
        N_(
            "Start the authorization again from Kore; if it keeps failing, compare the profile "
            "with `kore-plaid profile`."
        ),
    )


def too_many_sessions(retry_after: int) -> Refusal:
    """The session limiter's refusal: retry after ``retry_after`` seconds."""
    return Refusal(
        429,
        "too_many_requests",
        N_(
            "Too many authorizations were started from this network (or on this bridge) in "
            "the last minute."
        ),
        N_("Wait %(seconds)s seconds, then start the authorization again from Kore."),
        headers={"Retry-After": str(retry_after)},
        title=N_("Please wait a moment"),
        values={"seconds": retry_after},
    )


@dataclass(frozen=True)
class Started:
    """A new session; ``link_token`` only for JSON callers (the page asks when it opens
    Link)."""

    auth: AuthorizationRequest
    session_id: str
    link_token: str | None


def admit(ctx: BridgeContext, query: str, address: str) -> AuthorizationRequest:
    """Validate the request and take a place in the limiter."""
    auth: AuthorizationRequest = ctx.oauth.validate_authorization(query)
    retry_after = ctx.limiter.acquire(address)
    if retry_after is not None:
        metrics.session_rate_limited()
        raise Refused(too_many_sessions(retry_after))
    return auth


def admitted(start: Callable[[], T]) -> T | Redirect | Refusal:
    """Run a session start; an invalid request, too many sessions or a Plaid failure becomes
    its answer."""
    try:
        return start()
    except (AuthorizationRedirect, FatalClientError, Refused) as exc:
        return _admission_answer(exc)


def status_of(outcome: Started | Redirect | Refusal) -> int:
    """The status the answer to an authorization request will have."""
    if isinstance(outcome, Refusal):
        return outcome.status
    if isinstance(outcome, Redirect):
        return outcome.status_code
    return 200


async def admitted_async(start: Callable[[], Awaitable[T]]) -> T | Redirect | Refusal:
    """:func:`admitted` for a start that calls Plaid on the event loop."""
    try:
        return await start()
    except (AuthorizationRedirect, FatalClientError, Refused) as exc:
        return _admission_answer(exc)


def _admission_answer(
    exc: AuthorizationRedirect | FatalClientError | Refused,
) -> Redirect | Refusal:
    if isinstance(exc, AuthorizationRedirect):
        return Redirect(exc.location, 302)
    if isinstance(exc, FatalClientError):
        return explain_fatal(exc)
    return exc.refusal


def admitted_and_recorded(
    seen: recording.SeenRequest, start: Callable[[], Started | Redirect]
) -> Started | Redirect | Refusal:
    """:func:`admitted`, then the request's shape recorded with its status (same hop)."""
    outcome = admitted(start)
    recording.record(seen, status_of(outcome))
    return outcome


def start_session(
    ctx: BridgeContext,
    query: str,
    address: str,
    with_link_token: bool,
    redirect_uri: str | None,
    webhook: str | None,
) -> Started:
    """Admit the request, get a Link token (JSON callers only), open the session: one
    thread-pool hop."""
    auth = admit(ctx, query, address)
    session_id = secrets.token_urlsafe(32)
    language = i18n.current_language()  # the session keeps it (Link, the later pages)
    link_token = None
    if with_link_token:
        link_token = ctx.link.create_link_token(
            session_id, redirect_uri, webhook, language=language
        )
    ctx.store.create_session(
        session_id,
        auth.client_id,
        auth.redirect_uri,
        query,
        SESSION_TTL,
        link_tokens=0 if link_token is None else 1,
        language=language,
    )
    metrics.authorization_started()
    return Started(auth, session_id, link_token)


async def start_session_with_link_token(
    ctx: BridgeContext, query: str, address: str, redirect_uri: str | None, webhook: str | None
) -> Started:
    """:func:`start_session` for JSON callers: the request admitted on the event loop (no
    I/O), the Link token from Plaid on the loop, the session opened (:func:`.store_step`)."""
    auth = admit(ctx, query, address)
    session_id = secrets.token_urlsafe(32)
    language = i18n.current_language()
    link_token = await ctx.link.create_link_token_async(
        session_id, redirect_uri, webhook, language=language
    )
    await store_step(ctx, open_session, ctx, auth, session_id, query, language)
    return Started(auth, session_id, link_token)


def open_session(
    ctx: BridgeContext, auth: AuthorizationRequest, session_id: str, query: str, language: str
) -> None:
    """Store a new session that has its first Link token; counted as started."""
    ctx.store.create_session(
        session_id,
        auth.client_id,
        auth.redirect_uri,
        query,
        SESSION_TTL,
        link_tokens=1,
        language=language,
    )
    metrics.authorization_started()


async def start_hosted(
    ctx: BridgeContext, query: str, address: str, base: str, webhook: str | None
) -> Redirect:
    """LINK_MODE=hosted: admit the request, get a Hosted Link from Plaid (both on the event
    loop), open the session (:func:`.store_step`); then on to Plaid's hosted_link_url."""
    auth = admit(ctx, query, address)
    new = new_hosted_session()
    options: dict[str, object] = {"completion_redirect_uri": new.completion_uri(base)}
    language = i18n.current_language()
    answer = await ctx.link.create_link_async(new.session_id, None, webhook, options, language)
    url = hosted_link_url(answer)
    await store_step(
        ctx,
        ctx.store.create_hosted_session,
        new.session_id,
        auth.client_id,
        auth.redirect_uri,
        query,
        SESSION_TTL,
        str(answer["link_token"]),
        new.return_id,
        new.salt,
        language,
    )
    metrics.authorization_started()
    return Redirect(url)


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the X-Forwarded-For the bridge read itself
    from a FORWARDED_ALLOW_IPS peer (:mod:`..request_ids`)."""
    return request.client.host if request.client else ""


async def authorize(
    ctx: BridgeContext, ahead: LinkTokensAhead[str | Refusal], request: Request
) -> Response:
    query, address = request.url.query, client_address(request)
    as_json = wants_json(request)
    hosted_base = None
    if ctx.settings.link_mode == "hosted" and not as_json:
        hosted_base = public_base_url(ctx.settings, request)
    plaid_first: Callable[[], Awaitable[Started | Redirect]] | None = None
    if hosted_base:
        webhook = webhook_url(ctx.settings, request)
        plaid_first = partial(start_hosted, ctx, query, address, hosted_base, webhook)
    elif as_json:
        redirect_uri, webhook = link_urls(ctx.settings, request)
        plaid_first = partial(
            start_session_with_link_token, ctx, query, address, redirect_uri, webhook
        )
    start = partial(start_session, ctx, query, address, False, None, None)
    seen = recording.seen_request(ctx, request, "authorize")
    outcome: Started | Redirect | Refusal
    try:
        if plaid_first is not None:  # Plaid on the event loop, the store in the thread pool
            outcome = await admitted_async(plaid_first)
            recording.record(seen, status_of(outcome))
        else:
            outcome = await run_in_threadpool(admitted_and_recorded, seen, start)
    except StoreUnavailable as exc:  # answered as the app's handler does, recorded
        metrics.authorization_failed("store_unavailable")
        return recording.recorded(await store_unavailable(request, exc), seen)
    if isinstance(outcome, Refusal):
        metrics.authorization_refused(outcome.error)
        return outcome.json() if as_json else outcome.page()
    if isinstance(outcome, Redirect):
        return outcome.response()
    if as_json:
        body = {"session": outcome.session_id, "link_token": outcome.link_token}
        return JSONResponse(body, headers=NO_STORE)
    if is_browser_navigation(request.headers):  # it opens Link: Plaid's call starts now
        redirect_uri, webhook = link_urls(ctx.settings, request)
        session_id = outcome.session_id
        await ahead.start(session_id, issue_link_token(ctx, session_id, redirect_uri, webhook))
    auth = outcome.auth
    deny_url = ctx.oauth.denial_location(auth)
    response = page.authorize_page(ctx.settings, outcome.session_id, deny_url, auth.redirect_uri)
    # the OAuth bank's return (/oauth-return) speaks the session's language too
    secure = request.url.scheme == "https"
    cookie.remember(response, i18n.current_language(), OAUTH_RETURN_PATH, int(SESSION_TTL), secure)
    return response


async def issue_link_token(
    ctx: BridgeContext, session_id: str, redirect_uri: str | None, webhook: str | None
) -> str | Refusal:
    """A Link token for an open session (at most :data:`LINK_TOKENS_PER_SESSION`), in the
    session's language: the grant (:func:`.store_step`), Plaid on the event loop."""
    grant = await store_step(ctx, ctx.store.grant_link_token, session_id, LINK_TOKENS_PER_SESSION)
    if grant.problem is not None:
        return Problem.of_session(grant.problem).refusal()
    try:
        return await ctx.link.create_link_token_async(
            session_id, redirect_uri, webhook, language=grant.language
        )
    except LinkStepError as exc:
        return exc.refusal


async def new_link_token(
    ctx: BridgeContext, ahead: LinkTokensAhead[str | Refusal], request: Request
) -> Response:
    try:
        params = await read_json_params(request)
    except Refused as refused:
        return refused.refusal.json()
    session_id = params.get("session") or ""
    if not session_id:
        return MISSING_SESSION.json()
    # the call the page's GET / started (:mod:`.link_token_ahead`), else one of its own
    pending: Awaitable[str | Refusal] | None = ahead.take(session_id)
    if pending is None:
        redirect_uri, webhook = link_urls(ctx.settings, request)
        pending = issue_link_token(ctx, session_id, redirect_uri, webhook)
    issued = await counted(session_id, pending)
    if isinstance(issued, Refusal):
        return issued.json()
    return JSONResponse({"link_token": issued}, headers=NO_STORE)


NO_LONGER_VALID = (
    N_("The authorization request is no longer valid for this bridge's settings."),
    N_("Start the authorization again from Kore."),
)


async def complete(ctx: BridgeContext, session_id: str, public_token: str) -> Redirect | Refusal:
    """Link succeeded: claim the session (single use), exchange the public token, mint the
    code; on to Kore's callback with it. A Plaid failure releases the session (the user may
    retry); an Item that cannot be stored is removed at Plaid. The store steps on the event
    loop or in the thread pool (:func:`.store_step`), Plaid on the event loop."""
    claimed = await claim_async(ctx, session_id, public_token)
    if isinstance(claimed, Refusal):
        return claimed
    try:
        item = await ctx.link.exchange_async(public_token, session_id, checked=True)
    except LinkStepError as exc:
        await store_step(ctx, ctx.store.release_session, session_id)
        return exc.refusal
    except BaseException:
        with contextlib.suppress(StoreUnavailable):  # the first failure is the one to tell
            await store_step(ctx, ctx.store.release_session, session_id)  # may retry
        raise
    try:
        return await store_step(ctx, issue, ctx, session_id, claimed, item)
    except StoreUnavailable:
        await ctx.link.remove_item_async(item.access_token)  # stored nowhere: not at Plaid
        raise
    except OAuth2Error as exc:
        await ctx.link.remove_item_async(item.access_token)  # stored nowhere: not at Plaid
        return Refusal(400, exc.error, *NO_LONGER_VALID)


async def claim_async(
    ctx: BridgeContext, session_id: str, public_token: str
) -> SessionRecord | Refusal:
    """The session claimed for this completion (single use), its public token not spent;
    a refusal (the session given back when the token is spent). Two store steps
    (:func:`.store_step`): the claim, then the spent token's check (which may run twice: it
    only reads, and gives the session back)."""
    claimed = await store_step(ctx, ctx.store.claim_session, session_id)
    return await store_step(ctx, unspent, ctx, claimed, session_id, public_token)


def unspent(
    ctx: BridgeContext, claimed: SessionClaim, session_id: str, public_token: str
) -> SessionRecord | Refusal:
    """The claimed session, unless the claim failed or the public token is spent (then the
    session is given back)."""
    if claimed.problem is not None or claimed.record is None:
        return Problem.of_session(claimed.problem).refusal()
    try:
        ctx.link.refuse_spent(public_token)
    except LinkStepError as exc:
        ctx.store.release_session(session_id)
        return exc.refusal
    return claimed.record


def issue(
    ctx: BridgeContext, session_id: str, session: SessionRecord, item: ItemRecord
) -> Redirect:
    """Mint and store the code for the exchanged Item; counted as completed."""
    location: str = ctx.oauth.issue_code(session_id, session.auth_query, item)
    metrics.authorization_completed(seconds_open(ctx, session))
    return Redirect(location)


def seconds_open(ctx: BridgeContext, session: SessionRecord) -> float:
    """How long ago the session was opened (it expires :data:`SESSION_TTL` after)."""
    return ctx.store.clock() - (session.expires_at - SESSION_TTL)


async def on_authorization_path(session_key: str, step: Callable[..., T], *args: object) -> T:
    """``step(*args)`` in the thread pool, :func:`counted`."""
    return await counted(session_key, run_in_threadpool(step, *args))


async def counted(session_key: str, pending: Awaitable[T]) -> T:
    """What ``pending`` gives; a Plaid failure it answers, or a store that cannot answer,
    counted as a failed authorization, once per ``session_key`` (the session, or what names
    it) and reason."""
    try:
        outcome = await pending
    except StoreUnavailable:
        metrics.authorization_failed("store_unavailable", session_key)
        raise
    if isinstance(outcome, Refusal):
        metrics.authorization_refused(outcome.error, session_key)
    return outcome


async def set_access_token(ctx: BridgeContext, request: Request) -> Response:
    try:
        params = await read_json_params(request)
    except Refused as refused:
        return refused.refusal.json()
    session_id = params.get("session") or ""
    public_token = params.get("public_token") or ""
    if not session_id or not public_token:
        return MISSING_TOKEN.json()
    outcome = await counted(session_id, complete(ctx, session_id, public_token))
    if isinstance(outcome, Refusal):
        return outcome.json()
    return JSONResponse({"redirect_to": outcome.location}, headers=NO_STORE)


async def oauth_return(ctx: BridgeContext, request: Request) -> Response:
    """The OAuth bank's return: in the URL's language, else the authorization's (its
    cookie), else the browser's."""
    i18n.choose(
        negotiate(
            request.query_params,
            request.headers.get("accept-language"),
            remembered=cookie.remembered(request),
        )
    )
    return page.oauth_return_page(ctx.settings)


def authorize_routes(ctx: BridgeContext) -> list[Route]:
    ahead: LinkTokensAhead[str | Refusal] = LinkTokensAhead()
    return [
        Route("/", partial(authorize, ctx, ahead), methods=["GET"]),
        Route("/api/link_token", partial(new_link_token, ctx, ahead), methods=["POST"]),
        Route("/api/set_access_token", partial(set_access_token, ctx), methods=["POST"]),
        Route(OAUTH_RETURN_PATH, partial(oauth_return, ctx), methods=["GET"]),
    ]
