"""Store steps of a request: on the event loop for SQLite, in the thread pool otherwise.

A SQLite step (a few short statements on a local file, no fsync) costs less than the hop
to the thread pool. It runs on the loop only when no lock must be waited for
(``waiting_at_most(0)``); a lock held by another request, thread or program makes it
:class:`..store.StoreUnavailable` before anything was changed, and the thread pool then runs
it again, waiting as it always did. PostgreSQL's steps always run in the thread pool.

A step given to :func:`store_step` must therefore change nothing before it can fail for a
lock: at most one write transaction, after its reads, or writes that may run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from ..store import StoreUnavailable
from .context import BridgeContext

P = ParamSpec("P")
T = TypeVar("T")


async def store_step(
    ctx: BridgeContext, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``step(*args, **kwargs)``: on the event loop when the store is SQLite and its lock is
    free, else in the thread pool."""
    if ctx.inline_refresh:
        try:
            with ctx.store.waiting_at_most(0):
                return step(*args, **kwargs)
        except StoreUnavailable:
            pass  # a lock is held: nothing was changed; wait for it in the thread pool
    return await run_in_threadpool(step, *args, **kwargs)
