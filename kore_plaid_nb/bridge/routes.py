"""The bridge's HTTP routes (Starlette): thin handlers over :mod:`.oauth`, :mod:`.store`,
:mod:`.plaid_link` and :mod:`.page`.

==============================================  ============================================
``GET /``                                       Authorization URL: HTML page, or JSON
                                                ``{"session", "link_token"}``
``POST /api/link_token``                        ``{"session"}`` -> ``{"link_token"}`` (the
                                                page asks right before it opens Link)
``POST /api/set_access_token``                  ``{"session", "public_token"}`` ->
                                                ``{"redirect_to": callback?code&state}``
``POST /api/send_the_access_token_AUTH``        token endpoint (alias ``/oauth/token``)
``GET /oauth-return``                           OAuth institutions come back here
``GET /hosted-link/return?return_id=``          LINK_MODE=hosted: Plaid's Hosted Link sends
                                                the browser back here (:mod:`.hosted_link`)
``POST /plaid/webhook``                         Plaid's webhooks, verified
                                                (:mod:`.webhook_verification`): the Items'
                                                health (:mod:`.item_health`)
``GET /repair/{token}`` (+ ``/link_token``,     a repair link: Link in update mode
``/done``)                                      (:mod:`.repair`)
``GET /healthz``                                liveness
``GET /readyz``                                 readiness: the store answers (else 503)
``GET /openapi.yaml``                           this contract as OpenAPI 3.0 (``openapi.yaml``)
==============================================  ============================================

New sessions are rate limited per client address and overall (:mod:`.ratelimit`: 429 with
``Retry-After``); a session gets at most :data:`LINK_TOKENS_PER_SESSION` Link tokens. The
browser's API takes JSON only (415 otherwise: a cross-site form cannot send it). Absolute URLs
come from :mod:`.public_url`, never from an unchecked Host header.

Bodies above :data:`MAX_BODY_BYTES` get 413; unreadable bodies (not UTF-8, nested too
deep) get 400; a client that leaves mid-body is one log line; Plaid failures get a
readable JSON error (4xx/502/503), never a 500; a store that cannot answer (database down or
restarting) gets 503 with ``Retry-After``: JSON for API calls, the readable page for the
browser. Blocking work (the store, Plaid) runs in the thread pool. Every
:data:`PURGE_INTERVAL_SECONDS` (and at start), expired sessions and codes are deleted and the
Items no one can use any more (Kore never redeemed their code, or their grant was revoked) are
removed at Plaid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from oauthlib.oauth2.rfc6749 import errors
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..settings import Settings
from . import page
from .hosted_link import (
    FINISHING_RELOAD_SECONDS,
    RETURN_PARAM,
    RETURN_PATH,
    HostedLink,
    hosted_link_url,
    new_hosted_session,
    session_id_for,
)
from .item_health import ItemHealth, MalformedWebhook, parse_webhook
from .oauth import (
    SESSION_TTL,
    AuthorizationRedirect,
    AuthorizationRequest,
    BridgeOAuth,
    FatalClientError,
    InvalidRequestError,
    OAuth2Error,
    RequestTooLargeError,
)
from .plaid_link import LinkStepError, PlaidLink
from .public_url import public_base_url
from .ratelimit import SessionLimiter
from .repair import repair_routes
from .store import BridgeStore, HostedSession, StoreUnavailable, open_store
from .webhook_verification import (
    KeyLookupsExhausted,
    KeySource,
    WebhookRejected,
    WebhookVerifier,
)

MAX_BODY_BYTES = 16 * 1024
MAX_WEBHOOK_BYTES = 256 * 1024  # Plaid's webhooks are small; some list many ids
WEBHOOK_PATH = "/plaid/webhook"
PURGE_INTERVAL_SECONDS = 300.0
API_PATHS = ("/api/", "/oauth/", "/plaid/")
LINK_TOKENS_PER_SESSION = 5  # Link opened again after an error, a reload, an OAuth bank
JSON_MEDIA_TYPE = "application/json"
log = logging.getLogger("kore_plaid_nb.bridge")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def explain_fatal(exc: FatalClientError) -> tuple[str, str, str]:
    """``(error, message, fix)`` for an authorization request that must not redirect."""
    if isinstance(exc, errors.InvalidClientIdError):
        return (
            "invalid_client",
            "This authorization link was not made for this bridge: its client_id is not the "
            "Plaid client id configured here.",
            "In Kore's authorization profile, set Client ID to the PLAID_CLIENT_ID in the "
            "bridge's .env (procedure step 4.iii), save, and authorize again.",
        )
    if isinstance(exc, errors.MissingClientIdError):
        return (
            "invalid_request",
            "This page is the Authorization URL of Kore's authorization profile; it was "
            "opened without a client_id.",
            "Start the authorization from Kore (Authorize button, or the link in the "
            "conversation).",
        )
    if isinstance(exc, errors.MissingRedirectURIError):
        return (
            "invalid_request",
            "The authorization link names no callback URL, and the bridge accepts several.",
            "Let Kore send redirect_uri, or keep a single callback in PLAID_REDIRECT_URI / "
            "KORE_CALLBACK_URLS.",
        )
    if isinstance(exc, errors.MismatchingRedirectURIError | errors.InvalidRedirectURIError):
        return (
            "invalid_request",
            "The callback URL in this authorization link is not one the bridge accepts.",
            "Set PLAID_REDIRECT_URI (or KORE_CALLBACK_URLS) in .env to the Callback URL shown "
            "in Kore's authorization profile, exactly as shown, then restart the bridge "
            "(procedure step 4.v-vi).",
        )
    return (
        "invalid_request",
        f"The authorization request is not valid: {exc.description}",
        "Start the authorization again from Kore; if it keeps failing, compare the profile "
        "with `kore-plaid profile`.",
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_large = int(declared) > limit
        except ValueError:
            raise InvalidRequestError(description="Content-Length is not a number.") from None
        if too_large:
            raise RequestTooLargeError()
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError()
        chunks.append(chunk)
    return b"".join(chunks)


NOT_UTF8 = "The body is not UTF-8 text: send every parameter as UTF-8 (no lone surrogates)."


def parse_params(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Body parameters from a JSON object or a form; anything else is ``invalid_request``:
    nesting too deep to parse, names or values that are not UTF-8 (raw, percent-encoded or
    JSON-escaped lone surrogates) included."""
    if "json" in content_type.lower():
        try:
            data = json.loads(body)
        except RecursionError:
            raise InvalidRequestError(description="The JSON body is nested too deeply.") from None
        except UnicodeDecodeError:
            raise InvalidRequestError(description=NOT_UTF8) from None
        except ValueError:
            raise InvalidRequestError(description="The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidRequestError(description="The JSON body must be an object.")
        pairs = []
        for name, value in data.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            if not isinstance(value, str | int | float):
                raise InvalidRequestError(
                    description=f"Parameter {name!r} must be a string."
                    if _is_utf8(name)
                    else NOT_UTF8
                )
            pairs.append((name, str(value)))
        if not all(_is_utf8(name) and _is_utf8(value) for name, value in pairs):
            raise InvalidRequestError(description=NOT_UTF8)
        return pairs
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequestError(description=NOT_UTF8) from None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def oauth_error_json(exc: OAuth2Error) -> JSONResponse:
    return JSONResponse(json.loads(exc.json), exc.status_code, headers=NO_STORE)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that went away in the middle of its body: one log line, no traceback (the
    status is for the app's own records: no one is left to read it)."""
    log.warning(
        "client disconnected before sending the whole body: %s %s",
        request.method,
        request.url.path,
    )
    return Response(status_code=400)


def bridge_error(status: int, error: str, message: str, fix: str) -> JSONResponse:
    body = {"error": error, "message": message, "fix": fix}
    return JSONResponse(body, status, headers=NO_STORE)


def reachable_base_url(settings: Settings, request: Request) -> str | None:
    """:func:`.public_url.public_base_url` when Plaid can reach it (https, or the embedded
    emulator playing Plaid on this machine); else None."""
    base = public_base_url(settings, request)
    if base and (base.startswith("https://") or settings.embedded):
        return base
    return None


def link_redirect_uri(settings: Settings, request: Request) -> str | None:
    """Where OAuth banks send the browser back: LINK_REDIRECT_URI, else this bridge's own
    ``/oauth-return`` (as the browser reached it when the Host names this bridge, else the
    configured public URL), when Plaid can reach it."""
    if settings.link_redirect_uri:
        return settings.link_redirect_uri
    base = reachable_base_url(settings, request)
    return f"{base}/oauth-return" if base else None


def webhook_url(settings: Settings, request: Request) -> str | None:
    """Where Plaid sends the Items' webhooks: this bridge's ``/plaid/webhook``, when Plaid
    can reach it; else None: no webhook."""
    base = reachable_base_url(settings, request)
    return base + WEBHOOK_PATH if base else None


class TooManySessions(Exception):
    """The session limiter refused a new session; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def is_json_body(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == JSON_MEDIA_TYPE


def not_json_error() -> JSONResponse:
    return bridge_error(
        415,
        "unsupported_media_type",
        "This endpoint takes a JSON body (Content-Type: application/json), as the "
        "authorization page sends it.",
        "Send the request with Content-Type: application/json and a JSON object body.",
    )


def session_problem_error(problem: str) -> JSONResponse:
    """The answer for a session that cannot be used (``claim`` / ``count_link_token``)."""
    if problem == "unknown":
        return bridge_error(
            400,
            "invalid_session",
            "The bridge does not know this authorization session.",
            "Go back to the Kore conversation and start the authorization again.",
        )
    if problem == "expired":
        return bridge_error(
            400,
            "session_expired",
            "This authorization page has expired (it is valid for 30 minutes).",
            "Go back to the Kore conversation and start the authorization again.",
        )
    if problem == "exhausted":
        return bridge_error(
            429,
            "too_many_link_tokens",
            f"This authorization page already opened Plaid Link {LINK_TOKENS_PER_SESSION} times.",
            "Go back to the Kore conversation and start the authorization again.",
        )
    return bridge_error(
        409,
        "session_used",
        "This authorization was already completed or is being completed.",
        "Go back to the Kore conversation; start again there if it did not finish.",
    )


OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def create_app(
    settings: Settings,
    store: BridgeStore | None = None,
    link: PlaidLink | None = None,
    webhook_keys: KeySource | None = None,
) -> Starlette:
    """The bridge as an ASGI app, with its store at ``settings.bridge_store``; ``link``
    replaces the default Plaid caller (e.g. a shorter timeout or another retry policy);
    ``webhook_keys`` where webhook verification keys come from (default: Plaid's
    ``/webhook_verification_key/get``)."""
    store = store or open_store(settings.bridge_store)
    health = ItemHealth(store)
    link = link or PlaidLink(settings, spent=store)
    if link.item_errors is None:
        link.item_errors = health.plaid_error
    verifier = WebhookVerifier(webhook_keys or link.webhook_verification_key)
    limiter = SessionLimiter(
        settings.bridge_sessions_per_address, settings.bridge_sessions_per_minute
    )
    oauth = BridgeOAuth(settings, store, on_replay=lambda token, _why: link.remove_item(token))
    hosted = HostedLink(store, link)

    inline_refresh = store.dialect == "sqlite"

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def client_address(request: Request) -> str:
        """The client as uvicorn reports it (X-Forwarded-For only from FORWARDED_ALLOW_IPS)."""
        return request.client.host if request.client else ""

    def _start(
        query: str,
        address: str,
        with_link_token: bool,
        redirect_uri: str | None,
        webhook: str | None,
    ) -> tuple[AuthorizationRequest, str, str | None]:
        """Validate the request, take a place in the limiter, get a Link token (JSON callers
        only: the page asks for one when it opens Link), open the session: one thread-pool
        hop."""
        auth = oauth.validate_authorization(query)
        retry_after = limiter.acquire(address)
        if retry_after is not None:
            raise TooManySessions(retry_after)
        session_id = secrets.token_urlsafe(32)
        link_token = None
        if with_link_token:
            link_token = link.create_link_token(session_id, redirect_uri, webhook)
        store.create_session(
            session_id,
            auth.client_id,
            auth.redirect_uri,
            query,
            SESSION_TTL,
            link_tokens=0 if link_token is None else 1,
        )
        return auth, session_id, link_token

    def _start_hosted(query: str, address: str, base: str, webhook: str | None) -> str:
        """LINK_MODE=hosted: validate, take a place in the limiter, get a Hosted Link from
        Plaid, open the session; returns Plaid's hosted_link_url."""
        auth = oauth.validate_authorization(query)
        retry_after = limiter.acquire(address)
        if retry_after is not None:
            raise TooManySessions(retry_after)
        new = new_hosted_session()
        options: dict[str, object] = {"completion_redirect_uri": new.completion_uri(base)}
        answer = link.create_link(new.session_id, None, webhook, options)
        url = hosted_link_url(answer)
        store.create_hosted_session(
            new.session_id,
            auth.client_id,
            auth.redirect_uri,
            query,
            SESSION_TTL,
            str(answer["link_token"]),
            new.return_id,
            new.salt,
        )
        return url

    def too_many_sessions(exc: TooManySessions, as_json: bool) -> Response:
        headers = {**NO_STORE, "Retry-After": str(exc.retry_after)}
        message = (
            "Too many authorizations were started from this network (or on this bridge) in "
            "the last minute."
        )
        fix = f"Wait {exc.retry_after} seconds, then start the authorization again from Kore."
        if as_json:
            body = {"error": "too_many_requests", "error_description": message, "fix": fix}
            return JSONResponse(body, 429, headers=headers)
        response = page.error_page(settings, 429, "Please wait a moment", message, fix)
        response.headers.update(headers)
        return response

    async def authorize(request: Request) -> Response:
        query = request.url.query
        as_json = wants_json(request)
        redirect_uri = link_redirect_uri(settings, request) if as_json else None
        hosted_base = None
        if settings.link_mode == "hosted" and not as_json:
            hosted_base = public_base_url(settings, request)
        webhook = webhook_url(settings, request) if as_json or hosted_base else None
        try:
            if hosted_base:
                hosted_url = await run_in_threadpool(
                    _start_hosted, query, client_address(request), hosted_base, webhook
                )
                return RedirectResponse(hosted_url, status_code=303, headers=NO_STORE)
            auth, session_id, link_token = await run_in_threadpool(
                _start, query, client_address(request), as_json, redirect_uri, webhook
            )
        except TooManySessions as exc:
            return too_many_sessions(exc, as_json)
        except AuthorizationRedirect as redirect:
            return RedirectResponse(redirect.location, status_code=302, headers=NO_STORE)
        except FatalClientError as exc:
            error, message, fix = explain_fatal(exc)
            if as_json:
                return JSONResponse(
                    {"error": error, "error_description": message, "fix": fix},
                    400,
                    headers=NO_STORE,
                )
            return page.error_page(settings, 400, "Cannot start the authorization", message, fix)
        except LinkStepError as exc:
            if as_json:
                return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
            fix = exc.fix + (f" (procedure step {exc.step})" if exc.step else "")
            return page.error_page(settings, exc.status, "Plaid is not available", exc.message, fix)
        if as_json:
            return JSONResponse({"session": session_id, "link_token": link_token}, headers=NO_STORE)
        return page.authorize_page(
            settings, session_id, oauth.denial_location(auth), auth.redirect_uri
        )

    async def new_link_token(request: Request) -> Response:
        if not is_json_body(request):
            return not_json_error()
        try:
            body = await read_body(request)
            params = dict(parse_params(body, JSON_MEDIA_TYPE))
        except OAuth2Error as exc:
            return oauth_error_json(exc)
        session_id = params.get("session") or ""
        if not session_id:
            return bridge_error(
                400,
                "invalid_request",
                "The request needs 'session'.",
                "Let the authorization page send it (it does so before it opens Plaid Link).",
            )
        redirect_uri = link_redirect_uri(settings, request)
        webhook = webhook_url(settings, request)
        return await run_in_threadpool(_link_token, session_id, redirect_uri, webhook)

    def _link_token(session_id: str, redirect_uri: str | None, webhook: str | None) -> Response:
        problem = store.count_link_token(session_id, LINK_TOKENS_PER_SESSION)
        if problem is not None:
            return session_problem_error(problem)
        try:
            token = link.create_link_token(session_id, redirect_uri, webhook)
        except LinkStepError as exc:
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
        return JSONResponse({"link_token": token}, headers=NO_STORE)

    async def set_access_token(request: Request) -> Response:
        if not is_json_body(request):
            return not_json_error()
        try:
            body = await read_body(request)
            params = dict(parse_params(body, request.headers.get("content-type", "")))
        except OAuth2Error as exc:
            return oauth_error_json(exc)
        session_id = params.get("session") or ""
        public_token = params.get("public_token") or ""
        if not session_id or not public_token:
            return bridge_error(
                400,
                "invalid_request",
                "The request needs both 'session' and 'public_token'.",
                "Let the authorization page send it (it does so when Plaid Link succeeds).",
            )
        return await run_in_threadpool(_complete, session_id, public_token)

    def _complete(session_id: str, public_token: str) -> Response:
        claim = store.claim_session(session_id)
        if claim.problem is not None:
            return session_problem_error(claim.problem)
        try:
            item = link.exchange(public_token, session_id)
        except LinkStepError as exc:
            store.release_session(session_id)
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
        except BaseException:
            with contextlib.suppress(StoreUnavailable):  # the first failure is the one to tell
                store.release_session(session_id)  # nothing was issued: the user may retry
            raise
        try:
            location = oauth.issue_code(session_id, claim.record.auth_query, item)
        except StoreUnavailable:
            link.remove_item(item.access_token)  # stored nowhere: do not leave it at Plaid
            raise
        except OAuth2Error as exc:
            link.remove_item(item.access_token)  # stored nowhere: do not leave it at Plaid
            return bridge_error(
                400,
                exc.error,
                "The authorization request is no longer valid for this bridge's settings.",
                "Start the authorization again from Kore.",
            )
        return JSONResponse({"redirect_to": location}, headers=NO_STORE)

    def finish_page(answer: Response) -> Response:
        """The browser's answer to a JSON outcome of :func:`_complete`: on to Kore's callback
        with the code, or the readable error page."""
        body = json.loads(bytes(answer.body))
        if answer.status_code == 200:
            return RedirectResponse(body["redirect_to"], status_code=303, headers=NO_STORE)
        title = "Cannot finish the authorization"
        return page.error_page(settings, answer.status_code, title, body["message"], body["fix"])

    async def hosted_return(request: Request) -> Response:
        return await run_in_threadpool(_hosted_return, request.query_params.get(RETURN_PARAM, ""))

    def _hosted_return(return_id: str) -> Response:
        """Plaid's Hosted Link sent the browser back: exchange the session's public token once
        and go on to Kore with the code; with access_denied when Plaid says the user left
        without a bank; a self-reloading page while Plaid has not finished the session."""
        session = store.find_hosted_session(return_id) if return_id else None
        if session is None:
            return finish_page(session_problem_error("unknown"))
        if session.expires_at <= time.time():
            return finish_page(session_problem_error("expired"))
        if session.status == "completed":
            return finish_page(session_problem_error("used"))
        try:
            result = hosted.result(session)
        except LinkStepError as exc:
            fix = exc.fix + (f" (procedure step {exc.step})" if exc.step else "")
            return page.error_page(settings, exc.status, "Plaid is not available", exc.message, fix)
        session_id = session_id_for(return_id, session.salt)
        if result.denied:
            return _hosted_denied(session_id, session)
        if result.public_token is None:
            retry_url = f"{RETURN_PATH}?{urlencode({RETURN_PARAM: return_id})}"
            return page.finishing_page(settings, retry_url, FINISHING_RELOAD_SECONDS)
        try:
            answer = _complete(session_id, result.public_token)
        finally:
            store.forget_hosted_public_token(return_id)
        return finish_page(answer)

    def _hosted_denied(session_id: str, session: HostedSession) -> Response:
        """The user left Hosted Link without a bank: close the session (nothing completes it
        afterwards), then on to Kore with access_denied."""
        claim = store.claim_session(session_id)
        if claim.problem is not None:
            return finish_page(session_problem_error(claim.problem))
        store.close_claimed_session(session_id)
        state = dict(parse_qsl(session.auth_query)).get("state")
        auth = AuthorizationRequest(
            session.client_id, session.redirect_uri, state, session.auth_query
        )
        location = oauth.denial_location(auth)
        return RedirectResponse(location, status_code=303, headers=NO_STORE)

    async def token(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            body = await read_body(request)
            params = parse_params(body, request.headers.get("content-type", ""))
        except OAuth2Error as exc:
            answer = oauth.error_response(exc, authorization)
        else:
            if inline_refresh and ("grant_type", "refresh_token") in params:
                # Two short statements on a local file, no fsync, no Plaid call: cheaper
                # on the event loop than a hop to the thread pool and back.
                answer = oauth.token_response(params, authorization)
            else:
                answer = await run_in_threadpool(oauth.token_response, params, authorization)
        return JSONResponse(answer.body, answer.status, headers=answer.headers)

    async def plaid_webhook(request: Request) -> Response:
        """Verify, then record; a refused webhook changes nothing (401), a verified one
        that is not a webhook is a 400, one for an Item this bridge does not hold a 200."""
        try:
            body = await read_body(request, MAX_WEBHOOK_BYTES)
        except OAuth2Error as exc:
            return oauth_error_json(exc)
        signature = request.headers.get("plaid-verification")
        try:
            await run_in_threadpool(verifier.verify, body, signature)
        except WebhookRejected as exc:
            log.warning("plaid webhook refused: %s", exc.reason)
            return bridge_error(401, "invalid_webhook", exc.message, exc.fix)
        except LinkStepError as exc:  # the key could not be fetched: Plaid will retry
            headers = {**NO_STORE, "Retry-After": "60"}
            return JSONResponse(exc.as_json(), exc.status, headers=headers)
        except KeyLookupsExhausted as exc:
            log.warning("plaid webhook not checked: too many new signing keys asked of Plaid")
            body = {
                "error": "temporarily_unavailable",
                "error_description": exc.message,
                "fix": exc.fix,
            }
            headers = {**NO_STORE, "Retry-After": str(exc.retry_after)}
            return JSONResponse(body, 503, headers=headers)
        try:
            webhook = parse_webhook(body)
        except MalformedWebhook as exc:
            return bridge_error(
                400,
                "invalid_webhook_body",
                str(exc),
                "Send Plaid's webhook body as Plaid signed it: a JSON object with "
                "webhook_type, webhook_code and item_id.",
            )
        known = await run_in_threadpool(health.apply, webhook)
        if webhook.webhook_type == "LINK":
            await run_in_threadpool(hosted.record_webhook, body)
        log.info(
            "plaid webhook %s %s%s",
            webhook.webhook_type,
            webhook.webhook_code,
            "" if known else " (no Item of this bridge)",
        )
        return JSONResponse({"received": True, "item_known": known}, headers=NO_STORE)

    async def oauth_return(request: Request) -> Response:
        return page.oauth_return_page(settings)

    async def openapi(request: Request) -> Response:
        return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "bridge", "mode": settings.mode})

    async def readyz(request: Request) -> Response:
        await run_in_threadpool(store.check)
        return JSONResponse({"status": "ok", "store": store.dialect}, headers=NO_STORE)

    async def store_unavailable(request: Request, exc: Exception) -> Response:
        retry_after = getattr(exc, "retry_after", StoreUnavailable.retry_after)
        log.warning("store unavailable: %s", getattr(exc, "message", exc))
        headers = {**NO_STORE, "Retry-After": str(retry_after)}
        if request.url.path.startswith(API_PATHS) or wants_json(request):
            body = {
                "error": "temporarily_unavailable",
                "error_description": "The bridge's database cannot answer right now.",
                "fix": f"Retry in {retry_after} seconds; nothing was half-done.",
            }
            return JSONResponse(body, 503, headers=headers)
        response = page.error_page(
            settings,
            503,
            "Please try again in a moment",
            "This sign-in service is briefly unavailable: its database cannot answer, and "
            "nothing was saved half-way.",
            f"Wait {retry_after} seconds, then reload this page (or start again from the "
            "Kore conversation).",
        )
        response.headers.update(headers)
        return response

    def sweep() -> None:
        """Delete expired records; remove at Plaid the Items no one can use any more."""
        store.purge_expired()
        store.purge_expired_repair_links()
        store.fill_missing_refs()
        for item_ref, access_token in store.abandoned_items():
            if link.remove_item(access_token) or not link.item_exists(access_token):
                store.mark_item_removed(item_ref)

    async def sweep_forever() -> None:
        while True:
            try:
                await run_in_threadpool(sweep)
            except StoreUnavailable as exc:
                log.warning("expired records not swept: %s", exc.message)
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(sweep_forever())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            store.close()

    app = Starlette(
        routes=[
            Route("/", authorize, methods=["GET"]),
            Route("/api/link_token", new_link_token, methods=["POST"]),
            Route("/api/set_access_token", set_access_token, methods=["POST"]),
            Route("/api/send_the_access_token_AUTH", token, methods=["POST"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/oauth-return", oauth_return, methods=["GET"]),
            Route(RETURN_PATH, hosted_return, methods=["GET"]),
            Route(WEBHOOK_PATH, plaid_webhook, methods=["POST"]),
            *repair_routes(settings, store, link, webhook_url),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/openapi.yaml", openapi, methods=["GET"]),
            Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={
            StoreUnavailable: store_unavailable,
            ClientDisconnect: client_disconnected,
        },
    )
    app.state.store = store
    app.state.oauth = oauth
    app.state.sweep = sweep
    app.state.webhook_verifier = verifier
    return app
