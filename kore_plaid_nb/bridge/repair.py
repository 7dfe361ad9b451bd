"""Repair links: the Item's user logs in to the bank again (Plaid Link in update mode), and
Kore's access token works again; no new Item, no new code, nothing issued to Kore.

=========================================  ================================================
``GET /repair/{token}``                    the repair page (a read: the link stays unused,
                                           so a link preview cannot spend it)
``POST /repair/{token}/link_token``        ``{}`` -> ``{"link_token"}`` in update mode (the
                                           page asks right before it opens Link); at most
                                           :data:`LINK_TOKENS_PER_REPAIR_LINK` (then 429)
``POST /repair/{token}/done``              ``{}`` -> ``{"repaired": true}``: Link succeeded;
                                           the link is spent, the Item is healthy again
=========================================  ================================================

``done`` needs a Link token issued for this link (else 409: Link never ran, and Plaid reports
no error for PENDING_EXPIRATION / PENDING_DISCONNECT), then asks Plaid (``/item/get``)
whether the Item still reports an error: if so nothing is spent (409) and the user may open
Link again. Spending the link and making the Item healthy is one store transaction. A link
that cannot be used gets a readable 4xx: a page for ``GET``, JSON for the page's calls. The
token never reaches a log.
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
from .store import BridgeStore, RepairClaim

log = logging.getLogger("kore_plaid_nb.bridge")
REPAIR_PREFIX = "/repair/"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,128}")  # secrets.token_urlsafe(32): 43 characters
LINK_TOKENS_PER_REPAIR_LINK = 5  # Link opened again after an error, a reload
LOG_IN_AGAIN = "Press \u201cLog in to your bank again\u201d"
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
    "exhausted": (
        429,
        "too_many_link_tokens",
        "Plaid was opened too many times",
        f"This repair link already opened Plaid Link {LINK_TOKENS_PER_REPAIR_LINK} times.",
        f"To try again, {NEW_LINK}, then open the new link.",
    ),
    "not_started": (
        409,
        "repair_not_started",
        "The bank login was not done yet",
        "Nothing was repaired: Plaid was not opened from this repair link yet, so you have "
        "not logged in to your bank again.",
        f"{LOG_IN_AGAIN} to log in to your bank first, then finish the login in Plaid.",
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

    def valid(token: str) -> RepairClaim:
        """The Item of a usable link, or the problem (read only)."""
        if not TOKEN_SHAPE.fullmatch(token):
            return RepairClaim(None, "unknown")
        return store.peek_repair_link(token)

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
        claim = await run_in_threadpool(valid, token)
        if claim.problem is not None:
            status, _error, title, message, fix = PROBLEMS[claim.problem]
            return page.error_page(settings, status, title, message, fix)
        return page.repair_page(settings, token)

    async def link_token(request: Request) -> Response:
        refused = await json_body_problem(request)
        if refused is not None:
            return refused
        token = request.path_params["token"]
        return await run_in_threadpool(_link_token, token, webhook_url(settings, request))

    def _link_token(token: str, webhook: str | None) -> Response:
        if not TOKEN_SHAPE.fullmatch(token):
            return problem_json("unknown")
        claim = store.start_repair(token, LINK_TOKENS_PER_REPAIR_LINK)  # counted before Plaid
        if claim.item is None:
            return problem_json(claim.problem or "unknown")
        item = claim.item
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
        peeked = valid(token)
        if peeked.item is None:
            return problem_json(peeked.problem or "unknown")
        if peeked.link_tokens == 0:  # Link never ran: nothing can have been repaired
            return problem_json("not_started")
        try:
            still = link.item_error(peeked.item.access_token)
        except LinkStepError as exc:
            return JSONResponse(exc.as_json(), exc.status, headers=NO_STORE)
        if still is not None:
            return bridge_error(
                409,
                "not_repaired",
                f"Plaid still reports this bank connection as broken ({still}).",
                f"{LOG_IN_AGAIN} and finish the login in Plaid.",
            )
        claim = store.complete_repair(token)  # single use: exactly one caller gets here
        if claim.item is None:
            return problem_json(claim.problem or "unknown")
        log.info("item %s repaired through its repair link", claim.item.ref)
        return JSONResponse({"repaired": True}, headers=NO_STORE)

    return [
        Route(REPAIR_PREFIX + "{token}", show, methods=["GET"]),
        Route(REPAIR_PREFIX + "{token}/link_token", link_token, methods=["POST"]),
        Route(REPAIR_PREFIX + "{token}/done", done, methods=["POST"]),
    ]
