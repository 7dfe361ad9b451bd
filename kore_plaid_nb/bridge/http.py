"""The bridge's request and response plumbing, shared by its route modules (and the board's
body limit and security headers):

* bodies: :func:`read_limited` / :func:`read_body` (413 above a limit, without reading it
  all), :func:`parse_params` (a flat JSON object or a form, UTF-8 only), the JSON
  content-type check of the browser API (:func:`read_json_params`: 415 otherwise);
* headers: :data:`NO_STORE`, and :class:`SecurityHeaders` (pure ASGI, no body buffering);
* failures: a client that leaves mid-body (:func:`client_disconnected`), a store that cannot
  answer (:func:`store_unavailable`: 503 with ``Retry-After``), and a programming error
  (:class:`UnexpectedErrors`: logged once, 500 with a request id).

Refusals are :class:`.refusal.Refusal`: JSON for API calls, a page for the browser.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .refusal import NO_STORE, Refusal, Refused
from .store import StoreUnavailable

__all__ = [
    "NOT_JSON",
    "NO_STORE",
    "BadContentLength",
    "BodyTooLarge",
    "Redirect",
    "SecurityHeaders",
    "UnexpectedErrors",
    "client_disconnected",
    "is_json_body",
    "parse_params",
    "read_body",
    "read_json_params",
    "read_limited",
    "store_unavailable",
    "wants_json",
]

MAX_BODY_BYTES = 16 * 1024
JSON_MEDIA_TYPE = "application/json"
API_PATHS = ("/api/", "/oauth/", "/plaid/")
NOT_UTF8 = "The body is not UTF-8 text: send every parameter as UTF-8 (no lone surrogates)."
SEND_PARAMETERS = "Send the parameters as one flat JSON object of texts, in UTF-8."
log = logging.getLogger("kore_plaid_nb.bridge")


@dataclass(frozen=True)
class Redirect:
    """An outcome that sends the browser on: 303 (see other), or 302 for RFC 6749's error
    redirects."""

    location: str
    status_code: int = 303

    def response(self) -> RedirectResponse:
        return RedirectResponse(self.location, self.status_code, headers=NO_STORE)


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


def invalid_request(message: str, fix: str = SEND_PARAMETERS) -> Refusal:
    return Refusal(400, "invalid_request", message, fix)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """:func:`read_limited`, refused as ``invalid_request``: 413 above ``limit``, 400 for a
    Content-Length that is not a number."""
    try:
        return await read_limited(request, limit)
    except BadContentLength:
        raise Refused(invalid_request("Content-Length is not a number.")) from None
    except BodyTooLarge:
        too_large = Refusal(
            413,
            "invalid_request",
            "The request body is too large.",
            f"Send at most {limit // 1024} KiB.",
        )
        raise Refused(too_large) from None


def parse_params(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Body parameters from a JSON object or a form; anything else is refused as
    ``invalid_request``: nesting too deep to parse, names or values that are not UTF-8 (raw,
    percent-encoded or JSON-escaped lone surrogates) included."""
    if "json" in content_type.lower():
        return _json_params(body)
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise Refused(invalid_request(NOT_UTF8)) from None


def _json_params(body: bytes) -> list[tuple[str, str]]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise Refused(invalid_request("The JSON body is nested too deeply.")) from None
    except UnicodeDecodeError:
        raise Refused(invalid_request(NOT_UTF8)) from None
    except ValueError:
        raise Refused(invalid_request("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise Refused(invalid_request("The JSON body must be an object."))
    pairs = []
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            message = f"Parameter {name!r} must be a string." if _is_utf8(name) else NOT_UTF8
            raise Refused(invalid_request(message))
        pairs.append((name, str(value)))
    if not all(_is_utf8(name) and _is_utf8(value) for name, value in pairs):
        raise Refused(invalid_request(NOT_UTF8))
    return pairs


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NOT_JSON = Refusal(
    415,
    "unsupported_media_type",
    "This endpoint takes a JSON body (Content-Type: application/json), as the "
    "authorization page sends it.",
    "Send the request with Content-Type: application/json and a JSON object body.",
)


def is_json_body(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == JSON_MEDIA_TYPE


async def read_json_params(request: Request) -> dict[str, str]:
    """The parameters of a browser API call: a JSON body (else 415), read within
    :data:`MAX_BODY_BYTES` (else 413), parsed (else 400); refusals raised as :class:`Refused`."""
    if not is_json_body(request):
        raise Refused(NOT_JSON)
    return dict(parse_params(await read_body(request), JSON_MEDIA_TYPE))


def wants_json(connection: HTTPConnection) -> bool:
    return "application/json" in connection.headers.get("accept", "")


def answers_json(connection: HTTPConnection) -> bool:
    """An API call (the page's, Kore's, Plaid's) rather than a browser's page."""
    return connection.url.path.startswith(API_PATHS) or wants_json(connection)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that went away in the middle of its body: one log line, no traceback (the
    status is for the app's own records: no one is left to read it)."""
    log.warning(
        "client disconnected before sending the whole body: %s %s",
        request.method,
        route_template(request.scope),
    )
    return Response(status_code=400)


def store_unavailable_refusal(exc: Exception) -> Refusal:
    """The store cannot answer (database down or restarting): 503 with Retry-After, logged."""
    retry_after = getattr(exc, "retry_after", StoreUnavailable.retry_after)
    log.warning("store unavailable: %s", getattr(exc, "message", exc))
    return Refusal(
        503,
        "temporarily_unavailable",
        "The bridge's database cannot answer right now.",
        f"Retry in {retry_after} seconds; nothing was half-done.",
        headers={"Retry-After": str(retry_after)},
        title="Please try again in a moment",
    )


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """:func:`store_unavailable_refusal` as JSON for API calls, else as a page."""
    refusal = store_unavailable_refusal(exc)
    if answers_json(request):
        return refusal.json()
    retry_after = refusal.headers["Retry-After"]
    return Refusal(
        503,
        refusal.error,
        "This sign-in service is briefly unavailable: its database cannot answer, and "
        "nothing was saved half-way.",
        f"Wait {retry_after} seconds, then reload this page (or start again from the "
        "Kore conversation).",
        headers=refusal.headers,
        title=refusal.title,
    ).page()


def route_template(scope: Scope) -> str:
    """The path of the route that served ``scope`` as declared (``/repair/{token}``), never
    the path asked for, which may hold a secret."""
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "(no route)"


def server_error(request_id: str) -> Refusal:
    return Refusal(
        500,
        "server_error",
        f"The bridge failed unexpectedly (request id {request_id}).",
        "Try again in a moment; if it keeps failing, give the bridge's operator the request "
        f"id {request_id}: the bridge's log has the details.",
        details={"request_id": request_id},
    )


class UnexpectedErrors:
    """An exception no route expects (a programming error): logged once, with its traceback
    and the route's template, and answered 500 with a request id (JSON for API calls, else a
    page that shows it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            request_id = secrets.token_hex(8)
            log.exception(
                "unexpected error in %s %s (request id %s)",
                scope.get("method", ""),
                route_template(scope),
                request_id,
            )
            if started:  # too late to answer: the client sees the response cut short
                return
            refusal = server_error(request_id)
            connection = HTTPConnection(scope)
            response = refusal.json() if answers_json(connection) else refusal.page()
            await response(scope, receive, send)


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
