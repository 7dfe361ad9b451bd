"""The board's HTTP routes (Starlette).

==========================  ==================================================================
``POST /api/events``        Bearer token (:mod:`.identity`); JSON ``{"events": [...]}`` ->
                            ``{"stored": n, "duplicates": k}`` (a trainee's token: plus
                            ``"trainee"``, the name every event was stored under); all or
                            nothing; 400 / 401 / 413 / 415 / 429 (:mod:`.limits`); the
                            error names one event (``"event": i``) when only it is wrong
``GET /api/progress``       the trainer's token or the page's session cookie -> every trainee
                            with every notebook (see :mod:`.progress`); a trainee's: 403
``GET /``                   the board; without a session the sign-in form (under JupyterHub:
                            a redirect to the Hub's sign-in, :mod:`.hub`)
``POST /login``             form ``token=...`` -> session cookie and 303 to the board; else
                            401 (403 for a trainee's token)
``GET /oauth_callback``     under JupyterHub: the end of the Hub's sign-in; trainers only
``POST|GET /logout``        ends the session, 303 to the form
``GET /healthz``            liveness, no token
``/static/...``             the page's CSS, script and icon
==========================  ==================================================================

Under a ``prefix`` (JupyterHub's ``/services/board/``) every route lives below it; ``/healthz``
answers at both places. Client mistakes get a JSON 4xx naming the problem, never a 5xx. The
session cookie holds a random id; the store keeps only its HMAC under the token, so changing
the trainer's token ends every session. Events are stored in the order received; an event
dated more than 2 minutes past the board's clock is refused (``clock_ahead``: the sender
keeps it and sends it again once its clock is right).
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
    bearer_token,
    read_limited,
)
from ..progress.events import Event, EventError, from_dict
from . import page
from .hub import STATE_COOKIE, HubIdentity, HubUnavailable
from .identity import Caller, Identities
from .limits import CAPS, MAX_FUTURE_SECONDS, PostBudget
from .progress import Memo, board_progress, progress_json, seconds
from .store import BoardStore, BoardStoreError, Caps, OverCap

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 1000
MAX_FORM_BYTES = 4096
SESSION_COOKIE = "kore_plaid_board"
SESSION_SECONDS = 12 * 3600
HUB_SESSION_SECONDS = 3600  # then the page signs in through the Hub again (roles re-checked)
EVENT_FIELDS = ("trainee", "notebook", "step", "status", "message", "fix", "at", "id")


class RequestProblem(Exception):
    """A client's mistake: answered with ``status`` and a JSON error, nothing stored."""

    def __init__(self, status: int, error: str, description: str, event: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.event = event  # the index of the one event at fault, if only one is


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


def problem_json(problem: RequestProblem) -> JSONResponse:
    """The JSON 4xx for ``problem``, naming the event at fault (``"event": i``) if one is."""
    body: dict[str, object] = {"error": problem.error, "error_description": problem.description}
    if problem.event is not None:
        body["event"] = problem.event
    return JSONResponse(body, problem.status, headers=NO_STORE)


def _too_large(limit: int) -> str:
    return f"The body is larger than {limit // 1024} KB; send the events in smaller batches."


def _normal_time(at: str) -> str:
    """``at`` in UTC, ``...T..:..:..mmmZ``, so that times from any offset sort as text."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ahead(seconds_ahead: float) -> str:
    if seconds_ahead < 600:
        return f"{int(seconds_ahead)} s"
    return f"{int(seconds_ahead // 60)} min"


def _check_not_ahead(index: int, at: str, now: float) -> None:
    ahead = seconds(at) - now
    if ahead > MAX_FUTURE_SECONDS:
        raise RequestProblem(
            400,
            "clock_ahead",
            f"events[{index}]: event field 'at' ({at}) is {_ahead(ahead)} past the board's "
            f"clock (at most {MAX_FUTURE_SECONDS} s allowed). Set this computer's clock to the "
            "right time (automatic time), then run the step again.",
            index,
        )


def parse_events(body: bytes, now: float | None = None) -> list[Event]:
    """The events of a ``{"events": [...]}`` body, every one valid and none dated more than
    :data:`MAX_FUTURE_SECONDS` past ``now``, else :class:`RequestProblem`."""
    now = time.time() if now is None else now
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
            _check_not_ahead(index, at, now)
            events.append(dataclasses.replace(event, trainee=event.trainee.strip(), at=at))
        except OverflowError:
            raise RequestProblem(
                400, "invalid_request", f"events[{index}]: event field 'at' is out of range.", index
            ) from None
        except UnicodeEncodeError:
            raise RequestProblem(
                400,
                "invalid_request",
                f"events[{index}]: a field is not valid Unicode text.",
                index,
            ) from None
        except EventError as exc:
            raise RequestProblem(
                400, "invalid_request", f"events[{index}]: {exc}.", index
            ) from None
    return events


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _as(caller: Caller, events: list[Event]) -> list[Event]:
    """A trainee's events are theirs, whatever name they carry; the trainer's stay as sent."""
    if caller.is_trainer:
        return events
    return [dataclasses.replace(e, trainee=caller.name) for e in events]


class BoardEndpoints:
    """The board's endpoints over one store and who may call them (each a method, routed by
    :func:`build_app`)."""

    def __init__(
        self,
        store: BoardStore,
        identities: Identities,
        stuck_after_seconds: float,
        budget: PostBudget,
        caps: Caps = CAPS,
    ) -> None:
        self.store = store
        self.identities = identities
        self.hub: HubIdentity | None = (
            identities.hub if isinstance(identities.hub, HubIdentity) else None
        )
        self.stuck_after_seconds = stuck_after_seconds
        self.budget = budget
        self.caps = caps
        self.memo: Memo = {}  # trainees' notebooks, until they send more

    def session_digest(self, session_id: str) -> str:
        data = session_id.encode("utf-8", "replace")
        return hmac.new(self.identities.trainer_secret, data, hashlib.sha256).hexdigest()

    async def session_ok(self, request: Request) -> bool:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return False
        digest = self.session_digest(session_id)
        return await run_in_threadpool(self.store.has_session, digest, time.time())

    async def post_events(self, request: Request) -> Response:
        caller = await self.identities.caller(bearer_token(request))
        if caller is None:
            return unauthorized()
        wait = self.budget.wait_seconds(f"{caller.role}:{caller.name}", time.time())
        if wait:
            return error_json(
                429,
                "too_many_requests",
                f"More than {self.budget.per_minute} posts in a minute from {caller.name!r}; "
                f"the events wait and are sent again in {wait} s.",
                **{"Retry-After": str(wait)},
            )
        if not _is_json(request.headers.get("content-type", "")):
            return error_json(
                415, "unsupported_media_type", "Send the events as Content-Type: application/json."
            )
        try:
            events = _as(caller, parse_events(await read_body(request, MAX_BODY_BYTES)))
            stored = await run_in_threadpool(self.store.add, events, None, self.caps)
        except RequestProblem as problem:
            return problem_json(problem)
        except OverCap as exc:
            return error_json(413, "too_many_events", str(exc))
        body: dict[str, object] = {"stored": stored, "duplicates": len(events) - stored}
        if not caller.is_trainer:
            body["trainee"] = caller.name
        return JSONResponse(body, headers=NO_STORE)

    async def get_progress(self, request: Request) -> Response:
        token = bearer_token(request)
        caller = await self.identities.caller(token) if token else None
        if caller is not None and not caller.is_trainer:
            return trainee_forbidden(caller)
        if caller is None and not await self.session_ok(request):
            return unauthorized()
        rows = await run_in_threadpool(self.store.by_trainee)
        trainees = board_progress(rows, time.time(), self.stuck_after_seconds, self.memo)
        return JSONResponse(progress_json(trainees), headers=NO_STORE)

    async def board(self, request: Request) -> Response:
        if await self.session_ok(request):
            return page.board_page(self.stuck_after_seconds)
        if self.hub is not None:
            url, state = self.hub.authorize_url()
            response = RedirectResponse(url, status_code=302, headers=NO_STORE)
            response.set_cookie(
                STATE_COOKIE,
                state,
                max_age=600,
                path=base_path(request),
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="lax",  # it comes back on the Hub's redirect
            )
            return response
        return page.login_page()

    async def login(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_FORM_BYTES)
        except RequestProblem:
            return page.login_page("That is not a board token (far too long).", 400)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        caller = await self.identities.caller(form.get("token", "").strip())
        if caller is not None and not caller.is_trainer:
            return page.login_page(
                "That is a trainee's token: it sends progress, it does not open the board. "
                "Use the trainer's token (KORE_PLAID_BOARD_TRAINER_TOKEN).",
                403,
            )
        if caller is None:
            return page.login_page(
                "That token is not this board's token. Check for a missing or extra character, "
                "or copy it again from where the board was started.",
                401,
            )
        return await self.signed_in(request, SESSION_SECONDS)

    async def signed_in(self, request: Request, lifetime: int) -> Response:
        """A new session cookie and a 303 to the board."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        await run_in_threadpool(
            self.store.add_session, self.session_digest(session_id), now + lifetime, now
        )
        response = RedirectResponse(base_path(request), status_code=303, headers=NO_STORE)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=lifetime,
            path=base_path(request),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def oauth_callback(self, request: Request) -> Response:
        """The end of the Hub's sign-in: a session for a trainer, 403 for anyone else."""
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        expected = request.cookies.get(STATE_COOKIE, "")
        if self.hub is None:
            return error_json(404, "not_found", "This board does not sign in through a Hub.")
        if not (code and state and hmac.compare_digest(state.encode(), expected.encode())):
            return page.login_page(
                "The Hub's sign-in did not come back as expected (an old or foreign link). "
                "Open the board again from the Hub's Services menu.",
                400,
            )
        caller = await self.hub.finish_sign_in(code, state)
        if caller is None:
            return page.login_page(
                "The Hub did not confirm the sign-in; open the board again.", 400
            )
        if not caller.is_trainer:
            return page.login_page(
                f"{caller.name} is signed in to the Hub but is not a trainer (the Hub group "
                f"{self.hub.trainers_group!r}); a Hub admin can add you to it.",
                403,
            )
        response = await self.signed_in(request, HUB_SESSION_SECONDS)
        response.delete_cookie(STATE_COOKIE, path=base_path(request), httponly=True)
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
        "Send your board token as 'Authorization: Bearer <token>': a trainee's own "
        "(KORE_PLAID_BOARD_TRAINEE_TOKEN, or JUPYTERHUB_API_TOKEN under JupyterHub), or the "
        "trainer's (KORE_PLAID_BOARD_TRAINER_TOKEN).",
        **{"WWW-Authenticate": 'Bearer realm="kore-plaid board"'},
    )


