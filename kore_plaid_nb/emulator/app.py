"""The emulator's ASGI app: Plaid's endpoints, the Link stand-in and the fault controls.

Every Plaid endpoint is ``POST`` with a JSON body; credentials come from the
``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers or ``client_id`` / ``secret`` in the body and
must equal ``settings.client_id`` / ``settings.secret``. Every failure, a malformed body
included, is answered in Plaid's error shape with Plaid's status (never a framework 422).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http_plumbing import LoopbackOnly
from ..settings import Settings
from ..settings import load as load_settings
from . import fields, hosted_link, link
from .body import read_json
from .core import Emulator, OriginHandler
from .endpoints import ENDPOINTS, NO_CREDENTIALS
from .errors import PlaidAPIError, request_id
from .faults import FaultPlan, parse_fault
from .redirect_uris import DASHBOARD_PATH, allowed_redirect_uris
from .store import Store
from .webhooks import WebhookSender

log = logging.getLogger("kore_plaid_nb.emulator")

STATE_FILE = "emulator.sqlite3"


def default_state_path(settings: Settings) -> Path:
    return settings.home / STATE_FILE


def error_response(error: PlaidAPIError, rid: str | None = None) -> JSONResponse:
    return JSONResponse(
        error.body(rid or request_id()), status_code=error.status, headers=error.headers
    )


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON: a web page cannot send that cross-site without
    the browser asking first (CORS preflight), which the emulator never grants here."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise PlaidAPIError(
            "INVALID_HEADERS",
            "Content-Type must be application/json; send the fault as a JSON object",
            status=415,
        )


def check_credentials(request: Request, body: dict[str, object], settings: Settings) -> None:
    # the body's keys must be strings even when the headers carry the keys (Plaid checks the
    # body against its schema first)
    fields.text(body, "client_id", required=False)
    fields.text(body, "secret", required=False)
    client_id = request.headers.get("plaid-client-id") or body.get("client_id")
    secret = request.headers.get("plaid-secret") or body.get("secret")
    missing = [name for name, value in (("client_id", client_id), ("secret", secret)) if not value]
    if missing:
        raise fields.missing(*missing)
    if not isinstance(client_id, str) or not isinstance(secret, str):
        raise PlaidAPIError("INVALID_FIELD", "client_id and secret must be strings")
    good_id = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    good_secret = hmac.compare_digest(secret.encode(), settings.secret.encode())
    if not (good_id and good_secret):
        raise PlaidAPIError("INVALID_API_KEYS")


def _plaid_route(path: str, handler: OriginHandler, emulator: Emulator, faults: FaultPlan) -> Route:
    async def endpoint(request: Request) -> Response:
        rid = request_id()
        try:
            fault = faults.take(path)
            if fault is not None:
                await faults.apply_delay(fault)
                if fault.error_code:
                    raise PlaidAPIError(
                        fault.error_code, error_type=fault.error_type, status=fault.status
                    )
            body = await read_json(request)
            if path not in NO_CREDENTIALS:
                check_credentials(request, body, emulator.settings)
            result = handler(emulator, body, str(request.base_url).rstrip("/"))
        except PlaidAPIError as error:
            return error_response(error, rid)
        except Exception:  # a bug here must still answer in Plaid's shape
            log.exception("emulator: %s failed", path)
            return JSONResponse(PlaidAPIError("INTERNAL_SERVER_ERROR").body(rid), status_code=500)
        result["request_id"] = rid
        return JSONResponse(result)

    return Route(path, endpoint, methods=["POST"], name=path)


def _fault_routes(emulator: Emulator, faults: FaultPlan) -> list[Route]:
    async def control(request: Request) -> Response:
        try:
            body: dict[str, object] = {}
            if request.method == "POST":
                require_json(request)
                body = await read_json(request)
            check_credentials(request, body, emulator.settings)
            if request.method == "DELETE":
                faults.clear()
            elif request.method == "POST":
                faults.add(parse_fault(body, frozenset(ENDPOINTS)))
        except PlaidAPIError as error:
            return error_response(error)
        except Exception:  # a bug here must still answer in Plaid's shape
            log.exception("emulator: /_emulator/faults failed")
            return error_response(PlaidAPIError("INTERNAL_SERVER_ERROR"))
        return JSONResponse({"faults": faults.pending()})

    return [Route("/_emulator/faults", control, methods=["GET", "POST", "DELETE"])]


def _dashboard_routes(emulator: Emulator) -> list[Route]:
    """``GET``/``PUT`` the emulated dashboard's allowed redirect URIs: the runbook keeps them
    equal to its settings while the emulator runs (notebook 02 saves a new callback)."""

    async def dashboard(request: Request) -> Response:
        try:
            body: dict[str, object] = {}
            if request.method == "PUT":
                require_json(request)
                body = await read_json(request)
            check_credentials(request, body, emulator.settings)
            if request.method == "PUT":
                if "allowed_redirect_uris" not in body:
                    raise fields.missing("allowed_redirect_uris")
                uris = fields.strings(body, "allowed_redirect_uris", required=False) or []
                emulator.allowed_redirect_uris = tuple(dict.fromkeys(uris))
        except PlaidAPIError as error:
            return error_response(error)
        return JSONResponse({"allowed_redirect_uris": list(emulator.allowed_redirect_uris)})

    return [Route(DASHBOARD_PATH, dashboard, methods=["GET", "PUT"])]


def _webhook_routes(emulator: Emulator) -> list[Route]:
    """``GET /_emulator/webhooks?wait=<s>``: waits (at most 30 s) until every queued webhook
    was attempted, then lists the attempts (no bodies)."""

    async def outbox(request: Request) -> Response:
        try:
            check_credentials(request, {}, emulator.settings)
            try:
                wait = min(max(float(request.query_params.get("wait", "0")), 0.0), 30.0)
            except ValueError:
                raise fields.invalid("wait", "must be a number of seconds") from None
        except PlaidAPIError as error:
            return error_response(error)
        idle = await asyncio.to_thread(emulator.webhooks.wait_idle, wait)
        return JSONResponse({**emulator.webhooks.report(), "idle": idle})

    return [Route("/_emulator/webhooks", outbox, methods=["GET"])]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "plaid-sandbox-emulator"})


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(PlaidAPIError("NOT_FOUND", f"no endpoint at {request.url.path}"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 400)
    if status == 405:
        return error_response(
            PlaidAPIError(
                "INVALID_HTTP_METHOD",
                f"{request.method} is not allowed here; Plaid endpoints take POST",
                error_type="INVALID_REQUEST",
                status=405,
            )
        )
    if status == 404:
        return await _not_found(request, exc)
    return error_response(PlaidAPIError("INVALID_FIELD", str(getattr(exc, "detail", exc))))


def _lifespan(
    store: Store, sender: WebhookSender
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sender.close()
        store.close()

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    state_path: Path | str | None = None,
    redirect_uris: tuple[str, ...] | None = None,
) -> Starlette:
    """The emulator as an ASGI app.

    ``state_path`` defaults to ``<home>/emulator.sqlite3``; ``redirect_uris`` replaces the
    emulated dashboard's allowed redirect URIs (default: :func:`allowed_redirect_uris`).
    """
    settings = settings or load_settings()
    store = Store(Path(state_path) if state_path else default_state_path(settings))
    uris = redirect_uris if redirect_uris is not None else allowed_redirect_uris(settings)
    sender = WebhookSender(store)
    emulator = Emulator(settings, store, uris, sender)
    faults = FaultPlan()
    routes = [Route("/healthz", healthz, methods=["GET"])]
    routes += [_plaid_route(p, h, emulator, faults) for p, h in ENDPOINTS.items()]
    routes += _fault_routes(emulator, faults)
    routes += _webhook_routes(emulator)
    routes += _dashboard_routes(emulator)
    routes += link.routes(emulator)
    routes += hosted_link.routes(emulator)
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, HTTPException: _http_error},
        lifespan=_lifespan(store, sender),
        # bound to loopback: its own Host only; JSON everywhere but Hosted Link's forms
        middleware=[Middleware(LoopbackOnly, form_paths=("/hosted-link/",))],
    )
    app.state.emulator = emulator
    app.state.faults = faults
    app.state.webhooks = sender
    return app
