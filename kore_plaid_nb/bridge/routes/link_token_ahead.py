"""The authorization page's Link token, asked of Plaid while the browser loads the page.

The page opens Plaid Link by itself as soon as it runs, so a browser that navigates to it is
a browser that opens Link: its ``GET /`` starts the Link token's Plaid call (on the event
loop), and the page's ``POST /api/link_token`` takes that call's answer (:meth:`take`)
instead of making its own. One Plaid call, one Link token counted for the session.

A real navigation is told by the browser's Fetch Metadata (W3C "Fetch Metadata Request
Headers"; the Fetch standard for ``Sec-Purpose``): ``Sec-Fetch-Mode: navigate`` and
``Sec-Fetch-Dest: document``, with no ``Sec-Purpose``/``Purpose`` naming a prefetch or a
prerender. Link previewers, crawlers and HTTP clients send none of them, so they still cost no
Plaid call (issue 15); a browser without Fetch Metadata asks when its script runs, as before.

The calls in flight live in this process: a ``POST`` that reaches another replica (or comes
after :data:`KEEP_SECONDS`) finds nothing here and asks Plaid itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from functools import partial
from typing import Any, Generic, TypeVar

__all__ = ["KEEP_SECONDS", "LinkTokensAhead", "is_browser_navigation"]

T = TypeVar("T")
KEEP_SECONDS = 120.0  # an answer no page came for is dropped after that


def is_browser_navigation(headers: Mapping[str, str]) -> bool:
    """A browser opening the page for its user (Fetch Metadata), not a prefetch or prerender."""
    if headers.get("sec-fetch-mode") != "navigate" or headers.get("sec-fetch-dest") != "document":
        return False
    purpose = f"{headers.get('sec-purpose', '')} {headers.get('purpose', '')}".lower()
    return "prefetch" not in purpose and "prerender" not in purpose


class LinkTokensAhead(Generic[T]):
    """Calls started for a session before its page asks, each taken once."""

    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self._keep = keep_seconds
        self._pending: dict[str, asyncio.Task[T]] = {}

    async def start(self, session_id: str, call: Coroutine[Any, Any, T]) -> None:
        """Run ``call`` on the running event loop, for the session's page to take; returns
        once it waits (for Plaid), so that its request leaves before the page is rendered."""
        task = asyncio.get_running_loop().create_task(call)
        self._pending[session_id] = task
        task.add_done_callback(partial(self._finished, session_id))
        await asyncio.sleep(0)

    def take(self, session_id: str) -> asyncio.Future[T] | None:
        """The session's call (done or not), once; None when this process started none."""
        task = self._pending.pop(session_id, None)
        # shielded: a page that goes away while waiting does not cancel the Plaid call
        return None if task is None else asyncio.shield(task)

    def _finished(self, session_id: str, task: asyncio.Task[T]) -> None:
        if not task.cancelled():
            task.exception()  # read here; the page's request raises it again (or nobody came)
        task.get_loop().call_later(self._keep, self._drop, session_id, task)

    def _drop(self, session_id: str, task: asyncio.Task[T]) -> None:
        if self._pending.get(session_id) is task:
            del self._pending[session_id]

    def __len__(self) -> int:
        return len(self._pending)
