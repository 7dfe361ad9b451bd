"""Each HTTP request's language (pure ASGI): :func:`.negotiation.negotiate` over the query
and ``Accept-Language``, set for the whole request (pages, refusals, the browser API's
JSON); a route that knows better (the session's language, the Item's) calls
:func:`..choose`."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from . import _current
from .negotiation import QUERY_PARAMETERS, negotiate


def query_languages(scope: Scope) -> dict[str, str]:
    """The query's language parameters (first value of each); never raises."""
    raw = scope.get("query_string", b"").decode("latin-1")
    found: dict[str, str] = {}
    if any(name in raw for name in QUERY_PARAMETERS):
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name in QUERY_PARAMETERS:
                found.setdefault(name, value)
    return found


def accept_language(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return bytes(value).decode("latin-1")
    return None


class Languages:
    """Sets :func:`..current_language` for each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _current.set(negotiate(query_languages(scope), accept_language(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
