"""HTTP plumbing shared by the bridge and the board, on Starlette and the standard library
only (so the board does not load the bridge):

* :func:`read_limited`: a request body, refusing more than a limit without reading it all
  (:class:`BodyTooLarge`, :class:`BadContentLength`);
* :data:`NO_STORE`: the headers of an answer no cache may keep;
* :class:`SecurityHeaders`: headers added to every response (pure ASGI, no body buffering).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["NO_STORE", "BadContentLength", "BodyTooLarge", "SecurityHeaders", "read_limited"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class BodyTooLarge(Exception):
    """The body is above the limit (declared, or counted while read)."""


class BadContentLength(Exception):
    """A Content-Length that is not a number."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            raise BadContentLength(declared)
        if int(declared) > limit:
            raise BodyTooLarge(limit)
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class SecurityHeaders:
    """Adds ``every_response`` headers to every response, and ``pages`` headers to the HTML
    ones, unless the response sets them itself (pure ASGI: no body buffering)."""

    def __init__(
        self,
        app: ASGIApp,
        every_response: Mapping[str, str] | None = None,
        pages: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.every_response = dict(every_response or {})
        self.pages = dict(pages or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                self._add(headers, self.every_response)
                if headers.get("content-type", "").startswith("text/html"):
                    self._add(headers, self.pages)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _add(headers: MutableHeaders, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            headers.setdefault(name, value)
