"""The board's HTTP routes (Starlette).

==========================  ==================================================================
``POST /api/events``        Bearer token; JSON ``{"events": [...]}`` -> ``{"stored": n,
                            "duplicates": k}``; all or nothing; 400 / 401 / 413 / 415
``GET /api/progress``       Bearer token or the page's session cookie -> every trainee with
                            every notebook (see :mod:`.progress`)
``GET /``                   the board, or the sign-in form without a session
``POST /login``             form ``token=...`` -> session cookie and 303 to the board; else 401
``POST|GET /logout``        ends the session, 303 to the form
``GET /healthz``            liveness, no token
``/static/...``             the page's CSS, script and icon
==========================  ==================================================================

Under a ``prefix`` (JupyterHub's ``/services/board/``) every route lives below it; ``/healthz``
answers at both places. Client mistakes get a JSON 4xx naming the problem, never a 5xx. The
session cookie holds a random id; the store keeps only its HMAC under the token, so changing
the token ends every session.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..http_plumbing import (
    NO_STORE,
    BadContentLength,
    BodyTooLarge,
    SecurityHeaders,
    read_limited,
)
from ..progress.events import Event, EventError, from_dict
from . import page
from .progress import board_progress, progress_json
from .store import BoardStore, BoardStoreError

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 1000
MAX_FORM_BYTES = 4096
SESSION_COOKIE = "kore_plaid_board"
SESSION_SECONDS = 12 * 3600
EVENT_FIELDS = ("trainee", "notebook", "step", "status", "message", "fix", "at", "id")


class RequestProblem(Exception):
    """A client's mistake: answered with ``status`` and a JSON error, nothing stored."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def error_json(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status, headers={**NO_STORE, **headers})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) without reading it all."""
    try:
        return await read_limited(request, limit)
    except BadContentLength:
        raise RequestProblem(400, "invalid_request", "Content-Length is not a number.") from None
    except BodyTooLarge:
        raise RequestProblem(413, "request_too_large", _too_large(limit)) from None


def _too_large(limit: int) -> str:
    return f"The body is larger than {limit // 1024} KB; send the events in smaller batches."


def _normal_time(at: str) -> str:
    """``at`` in UTC, ``...T..:..:..mmmZ``, so that times from any offset sort as text."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_events(body: bytes) -> list[Event]:
    """The events of a ``{"events": [...]}`` body, every one valid, else :class:`RequestProblem`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 JSON"
        raise RequestProblem(400, "invalid_request", f"The body is not JSON: {detail}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise RequestProblem(
            400, "invalid_request", 'The body must be a JSON object {"events": [event, ...]}.'
        )
    items = data["events"]
    if len(items) > MAX_EVENTS:
        raise RequestProblem(
            413,
            "request_too_large",
            f"{len(items)} events in one request; send at most {MAX_EVENTS} at a time.",
        )
    events = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, dict):
                for name in EVENT_FIELDS:
                    value = item.get(name)
                    if isinstance(value, str):
                        value.encode("utf-8")  # a lone surrogate cannot be stored or shown
            event = from_dict(item)
            at = _normal_time(event.at)
            events.append(dataclasses.replace(event, trainee=event.trainee.strip(), at=at))
        except OverflowError:
            raise RequestProblem(
                400, "invalid_request", f"events[{index}]: event field 'at' is out of range."
            ) from None
        except UnicodeEncodeError:
            raise RequestProblem(
                400, "invalid_request", f"events[{index}]: a field is not valid Unicode text."
            ) from None
        except EventError as exc:
            raise RequestProblem(400, "invalid_request", f"events[{index}]: {exc}.") from None
    return events


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BoardEndpoints:
    """The board's endpoints over one store and its token (each a method, routed by
    :func:`build_app`)."""

    def __init__(self, store: BoardStore, token: str, stuck_after_seconds: float) -> None:
        if not token:
            raise ValueError("the board needs a token")
        self.store = store
        self.secret = token.encode("utf-8")
        self.stuck_after_seconds = stuck_after_seconds

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.secret)

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def session_digest(self, session_id: str) -> str:
        data = session_id.encode("utf-8", "replace")
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    async def session_ok(self, request: Request) -> bool:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return False
        digest = self.session_digest(session_id)
        return await run_in_threadpool(self.store.has_session, digest, time.time())

    async def post_events(self, request: Request) -> Response:
        if not self.bearer_ok(request):
            return unauthorized()
        if not _is_json(request.headers.get("content-type", "")):
            return error_json(
                415, "unsupported_media_type", "Send the events as Content-Type: application/json."
            )
        try:
            events = parse_events(await read_body(request, MAX_BODY_BYTES))
        except RequestProblem as problem:
            return error_json(problem.status, problem.error, problem.description)
        stored = await run_in_threadpool(self.store.add, events)
        body = {"stored": stored, "duplicates": len(events) - stored}
        return JSONResponse(body, headers=NO_STORE)

    async def get_progress(self, request: Request) -> Response:
        if not (self.bearer_ok(request) or await self.session_ok(request)):
            return unauthorized()
        rows = await run_in_threadpool(self.store.by_trainee)
        trainees = board_progress(rows, time.time(), self.stuck_after_seconds)
        return JSONResponse(progress_json(trainees), headers=NO_STORE)

    async def board(self, request: Request) -> Response:
        if await self.session_ok(request):
            return page.board_page(self.stuck_after_seconds)
        return page.login_page()

    async def login(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_FORM_BYTES)
        except RequestProblem:
            return page.login_page("That is not a board token (far too long).", 400)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not self.token_matches(form.get("token", "").strip()):
            return page.login_page(
                "That token is not this board's token. Check for a missing or extra character, "
                "or copy it again from where the board was started.",
                401,
            )
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        await run_in_threadpool(
            self.store.add_session, self.session_digest(session_id), now + SESSION_SECONDS, now
        )
        response = RedirectResponse(base_path(request), status_code=303, headers=NO_STORE)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=SESSION_SECONDS,
            path=base_path(request),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await run_in_threadpool(self.store.drop_session, self.session_digest(session_id))
        response = RedirectResponse(base_path(request), status_code=303, headers=NO_STORE)
        response.delete_cookie(
            SESSION_COOKIE, path=base_path(request), httponly=True, samesite="strict"
        )
        return response


