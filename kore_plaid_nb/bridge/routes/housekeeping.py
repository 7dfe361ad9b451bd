"""What keeps the bridge running: the sweep (every :data:`PURGE_INTERVAL_SECONDS`, and at
start, expired sessions and codes are deleted and the Items no one can use any more, whose code
Kore never redeemed or whose grant was revoked, are removed at Plaid), the app's lifespan,
``/healthz`` (liveness), ``/readyz`` (the store answers, else 503) and ``/openapi.yaml``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import AuditEvent, record_audit
from ..http import NO_STORE
from ..store import StoreUnavailable
from .context import BridgeContext

PURGE_INTERVAL_SECONDS = 300.0
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
log = logging.getLogger("kore_plaid_nb.bridge")


def sweep(ctx: BridgeContext) -> None:
    """Delete expired records; remove at Plaid the Items no one can use any more."""
    store, link = ctx.store, ctx.link
    store.purge_expired()
    store.purge_expired_repair_links()
    store.purge_audit(ctx.settings.bridge_audit_days)
    store.fill_missing_refs()
    for item_ref, access_token in store.abandoned_items():
        if link.remove_item(access_token) or not link.item_exists(access_token):
            store.mark_item_removed(item_ref)
            record_audit(store, AuditEvent.ITEM_REMOVED, item_ref, "no one could use it any more")


async def sweep_forever(ctx: BridgeContext) -> None:
    while True:
        try:
            await run_in_threadpool(sweep, ctx)
        except StoreUnavailable as exc:
            log.warning("expired records not swept: %s", exc.message)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)


def lifespan(ctx: BridgeContext) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the sweep runs while it serves (and, on SQLite, the request
    recorder writes from the loop); the Plaid pool and the store close after."""

    @contextlib.asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(sweep_forever(ctx))
        if ctx.inline_refresh:  # SQLite: Kore's request shapes stored from the loop
            ctx.recorder.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            ctx.recorder.detach()  # what is queued goes to the writer thread
            await run_in_threadpool(ctx.recorder.flush)
            await ctx.link.aclose()  # the hot path's Plaid pool (:mod:`..plaid_async`)
            ctx.store.close()

    return serving


async def healthz(ctx: BridgeContext, request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "bridge", "mode": ctx.settings.mode})


async def readyz(ctx: BridgeContext, request: Request) -> Response:
    await run_in_threadpool(ctx.store.check)
    return JSONResponse({"status": "ok", "store": ctx.store.dialect}, headers=NO_STORE)


async def openapi(request: Request) -> Response:
    return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")


def housekeeping_routes(ctx: BridgeContext) -> list[Route]:
    return [
        Route("/healthz", partial(healthz, ctx), methods=["GET"]),
        Route("/readyz", partial(readyz, ctx), methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
    ]
