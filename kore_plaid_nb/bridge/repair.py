"""Repair links: the Item's user logs in to the bank again (Plaid Link in update mode), and
Kore's access token works again; no new Item, no new code, nothing issued to Kore.

=========================================  ================================================
``GET /repair/{token}``                    the repair page (a read: the link stays unused,
                                           so a link preview cannot spend it)
``POST /repair/{token}/link_token``        ``{}`` -> ``{"link_token"}`` in update mode (the
                                           page asks right before it opens Link)
``POST /repair/{token}/done``              ``{}`` -> ``{"repaired": true}``: Link succeeded;
                                           the link is spent, the Item is healthy again
=========================================  ================================================

``done`` first asks Plaid (``/item/get``) whether the Item still reports an error: if so
nothing is spent (409) and the user may open Link again. A link that cannot be used gets a
readable 4xx: a page for ``GET``, JSON for the page's calls. The token never reaches a log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..settings import Settings
from . import page
from .oauth import OAuth2Error
from .plaid_link import LinkStepError, PlaidLink
from .store import BridgeStore, RepairItem

log = logging.getLogger("kore_plaid_nb.bridge")
REPAIR_PREFIX = "/repair/"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,128}")  # secrets.token_urlsafe(32): 43 characters
NEW_LINK = "ask for a new repair link: run `kore-plaid items` (or ask the bot's administrator to)"
# problem -> (HTTP status, error code, title, message, what to do)
PROBLEMS: dict[str, tuple[int, str, str, str, str]] = {
    "unknown": (
        404,
        "repair_link_unknown",
        "Unknown repair link",
        "This repair link is not one this bridge made: it may be mistyped or cut short.",
        f"Check that you opened the whole link; else {NEW_LINK}, then open the new link.",
    ),
    "expired": (
        410,
        "repair_link_expired",
        "This repair link has expired",
        "This repair link has expired: a repair link works for 24 hours.",
        f"To repair the connection, {NEW_LINK}, then open the new link.",
    ),
    "used": (
        410,
        "repair_link_used",
        "This repair link was already used",
        "This repair link was already used: a repair link works once.",
        f"If the bot still cannot read your accounts, {NEW_LINK}.",
    ),
    "removed": (
        410,
        "item_removed",
        "This bank connection was removed",
        "This bank connection was removed, so there is nothing left to repair.",
        "Connect the bank again from the Kore conversation (authorize the bot again).",
    ),
}


def repair_routes(
    settings: Settings,
    store: BridgeStore,
    link: PlaidLink,
    webhook_url: Callable[[Settings, Request], str | None],
) -> list[Route]:
    """The repair routes of one bridge app; ``webhook_url`` is where Plaid reports on Items."""
    # The shared request helpers live in .routes, which imports this module.
    from .routes import (
        NO_STORE,
        bridge_error,
        is_json_body,
        not_json_error,
        oauth_error_json,
        read_body,
    )

    def problem_json(problem: str) -> JSONResponse:
        status, error, _title, message, fix = PROBLEMS[problem]
        return bridge_error(status, error, message, fix)

    def valid(token: str) -> tuple[RepairItem | None, str | None]:
        """The Item of a usable link, or the problem (read only)."""
        if not TOKEN_SHAPE.fullmatch(token):
            return None, "unknown"
        claim = store.peek_repair_link(token)
        return claim.item, claim.problem

    async def json_body_problem(request: Request) -> Response | None:
        """None for a JSON request (the page's); else the 415/413/400 to answer."""
        if not is_json_body(request):
            return not_json_error()
        try:
            await read_body(request)
        except OAuth2Error as exc:  # too large, unreadable
            return oauth_error_json(exc)
        return None

    async def show(request: Request) -> Response:
        token = request.path_params["token"]
        _item, problem = await run_in_threadpool(valid, token)
        if problem is not None:
            status, _error, title, message, fix = PROBLEMS[problem]
            return page.error_page(settings, status, title, message, fix)
        return page.repair_page(settings, token)

    async def link_token(request: Request) -> Response:
        refused = await json_body_problem(request)
        if refused is not None:
            return refused
        token = request.path_params["token"]
        return await run_in_threadpool(_link_token, token, webhook_url(settings, request))

    def _link_token(token: str, webhook: str | None) -> Response:
        item, problem = valid(token)
        if item is None:
            return problem_json(problem or "unknown")
        try:
            issued = link.create_update_link_token(item.access_token, item.client_user_id,
                                                   webhook=webhook)  # fmt: skip
        except LinkStepError as exc:
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
        return JSONResponse({"link_token": issued}, headers=NO_STORE)

    async def done(request: Request) -> Response:
        refused = await json_body_problem(request)
        if refused is not None:
            return refused
        return await run_in_threadpool(_done, request.path_params["token"])

    def _done(token: str) -> Response:
        item, problem = valid(token)
        if item is None:
            return problem_json(problem or "unknown")
        try:
            still = link.item_error(item.access_token)
        except LinkStepError as exc:
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
        if still is not None:
            return bridge_error(
                409,
                "not_repaired",
                f"Plaid still reports this bank connection as broken ({still}).",
                "Press \u201cLog in to your bank again\u201d and finish the login in Plaid.",
            )
        claim = store.claim_repair_link(token)  # single use: exactly one caller gets here
        if claim.item is None:
            return problem_json(claim.problem or "unknown")
        if not store.mark_item_healthy(claim.item.ref):
            return problem_json("removed")
        log.info("item %s repaired through its repair link", claim.item.ref)
        return JSONResponse({"repaired": True}, headers=NO_STORE)

    return [
        Route(REPAIR_PREFIX + "{token}", show, methods=["GET"]),
        Route(REPAIR_PREFIX + "{token}/link_token", link_token, methods=["POST"]),
        Route(REPAIR_PREFIX + "{token}/done", done, methods=["POST"]),
    ]
