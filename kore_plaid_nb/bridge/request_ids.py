"""Every request's id, and what the bridge's logs and audit trail may say about a request.

:class:`RequestIds` (pure ASGI, outermost) gives each HTTP request an id: the caller's
``X-Request-Id`` when it is a sane one (:data:`SANE_REQUEST_ID`: letters, digits and
``._:-``, at most 64), else a new random one; it goes back in the response's
``X-Request-Id`` header, into the 500 page of an unexpected error and into the audit trail
(:mod:`.audit`) with the client's address (:func:`current_request`, a context variable that
the thread pool's hops inherit).

Logs name a request by its route's template (``/repair/{token}/link_token``), never by the
path asked for, which may hold a secret (:func:`route_template`, :func:`logged_path`).
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
NO_ROUTE = "(no route)"


@dataclass(frozen=True)
class RequestContext:
    """The request being served: its id, the client's address (as uvicorn reports it:
    ``X-Forwarded-For`` only from ``FORWARDED_ALLOW_IPS``) and the audit records it has
    stored (:func:`.audit.record_audit` stores each once, though a SQLite refresh may run
    twice: on the event loop, then in the thread pool)."""

    request_id: str
    client: str | None
    audited: set[tuple[str, str | int | None, str | None]] = field(
        default_factory=set, compare=False, repr=False
    )


_current: ContextVar[RequestContext | None] = ContextVar("bridge_request", default=None)
_logged_path: ContextVar[str | None] = ContextVar("bridge_logged_path", default=None)


def current_request() -> RequestContext | None:
    """The request this code runs for (in its thread-pool hops too), or None outside one."""
    return _current.get()


def logged_path() -> str | None:
    """The route template of the response being started (what an access log may print)."""
    return _logged_path.get()


def new_request_id() -> str:
    return secrets.token_hex(8)


def route_template(scope: Scope) -> str:
    """The path of the route that served ``scope`` as declared (``/repair/{token}``), never
    the path asked for, which may hold a secret."""
    route = scope.get("route")
    return str(getattr(route, "path", "")) or NO_ROUTE


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's one ``X-Request-Id``, when sane; else None."""
    sent = Headers(scope=scope).getlist(REQUEST_ID_HEADER)
    if len(sent) == 1 and SANE_REQUEST_ID.fullmatch(sent[0]):
        return sent[0]
    return None


class RequestIds:
    """Gives each HTTP request its id (see the module docstring) and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_request_id()
        client = scope.get("client")
        context = RequestContext(request_id, str(client[0]) if client else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                _logged_path.set(route_template(scope))  # read by the access log's filter
            await send(message)

        token = _current.set(context)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
