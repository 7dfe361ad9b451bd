"""Run an ASGI app on uvicorn: in the foreground (CLI) or in a thread (tests, notebooks).

Servers stay quiet: no access log (URLs can carry codes), warnings only, on stderr. A server
whose process set up its own logging (the bridge: :func:`.bridge.logs.configure`) passes
``own_logging=True``, and uvicorn leaves the loggers as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.supervisors import Multiprocess

from .errors import ServiceError

KEEP_ALIVE_SECONDS = 65
SHUTDOWN_GRACE_SECONDS = 0.1  # uvicorn's pause after asking the open connections to close
_uvicorn_log = logging.getLogger("uvicorn.error")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def event_loop_and_parser() -> tuple[str, str]:
    """uvloop and httptools (C, several times cheaper per request) when installed, else
    asyncio's loop and h11 (pure Python)."""
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    return loop, http


def _config(
    app: ASGIApp | str,
    host: str,
    port: int,
    forwarded_allow_ips: tuple[str, ...] = (),
    own_logging: bool = False,
    **extra: Any,
) -> uvicorn.Config:
    """Quiet uvicorn; ``X-Forwarded-*`` headers are trusted only from the listed addresses
    (none by default: anyone could otherwise claim to be https or another client).

    Idle keep-alive connections stay open 65 s, longer than the usual proxy's 60 s: a server
    that closes first races with a client reusing the connection, and a request lost that
    way (a Plaid exchange, say) cannot always be sent again."""
    loop, http = event_loop_and_parser()
    if own_logging:  # the process's handlers and levels stay as it set them
        extra.update(log_config=None, log_level=None)
    else:
        extra.setdefault("log_level", "warning")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        loop=loop,
        http=http,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=list(forwarded_allow_ips) or None,
        **extra,
    )


def check_port_free(host: str, port: int, what: str) -> None:
    """Raise a :class:`ServiceError` that says what to do when ``port`` is taken."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn binds: a port left in TIME_WAIT by a killed server is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ServiceError(
                    f"Port {port} on {host} is already in use, so the {what} cannot start.",
                    fix=f"Stop the program holding it (`lsof -i :{port}`) or pass another "
                    "--port (APP_PORT in .env for the bridge).",
                ) from None
            raise


class _Server(uvicorn.Server):
    """uvicorn's server, which stops as soon as it is asked to (:meth:`stop`, SIGTERM,
    SIGINT) rather than at its next 0.1 s tick, and whose shutdown pauses only while
    connections are still open (uvicorn always pauses 0.1 s). Otherwise uvicorn's own
    shutdown: connections are asked to close, in-flight requests finish (up to
    ``timeout_graceful_shutdown``), then the lifespan shutdown runs. Services and tests
    start and stop hundreds of these."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        """Ask the server to exit (from any thread)."""
        self.should_exit = True
        self._wake_up()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._wake_up()

    def _wake_up(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                loop.call_soon_threadsafe(self._wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        _uvicorn_log.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE_SECONDS
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.005)
        try:
            await asyncio.wait_for(
                self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown
            )
        except TimeoutError:
            _uvicorn_log.error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded",
                len(self.server_state.tasks),
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


def serve(
    app: ASGIApp,
    host: str,
    port: int,
    what: str = "server",
    forwarded_allow_ips: tuple[str, ...] = (),
    own_logging: bool = False,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    check_port_free(host, port, what)
    _Server(_config(app, host, port, forwarded_allow_ips, own_logging)).run()


def serve_workers(
    factory: str,
    host: str,
    port: int,
    workers: int,
    what: str = "server",
    forwarded_allow_ips: tuple[str, ...] = (),
    own_logging: bool = False,
) -> None:
    """Serve ``factory`` (``"module:function"`` returning the app) from ``workers`` processes
    sharing one socket, until interrupted; a worker that dies is replaced (with
    ``own_logging``, the factory sets up each worker's logging)."""
    check_port_free(host, port, what)
    config = _config(
        factory, host, port, forwarded_allow_ips, own_logging, factory=True, workers=workers
    )
    sock = config.bind_socket()
    Multiprocess(config, sockets=[sock]).run()


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    what: str = "server",
    forwarded_allow_ips: tuple[str, ...] = (),
) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yields its base URL; stops on exit."""
    check_port_free(host, port, what)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is TCP;
    # with proto 0, every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = _Server(_config(app, host, bound_port, forwarded_allow_ips))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"{what}-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise ServiceError(f"The {what} did not start on port {bound_port}.")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()
