"""HTTP plumbing shared by the bridge and the board, on Starlette and the standard library
only (so the board does not load the bridge):

* :func:`read_limited`: a request body, refusing more than a limit without reading it all
  (:class:`BodyTooLarge`, :class:`BadContentLength`);
* :data:`NO_STORE`: the headers of an answer no cache may keep;
* :func:`bearer_token`: the token of an ``Authorization: Bearer`` header;
* :class:`SecurityHeaders`: headers added to every response (pure ASGI, no body buffering);
* :class:`LoopbackOnly`: a service bound to loopback answers only at its own addresses, and
  refuses cross-site form and text posts where it expects JSON.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "NO_STORE",
    "BadContentLength",
    "BodyTooLarge",
    "LoopbackOnly",
    "SecurityHeaders",
    "bearer_token",
    "read_limited",
]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; "" when there is none."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


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


# what a browser may send cross-site without asking first (no CORS preflight)
SIMPLE_MEDIA_TYPES = ("", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class LoopbackOnly:
    """For a service bound to a loopback address (pure ASGI):

    * a ``Host`` other than its own (``127.0.0.1:<port>``, ``localhost:<port>``,
      ``[::1]:<port>``) is refused with 421: a web page whose name was re-pointed at
      127.0.0.1 (DNS rebinding) cannot talk to it;
    * a cross-site form or text post (``Origin`` not its own, a media type a page may send
      without asking) is refused with 403, except under ``form_paths`` (its own HTML forms).

    A service bound to another address (a container's, a test client's) is left as it is.
    """

    def __init__(self, app: ASGIApp, form_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.form_paths = form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, text = refusal
        await PlainTextResponse(text, status, headers={"Connection": "close"})(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        server = scope.get("server") or ("", 0)
        if not _loopback(str(server[0])):
            return None
        own = own_hosts(int(server[1] or 0))
        headers = Headers(scope=scope)
        host = headers.get("host", "").strip().lower()
        if host and host not in own:
            return 421, (
                f"This service answers only at http://{own[0]}/ (its own address), not at "
                "the host this request named. Open it at that address."
            )
        if self._cross_site_post(scope, headers, own):
            return 403, (
                "Cross-site form or text posts are refused here: send JSON "
                "(Content-Type: application/json) from this machine."
            )
        return None

    def _cross_site_post(self, scope: Scope, headers: Headers, own: tuple[str, ...]) -> bool:
        """A post a foreign page could send without asking, to a path that expects JSON."""
        origin = headers.get("origin", "").strip().lower()
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        path = str(scope["path"])
        return (
            scope["method"] not in SAFE_METHODS
            and bool(origin)
            and origin.removeprefix("http://") not in own
            and media_type in SIMPLE_MEDIA_TYPES
            and not any(path.startswith(prefix) for prefix in self.form_paths)
        )


def own_hosts(port: int) -> tuple[str, ...]:
    """The ``Host`` values of a loopback service on ``port``."""
    names = ("127.0.0.1", "localhost", "[::1]")
    return tuple(f"{name}:{port}" for name in names) + (names if port == 80 else ())


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"