def base_path(request: Request) -> str:
    """This board's own path (``/`` or ``/services/board/``), for redirects and cookies."""
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/") + "/"


def unauthorized() -> JSONResponse:
    return error_json(
        401,
        "invalid_token",
        "Send the board's token as 'Authorization: Bearer <KORE_PLAID_BOARD_TOKEN>'.",
        **{"WWW-Authenticate": 'Bearer realm="kore-plaid board"'},
    )


async def login_form(request: Request) -> Response:
    return RedirectResponse(base_path(request), status_code=303, headers=NO_STORE)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "board"}, headers=NO_STORE)


async def store_error(request: Request, exc: Exception) -> Response:
    return error_json(
        503,
        "temporarily_unavailable",
        "The board's database cannot answer right now; nothing was half-stored.",
        **{"Retry-After": "5"},
    )


def mounted_at(prefix: str, routes: list[BaseRoute]) -> list[BaseRoute]:
    """``routes`` under ``prefix`` (``/`` and ``/healthz`` answer at the top too)."""
    mount_at = "/" + prefix.strip("/")
    if mount_at == "/":
        return routes

    async def to_prefix(request: Request) -> Response:
        return RedirectResponse(mount_at + "/", status_code=303)

    return [
        Route("/", to_prefix, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount(mount_at, routes=routes),
    ]


def build_app(
    store: BoardStore,
    token: str,
    stuck_after_seconds: float = 600,
    prefix: str = "/",
) -> Starlette:
    """The board as an ASGI app over ``store``; ``token`` is what trainees and the trainer use."""
    board = BoardEndpoints(store, token, stuck_after_seconds)
    routes: list[BaseRoute] = [
        Route("/", board.board, methods=["GET"]),
        Route("/login", board.login, methods=["POST"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/logout", board.logout, methods=["GET", "POST"]),
        Route("/api/events", board.post_events, methods=["POST"]),
        Route("/api/progress", board.get_progress, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=mounted_at(prefix, routes),
        middleware=[Middleware(SecurityHeaders, every_response=page.SECURITY_HEADERS)],
        exception_handlers={BoardStoreError: store_error},
    )
    app.state.store = store
    return app
