"""``POST /api/link_exit``: the authorization page's beacon when the user leaves Plaid Link,
``{"session": <id>, "error": true|false}`` (JSON only), answered 204.

It counts a failed authorization (``link_error`` when Link reported an error, else
``user_left``) for a live session that has not completed, once per session and reason in
this process (:class:`..metrics.recording.SessionFailures`). An unknown, expired or finished
session gets the same 204, uncounted: a prober learns nothing. A body of another shape is a
400.
"""

from __future__ import annotations

import json
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..http import JSON_MEDIA_TYPE, NO_STORE, parse_params, read_json_body
from ..i18n import N_
from ..metrics import recording as metrics
from ..refusal import Refusal, Refused
from .context import BridgeContext

LINK_EXIT_PATH = "/api/link_exit"
MALFORMED_EXIT = Refusal(
    400,
    "invalid_request",
    N_("The request needs 'session' (text) and 'error' (true or false)."),
    N_("Let the authorization page send it (it does so when Plaid Link closes)."),
)


def parse_exit(body: bytes) -> tuple[str, bool]:
    """``(session, error)`` of a beacon's body; else :class:`..refusal.Refused` (400)."""
    parse_params(body, JSON_MEDIA_TYPE)  # the browser API's checks: a flat UTF-8 object
    data = json.loads(body)
    session, error = data.get("session"), data.get("error")
    if not isinstance(session, str) or not isinstance(error, bool):
        raise Refused(MALFORMED_EXIT)
    return session, error


async def link_exit(ctx: BridgeContext, request: Request) -> Response:
    try:
        session_id, error = parse_exit(await read_json_body(request))
    except Refused as refused:
        return refused.refusal.json()
    failures, reason = metrics.SESSION_FAILURES, metrics.exit_reason(error)
    if session_id and not failures.counted(session_id, reason):
        if await run_in_threadpool(ctx.store.sessions.is_open, session_id):
            failures.count(session_id, reason)
    return Response(status_code=204, headers=NO_STORE)


def link_exit_routes(ctx: BridgeContext) -> list[Route]:
    return [Route(LINK_EXIT_PATH, partial(link_exit, ctx), methods=["POST"])]
