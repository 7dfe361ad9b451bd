"""The bridge's HTTP routes (Starlette), one module per concept over one
:class:`.context.BridgeContext`; :func:`create_app` only assembles them.

==============================================  ============================================
``GET /``                                       Authorization URL: HTML page, or JSON
                                                ``{"session", "link_token"}``
``POST /api/link_token``                        ``{"session"}`` -> ``{"link_token"}`` (the
                                                page asks as it loads; a browser's ``GET /``
                                                has started that Plaid call already:
                                                :mod:`.link_token_ahead`)
``POST /api/set_access_token``                  ``{"session", "public_token"}`` ->
                                                ``{"redirect_to": callback?code&state}``
``GET /oauth-return``                           OAuth institutions come back here
                                                (all four: :mod:`.authorize`)
``POST /api/link_exit``                         ``{"session", "error"}`` -> 204: the user left
                                                Link, counted (:mod:`.link_exit`)
``POST /api/send_the_access_token_AUTH``        token endpoint (alias ``/oauth/token``,
                                                :mod:`.token`)
``GET /hosted-link/return?return_id=``          LINK_MODE=hosted: Plaid's Hosted Link sends
                                                the browser back here (:mod:`.hosted_return`)
``POST /plaid/webhook``                         Plaid's webhooks, verified (:mod:`.webhook`)
``GET /repair/{token}`` (+ ``/link_token``,     a repair link: Link in update mode
``/done``)                                      (:mod:`.repair`)
``GET /healthz``, ``GET /readyz``,              liveness, readiness (the store answers, else
``GET /openapi.yaml``                           503), this contract (:mod:`.housekeeping`)
``GET /metrics``                                Prometheus' text format, only with
                                                ``Authorization: Bearer $BRIDGE_METRICS_TOKEN``
                                                (404 when unset; :mod:`.metrics`)
==============================================  ============================================

Errors are one model (:mod:`..refusal`): the browser API answers JSON
``{"error", "message", "fix"}`` (plus ``step``, ``plaid_error_code`` for Plaid failures);
only the token endpoint answers RFC 6749's ``error`` / ``error_description``. The browser's
API takes JSON only (415 otherwise: a cross-site form cannot send it). Bodies above
:data:`..http.MAX_BODY_BYTES` get 413; unreadable bodies (not UTF-8, nested too deep) get
400; a client that leaves mid-body is one log line; Plaid failures get a readable error
(4xx/502/503/504); a store that cannot answer (database down or restarting) gets 503 with
``Retry-After``: JSON for API calls, the readable page for the browser; anything unexpected is
logged once and answered 500 with a request id; an unknown path (404) or method (405) gets
the same model (:mod:`.unrouted`). Blocking work (the store, Plaid) runs in the
thread pool. The pages' security headers come from one middleware.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from ...http_plumbing import SecurityHeaders
from ...settings import Settings
from .. import access_log, page
from ..http import UnexpectedErrors, client_disconnected, store_unavailable
from ..i18n.middleware import Languages
from ..plaid_link import PlaidLink
from ..request_ids import RequestIds
from ..store import BridgeStore, StoreUnavailable
from ..webhook_verification import KeySource
from .authorize import LINK_TOKENS_PER_SESSION, authorize_routes
from .context import BridgeContext
from .hosted_return import hosted_return_routes
from .housekeeping import housekeeping_routes, lifespan, sweep
from .link_exit import link_exit_routes
from .metrics import metrics_routes
from .plaid_urls import link_redirect_uri
from .repair import repair_routes
from .token import token_routes
from .unrouted import UNROUTED_HANDLERS
from .webhook import webhook_routes

# create_app, and the two names the tests reach through ``routes``.
__all__ = ["LINK_TOKENS_PER_SESSION", "create_app", "link_redirect_uri"]


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
    ctx = BridgeContext.build(settings, store, link, webhook_keys)
    access_log.install()
    routes: list[BaseRoute] = [
        *token_routes(ctx),  # first: the busiest (no other route's path overlaps them)
        *authorize_routes(ctx),
        *link_exit_routes(ctx),
        *hosted_return_routes(ctx),
        *webhook_routes(ctx),
        *repair_routes(ctx),
        *housekeeping_routes(ctx),
        *metrics_routes(ctx),
        Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIds, trusted_proxies=settings.forwarded_allow_ips),
            Middleware(Languages),  # each request's language (pages, refusals)
            Middleware(SecurityHeaders, pages=page.security_headers(settings)),
            Middleware(UnexpectedErrors),
        ],
        lifespan=lifespan(ctx),
        exception_handlers={
            StoreUnavailable: store_unavailable,
            ClientDisconnect: client_disconnected,
            **UNROUTED_HANDLERS,
        },
    )
    app.state.store = ctx.store
    app.state.oauth = ctx.oauth
    app.state.sweep = lambda: sweep(ctx)
    app.state.webhook_verifier = ctx.verifier
    app.state.metrics = ctx.metrics
    return app
