"""``POST /plaid/webhook``: Plaid's webhooks, verified (:mod:`..webhook_verification`), then
recorded: the Items' health (:mod:`..item_health`) and Hosted Link's SESSION_FINISHED
(:mod:`..hosted_link`). A refused webhook changes nothing (401); a verified one that is not a
webhook is a 400; one for an Item this bridge does not hold a 200."""

from __future__ import annotations

import logging
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import record_webhook_refusal
from ..http import NO_STORE, read_body
from ..item_health import MalformedWebhook, parse_webhook
from ..metrics import recording as metrics
from ..plaid_link import LinkStepError
from ..refusal import Refusal, Refused
from ..webhook_verification import KeyLookupsExhausted, WebhookRejected
from .authorize import client_address
from .context import BridgeContext
from .plaid_urls import WEBHOOK_PATH

MAX_WEBHOOK_BYTES = 256 * 1024  # Plaid's webhooks are small; some list many ids
KEY_RETRY_SECONDS = 60  # the key could not be fetched: Plaid sends the webhook again
log = logging.getLogger("kore_plaid_nb.bridge")


async def verified(ctx: BridgeContext, request: Request) -> bytes:
    """The body of a webhook verifiably Plaid's; else :class:`..refusal.Refused`."""
    body = await read_body(request, MAX_WEBHOOK_BYTES)
    signature = request.headers.get("plaid-verification")
    try:
        await run_in_threadpool(ctx.verifier.verify, body, signature, client_address(request))
    except WebhookRejected as exc:
        log.warning("plaid webhook refused: %s", exc.reason)
        metrics.webhook_refused(exc.reason)
        await run_in_threadpool(record_webhook_refusal, ctx.store, exc.reason)
        raise Refused(Refusal(401, "invalid_webhook", exc.message, exc.fix)) from None
    except LinkStepError as exc:  # Plaid's key could not be fetched: Plaid sends it again
        metrics.webhook_refused("key_unavailable")
        retry = {"Retry-After": str(KEY_RETRY_SECONDS)}
        raise Refused(exc.refusal.with_headers(retry)) from None
    except KeyLookupsExhausted as exc:
        log.warning("plaid webhook not checked: too many new signing keys asked of Plaid")
        metrics.webhook_refused("key_lookups_exhausted")
        await run_in_threadpool(record_webhook_refusal, ctx.store, "key_lookups_exhausted")
        unavailable = Refusal(
            503,
            "temporarily_unavailable",
            exc.message,
            exc.fix,
            headers={"Retry-After": str(exc.retry_after)},
        )
        raise Refused(unavailable) from None
    return body


async def plaid_webhook(ctx: BridgeContext, request: Request) -> Response:
    try:
        body = await verified(ctx, request)
    except Refused as refused:
        return refused.refusal.json(translated=False)  # Plaid's: English
    try:
        webhook = parse_webhook(body)
    except MalformedWebhook as exc:
        metrics.webhook_verified("", "")  # signed by Plaid, but no webhook: counted unknown
        return Refusal(
            400,
            "invalid_webhook_body",
            str(exc),
            "Send Plaid's webhook body as Plaid signed it: a JSON object with "
            "webhook_type, webhook_code and item_id.",
        ).json(translated=False)
    metrics.webhook_verified(webhook.webhook_type, webhook.webhook_code)
    known = await run_in_threadpool(ctx.health.apply, webhook)
    if webhook.webhook_type == "LINK":
        await run_in_threadpool(ctx.hosted.record_webhook, body)
    log.info(
        "plaid webhook %s %s%s",
        webhook.webhook_type,
        webhook.webhook_code,
        "" if known else " (no Item of this bridge)",
    )
    return JSONResponse({"received": True, "item_known": known}, headers=NO_STORE)


def webhook_routes(ctx: BridgeContext) -> list[Route]:
    return [Route(WEBHOOK_PATH, partial(plaid_webhook, ctx), methods=["POST"])]
