"""Store steps of a request: on the event loop for SQLite, in the thread pool otherwise.

A SQLite step (a few short statements on a local file, no fsync) costs less than the hop
to the thread pool. It runs on the loop only when no lock must be waited for
(``waiting_at_most(0)``). A lock held by another request, thread or program
(:class:`..store.StoreLocked`, raised before anything was changed) is tried again on the loop
after each of :data:`LOOP_PAUSES`, the loop serving other requests meanwhile: another
``--workers`` process holds the file's lock for a commit of well under a millisecond, and
waiting for it in the thread pool cost a hop, a thread and GIL hand-overs each time
(BENCHMARKS.md "Issue 28"). Held longer, or any other :class:`..store.StoreUnavailable`,
the thread pool runs the step again, waiting as it always did. PostgreSQL's steps always run
in the thread pool.

A step given to :func:`store_step` must therefore change nothing before it can fail for a
lock: at most one write transaction, after its reads, or writes that may run twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from ..store import StoreLocked, StoreUnavailable
from .context import BridgeContext

P = ParamSpec("P")
T = TypeVar("T")

# Seconds slept on the loop before each new try of a step that met a lock (about 15 ms in
# all); 0: after the loop's next turn. Three quick tries first: with --workers 2 the refresh
# grant's p99 was 18-21 ms with one, 12 ms with three (BENCHMARKS.md "Issue 28", "Round 5").
LOOP_PAUSES = (0.0, 0.0, 0.0, 0.001, 0.002, 0.004, 0.008)


async def on_the_loop(
    ctx: BridgeContext, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``step(*args, **kwargs)`` on the event loop, never waiting there for a lock: one that
    is held is tried again after each of :data:`LOOP_PAUSES`; :class:`..store.StoreLocked`
    when it is still held, :class:`..store.StoreUnavailable` for anything else."""
    for pause in LOOP_PAUSES:
        try:
            with ctx.store.waiting_at_most(0):
                return step(*args, **kwargs)
        except StoreLocked:
            await asyncio.sleep(pause)
    with ctx.store.waiting_at_most(0):
        return step(*args, **kwargs)


async def store_step(
    ctx: BridgeContext, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``step(*args, **kwargs)``: on the event loop when the store is SQLite and its lock is
    free within :data:`LOOP_PAUSES`, else in the thread pool."""
    if ctx.inline_refresh:
        try:
            return await on_the_loop(ctx, step, *args, **kwargs)
        except StoreUnavailable:
            pass  # nothing was changed: the thread pool waits for the store
    return await run_in_threadpool(step, *args, **kwargs)
