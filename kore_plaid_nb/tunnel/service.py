"""``kore-plaid tunnel serve``: the background process that holds the tunnel.

It opens the tunnel with pyngrok, records it in the state folder, answers ``GET /healthz``
on a loopback port (503 once the agent died) and, on SIGTERM, closes the tunnel and kills
the agent. The agent runs in this process's group, so stopping the service stops both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable

from pyngrok import ngrok
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import services
from ..errors import RunbookError
from ..serving import serve
from ..settings import Settings, mask
from . import agent, state


def health_app(
    info: state.TunnelInfo, agent_alive: Callable[[], bool], on_shutdown: Callable[[], None]
) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        body = {
            "public_url": info.public_url,
            "local": info.local,
            "port": info.port,
            "describe": info.describe(),
        }
        if not agent_alive():
            return JSONResponse({"status": "agent died", **body}, status_code=503)
        return JSONResponse({"status": "ok", **body})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # uvicorn re-raises SIGTERM after shutdown, so cleanup happens here, not later
        on_shutdown()

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)


class _MaskSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            record.msg = str(record.getMessage()).replace(self.secret, mask(self.secret))
            record.args = None
        return True


def _log_agent_warnings(settings: Settings) -> None:
    """The agent's warnings and errors go to this service's log, authtoken masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_MaskSecret(settings.ngrok_authtoken))
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("pyngrok")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def run_service(settings: Settings, port: int, health_port: int) -> int:
    home = settings.home
    _log_agent_warnings(settings)
    state.clear_error(home)
    config = agent.agent_config(settings)
    try:
        tunnel = agent.connect(settings, port, config)
    except RunbookError as exc:
        state.write_error(home, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the caller gets a readable message, not a trace
        error = RunbookError(
            f"The tunnel service could not open the tunnel: {type(exc).__name__}: {exc}",
            fix="Run `kore-plaid tunnel close-all`, then open the tunnel again.",
            step="5",
        )
        state.write_error(home, error)
        print(f"error: {error}", file=sys.stderr)
        return 2
    process = ngrok.get_ngrok_process(config)
    info = state.TunnelInfo(
        public_url=str(tunnel.public_url),
        local=settings.embedded,
        port=port,
        name=str(tunnel.name or ""),
        agent_pid=process.proc.pid,
        api_url=str(process.api_url or ""),
        opened_at=time.time(),
    )
    state.write(home, info)
    print(f"tunnel open: {info.describe()} (agent pid {info.agent_pid})", file=sys.stderr)
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        agent.shutdown(config, info.public_url)
        if state.read(home) == info:
            state.clear(home)
        print(f"tunnel closed (service pid {os.getpid()})", file=sys.stderr)

    def agent_alive() -> bool:
        # poll() answers None while another thread waits on the agent: ask the OS as well
        return process.proc.poll() is None and services.pid_alive(process.proc.pid)

    try:
        serve(health_app(info, agent_alive, close), "127.0.0.1", health_port, "tunnel")
    finally:
        close()
    return 0