def trainee_forbidden(caller: Caller) -> JSONResponse:
    return error_json(
        403,
        "insufficient_scope",
        f"This token is {caller.name}'s: a trainee's token sends progress, it cannot read the "
        "board. The trainer reads it with the trainer's token or on the board's page.",
    )


async def login_form(request: Request) -> Response:
    return RedirectResponse(base_path(request), status_code=303, headers=NO_STORE)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "board"}, headers=NO_STORE)


async def hub_error(request: Request, exc: Exception) -> Response:
    return error_json(
        503,
        "temporarily_unavailable",
        "The board cannot ask JupyterHub whose token this is right now; send again later.",
        **{"Retry-After": "5"},
    )


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
    hub: HubIdentity | None = None,
    budget: PostBudget | None = None,
    caps: Caps = CAPS,
) -> Starlette:
    """The board as an ASGI app over ``store``. ``token`` is the trainer's; trainees post with
    their own (``store``'s trainee tokens, or the Hub's with ``hub``)."""
    identities = Identities(store, token, hub)
    board = BoardEndpoints(store, identities, stuck_after_seconds, budget or PostBudget(), caps)
    routes: list[BaseRoute] = [
        Route("/", board.board, methods=["GET"]),
        Route("/login", board.login, methods=["POST"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/oauth_callback", board.oauth_callback, methods=["GET"]),
        Route("/logout", board.logout, methods=["GET", "POST"]),
        Route("/api/events", board.post_events, methods=["POST"]),
        Route("/api/progress", board.get_progress, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=mounted_at(prefix, routes),
        middleware=[Middleware(SecurityHeaders, every_response=page.SECURITY_HEADERS)],
        exception_handlers={BoardStoreError: store_error, HubUnavailable: hub_error},
    )
    app.state.store = store
    return app
