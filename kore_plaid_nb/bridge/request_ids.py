"""Every request's id, its one log line, and what the bridge's logs and audit trail may say
about a request.

:class:`RequestIds` (pure ASGI, outermost) gives each HTTP request an id: the
``X-Request-Id`` a trusted proxy (``FORWARDED_ALLOW_IPS``) passes on when it is a sane one
(:data:`SANE_REQUEST_ID`: letters, digits and ``._:-``, at most 64), else a new random one,
even when the caller sent one (anyone could otherwise pick the id its requests are logged
and audited under). It goes back in the response's ``X-Request-Id`` header, onto the error
pages and JSON errors (:mod:`.refusal`) and into the audit trail (:mod:`.audit`) with the
client's address (:func:`current_request`, a context variable that the thread pool's hops
inherit).

The trust is decided on the direct peer, so the bridge applies the proxy headers itself
(uvicorn's :class:`ProxyHeadersMiddleware`, right after the decision): its servers must not
ask uvicorn to (:func:`..serving.serve` and friends, without ``forwarded_allow_ips``).

Logs name a request by its route's template (``/repair/{token}/link_token``), never by the
path asked for, which may hold a secret (:func:`route_template`, :func:`logged_path`). Each
request ends with one ``http_request`` line (INFO): method, route template, status,
duration; never the query, a header or the client's address.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

REQUEST_ID_HEADER = "X-Request-Id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
NO_ROUTE = "(no route)"
REQUEST_EVENT = "http_request"
_ID_KEY = "kore_plaid.request_id"  # the id, from the direct peer's side of the proxy headers

request_log = logging.getLogger("kore_plaid_nb.bridge.requests")


@dataclass(frozen=True)
class RequestContext:
    """The request being served: its id, the client's address (``X-Forwarded-For`` only
    from ``FORWARDED_ALLOW_IPS``) and the audit records it has stored
    (:func:`.audit.record_audit` stores each once, though a SQLite refresh may run twice: on
    the event loop, then in the thread pool)."""

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


def current_request_id() -> str | None:
    current = _current.get()
    return current.request_id if current else None


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


def log_request(scope: Scope, status: int | None, started: float) -> None:
    """The request's one ``http_request`` line (its id comes from the context)."""
    if not request_log.isEnabledFor(logging.INFO):  # text logs' default level: warning
        return
    method = str(scope.get("method", ""))
    route = route_template(scope)
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    request_log.info(
        "%s %s %s %.1f ms",
        method,
        route,
        status if status is not None else "-",
        duration_ms,
        extra={
            "event": REQUEST_EVENT,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        },
    )


class RequestIds:
    """Gives each HTTP request its id (see the module docstring), applies the trusted
    proxies' headers, echoes the id and logs the request's line."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        proxied = ProxyHeadersMiddleware(cast(Any, self._serve), list(trusted_proxies))
        self.proxied = cast(ASGIApp, proxied)
        self.trusted = proxied.trusted_hosts

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        peer = scope.get("client")
        return peer is not None and peer[0] in self.trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        passed_on = incoming_request_id(scope) if self._from_trusted_proxy(scope) else None
        scope[_ID_KEY] = passed_on or new_request_id()
        await self.proxied(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(scope[_ID_KEY])
        client = scope.get("client")
        context = RequestContext(request_id, str(client[0]) if client else None)
        started, status = time.perf_counter(), None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                _logged_path.set(route_template(scope))  # read by the access log's filter
            await send(message)

        token = _current.set(context)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500
            raise
        finally:
            log_request(scope, status, started)
            _current.reset(token)
