"""The bridge's request and response plumbing, shared by its route modules:

* bodies: :func:`read_body` (413 above a limit, without reading it all; on
  :func:`..http_plumbing.read_limited`), :func:`parse_params` (a flat JSON object or a form,
  UTF-8 only), the JSON content-type check of the browser API (:func:`read_json_body`,
  :func:`read_json_params`: 415 otherwise);
* headers: :data:`NO_STORE` (from :mod:`..http_plumbing`, with :class:`SecurityHeaders`);
* failures: a client that leaves mid-body (:func:`client_disconnected`), a store that cannot
  answer (:func:`store_unavailable`: 503 with ``Retry-After``), and a programming error
  (:class:`UnexpectedErrors`: logged once, 500 with the request's id, see
  :mod:`.request_ids`). Log lines name a request by its route's template, never its path.

Refusals are :class:`.refusal.Refusal`: JSON for API calls, a page for the browser.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..http_plumbing import (
    NO_STORE,
    BadContentLength,
    BodyTooLarge,
    SecurityHeaders,
    read_limited,
)
from .i18n import N_
from .metrics import recording
from .refusal import Refusal, Refused
from .request_ids import current_request, new_request_id, route_template
from .store import StoreKeyError, StoreUnavailable

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
    "read_json_body",
    "read_json_params",
    "read_limited",
    "store_unavailable",
    "wants_json",
]

MAX_BODY_BYTES = 16 * 1024
JSON_MEDIA_TYPE = "application/json"
API_PATHS = ("/api/", "/oauth/", "/plaid/")
# Machines' endpoints (Kore's token endpoint, Plaid's webhook, Prometheus): English answers.
MACHINE_PATHS = ("/api/send_the_access_token_AUTH", "/oauth/", "/plaid/", "/metrics")
# Texts the pages' API calls may show the end user: msgids (:mod:`.i18n`, ``messages``).
NOT_UTF8 = N_("The body is not UTF-8 text: send every parameter as UTF-8 (no lone surrogates).")
SEND_JSON_PARAMETERS = N_("Send the parameters as one flat JSON object of texts, in UTF-8.")
SEND_FORM_PARAMETERS = (
    "Send the parameters as a UTF-8 form (application/x-www-form-urlencoded), as RFC 6749 "
    "4.1.3 describes, or as one flat JSON object of texts."
)  # forms: the token endpoint's only (English)
SEND_CONTENT_LENGTH = N_("Send a Content-Length that is the body's size in bytes, or none.")
log = logging.getLogger("kore_plaid_nb.bridge")


@dataclass(frozen=True)
class Redirect:
    """An outcome that sends the browser on: 303 (see other), or 302 for RFC 6749's error
    redirects."""

    location: str
    status_code: int = 303

    def response(self) -> RedirectResponse:
        return RedirectResponse(self.location, self.status_code, headers=NO_STORE)


def invalid_request(message: str, fix: str) -> Refusal:
    return Refusal(400, "invalid_request", message, fix)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """:func:`read_limited`, refused as ``invalid_request``: 413 above ``limit``, 400 for a
    Content-Length that is not a number."""
    try:
        return await read_limited(request, limit)
    except BadContentLength:
        refusal = invalid_request(N_("Content-Length is not a number."), SEND_CONTENT_LENGTH)
        raise Refused(refusal) from None
    except BodyTooLarge:
        too_large = Refusal(
            413,
            "invalid_request",
            N_("The request body is too large."),
            N_("Send at most %(kib)s KiB."),
            values={"kib": limit // 1024},
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
        raise Refused(invalid_request(NOT_UTF8, SEND_FORM_PARAMETERS)) from None


def _json_params(body: bytes) -> list[tuple[str, str]]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise Refused(_not_json_params(N_("The JSON body is nested too deeply."))) from None
    except UnicodeDecodeError:
        raise Refused(_not_json_params(NOT_UTF8)) from None
    except ValueError:
        raise Refused(_not_json_params(N_("The body is not valid JSON."))) from None
    if not isinstance(data, dict):
        raise Refused(_not_json_params(N_("The JSON body must be an object.")))
    pairs = []
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            if not _is_utf8(name):
                raise Refused(_not_json_params(NOT_UTF8))
            not_text = _not_json_params(N_("Parameter %(name)s must be a string."))
            raise Refused(replace(not_text, values={"name": repr(name)}))
        pairs.append((name, str(value)))
    if not all(_is_utf8(name) and _is_utf8(value) for name, value in pairs):
        raise Refused(_not_json_params(NOT_UTF8))
    return pairs


def _not_json_params(message: str) -> Refusal:
    return invalid_request(message, SEND_JSON_PARAMETERS)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NOT_JSON = Refusal(
    415,
    "unsupported_media_type",
    N_(
        "This endpoint takes a JSON body (Content-Type: application/json), as the "
        "authorization page sends it."
    ),
    N_("Send the request with Content-Type: application/json and a JSON object body."),
)


def is_json_body(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == JSON_MEDIA_TYPE


async def read_json_body(request: Request) -> bytes:
    """The body of a browser API call: a JSON body (else 415), read within
    :data:`MAX_BODY_BYTES` (else 413 / 400), not parsed; refusals raised as :class:`Refused`."""
    if not is_json_body(request):
        raise Refused(NOT_JSON)
    return await read_body(request)


async def read_json_params(request: Request) -> dict[str, str]:
    """The parameters of a browser API call: :func:`read_json_body`, parsed (else 400)."""
    return dict(parse_params(await read_json_body(request), JSON_MEDIA_TYPE))


def wants_json(connection: HTTPConnection) -> bool:
    return "application/json" in connection.headers.get("accept", "")


def answers_json(connection: HTTPConnection) -> bool:
    """An API call (the page's, Kore's, Plaid's) rather than a browser's page."""
    return connection.url.path.startswith(API_PATHS) or wants_json(connection)


def for_people(connection: HTTPConnection) -> bool:
    """Whether the answer may be translated: not a machine's endpoint (:data:`MACHINE_PATHS`)."""
    return not connection.url.path.startswith(MACHINE_PATHS)


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
    """The store cannot answer (database down or restarting): 503 with Retry-After, logged
    and counted."""
    retry_after = getattr(exc, "retry_after", StoreUnavailable.retry_after)
    recording.store_unavailable()
    log.warning("store unavailable: %s", getattr(exc, "message", exc))
    if isinstance(exc, StoreKeyError):  # a wrong or missing encryption key: nothing changed
        return Refusal(
            503,
            "temporarily_unavailable",
            N_(
                "The bridge cannot decrypt this authorization's stored Plaid token: its "
                "encryption key is not configured here."
            ),
            N_(
                "Ask the bridge's operator to set BRIDGE_ENCRYPTION_KEY (or "
                "BRIDGE_ENCRYPTION_KEYS) to the key that sealed it; nothing was changed, so "
                "retry afterwards."
            ),
            headers={"Retry-After": str(retry_after)},
            title=N_("Please try again later"),
        )
    return Refusal(
        503,
        "temporarily_unavailable",
        N_("The bridge's database cannot answer right now."),
        N_("Retry in %(seconds)s seconds; nothing was half-done."),
        headers={"Retry-After": str(retry_after)},
        title=N_("Please try again in a moment"),
        values={"seconds": retry_after},
    )


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """:func:`store_unavailable_refusal` as JSON for API calls, else as a page."""
    refusal = store_unavailable_refusal(exc)
    if answers_json(request):
        return refusal.json(translated=for_people(request))
    for_the_browser = replace(
        refusal,
        message=N_(
            "This sign-in service is briefly unavailable: its database cannot answer, and "
            "nothing was saved half-way."
        ),
        fix=N_(
            "Wait %(seconds)s seconds, then reload this page (or start again from the Kore "
            "conversation)."
        ),
        values={"seconds": refusal.headers["Retry-After"]},
    )
    return for_the_browser.page()


def server_error(request_id: str) -> Refusal:
    return Refusal(
        500,
        "server_error",
        N_("The bridge failed unexpectedly (request id %(request_id)s)."),
        N_(
            "Try again in a moment; if it keeps failing, give the bridge's operator the "
            "request id %(request_id)s: the bridge's log has the details."
        ),
        details={"request_id": request_id},
        values={"request_id": request_id},
    )


def without_values(exc: BaseException) -> str:
    """An exception's types and frames, never its messages: those may quote a token, a
    code or a database URL."""
    chain: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 5:
        frames = traceback.extract_tb(seen.__traceback__)
        where = " <- ".join(
            f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in frames[-6:][::-1]
        )
        chain.append(f"{type(seen).__name__} at {where or '?'}")
        seen = seen.__cause__ or seen.__context__
    return "; caused by ".join(chain)


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
        except Exception as exc:
            current = current_request()
            request_id = current.request_id if current else new_request_id()
            log.error(
                "unexpected error in %s %s (request id %s): %s",
                scope.get("method", ""),
                route_template(scope),
                request_id,
                without_values(exc),
            )
            if started:  # too late to answer: the client sees the response cut short
                return
            refusal = server_error(request_id)
            connection = HTTPConnection(scope)
            response: Response
            if answers_json(connection):
                response = refusal.json(translated=for_people(connection))
            else:
                response = refusal.page()
            await response(scope, receive, send)
