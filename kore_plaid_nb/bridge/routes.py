"""The bridge's HTTP routes (Starlette): thin handlers over :mod:`.oauth`, :mod:`.store`,
:mod:`.plaid_link` and :mod:`.page`.

==============================================  ============================================
``GET /``                                       Authorization URL: HTML page, or JSON
                                                ``{"session", "link_token"}``
``POST /api/set_access_token``                  ``{"session", "public_token"}`` ->
                                                ``{"redirect_to": callback?code&state}``
``POST /api/send_the_access_token_AUTH``        token endpoint (alias ``/oauth/token``)
``GET /oauth-return``                           OAuth institutions come back here
``GET /healthz``                                liveness
``GET /readyz``                                 readiness: the store answers (else 503)
``GET /openapi.yaml``                           this contract as OpenAPI 3.0 (``openapi.yaml``)
==============================================  ============================================

Bodies above :data:`MAX_BODY_BYTES` get 413; unreadable bodies get 400; Plaid failures get a
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
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl

from oauthlib.oauth2.rfc6749 import errors
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..settings import Settings
from . import page
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
from .store import BridgeStore, StoreUnavailable, open_store

MAX_BODY_BYTES = 16 * 1024
PURGE_INTERVAL_SECONDS = 300.0
API_PATHS = ("/api/", "/oauth/")
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


def parse_params(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Body parameters from a JSON object or a form; anything else is ``invalid_request``."""
    if "json" in content_type.lower():
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
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
                raise InvalidRequestError(description=f"Parameter {name!r} must be a string.")
            pairs.append((str(name), str(value)))
        return pairs
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError(description="The body is not UTF-8.") from None
    return parse_qsl(text, keep_blank_values=True)


def oauth_error_json(exc: OAuth2Error) -> JSONResponse:
    return JSONResponse(json.loads(exc.json), exc.status_code, headers=NO_STORE)


def bridge_error(status: int, error: str, message: str, fix: str) -> JSONResponse:
    body = {"error": error, "message": message, "fix": fix}
    return JSONResponse(body, status, headers=NO_STORE)


def link_redirect_uri(settings: Settings, request: Request) -> str | None:
    """Where OAuth banks send the browser back: LINK_REDIRECT_URI, else this bridge's own
    ``/oauth-return`` as the browser reached it (the tunnel's public URL), when that is
    https or the embedded emulator plays Plaid."""
    if settings.link_redirect_uri:
        return settings.link_redirect_uri
    base = str(request.base_url).rstrip("/")
    if request.url.scheme == "https" or settings.embedded:
        return f"{base}/oauth-return"
    return None


OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def create_app(
    settings: Settings, store: BridgeStore | None = None, link: PlaidLink | None = None
) -> Starlette:
    """The bridge as an ASGI app, with its store at ``settings.bridge_store``; ``link``
    replaces the default Plaid caller (e.g. a shorter timeout or another retry policy)."""
    store = store or open_store(settings.bridge_store)
    link = link or PlaidLink(settings, spent=store)
    oauth = BridgeOAuth(settings, store, on_replay=lambda token, _why: link.remove_item(token))

    inline_refresh = store.dialect == "sqlite"

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def _start(query: str, redirect_uri: str | None) -> tuple[AuthorizationRequest, str, str]:
        """Validate the request, get a Link token, open the session: one thread-pool hop."""
        auth = oauth.validate_authorization(query)
        session_id = secrets.token_urlsafe(32)
        link_token = link.create_link_token(session_id, redirect_uri)
        store.create_session(session_id, auth.client_id, auth.redirect_uri, query, SESSION_TTL)
        return auth, session_id, link_token

    async def authorize(request: Request) -> Response:
        query = request.url.query
        as_json = wants_json(request)
        try:
            auth, session_id, link_token = await run_in_threadpool(
                _start, query, link_redirect_uri(settings, request)
            )
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
            settings, session_id, link_token, oauth.denial_location(auth), auth.redirect_uri
        )

    async def set_access_token(request: Request) -> Response:
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
        if claim.problem == "unknown":
            return bridge_error(
                400,
                "invalid_session",
                "The bridge does not know this authorization session.",
                "Go back to the Kore conversation and start the authorization again.",
            )
        if claim.problem == "expired":
            return bridge_error(
                400,
                "session_expired",
                "This authorization page has expired (it is valid for 30 minutes).",
                "Go back to the Kore conversation and start the authorization again.",
            )
        if claim.problem == "used":
            return bridge_error(
                409,
                "session_used",
                "This authorization was already completed or is being completed.",
                "Go back to the Kore conversation; start again there if it did not finish.",
            )
        try:
            item = link.exchange(public_token, session_id)
        except LinkStepError as exc:
            store.release_session(session_id)
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
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
            Route("/api/set_access_token", set_access_token, methods=["POST"]),
            Route("/api/send_the_access_token_AUTH", token, methods=["POST"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/oauth-return", oauth_return, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/openapi.yaml", openapi, methods=["GET"]),
            Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={StoreUnavailable: store_unavailable},
    )
    app.state.store = store
    app.state.oauth = oauth
    app.state.sweep = sweep
    return app
