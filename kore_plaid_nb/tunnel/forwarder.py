"""HTTP forwarding of the local agent stand-in: a loopback port that relays to a target.

Requests and responses pass as they are: method, path, query, headers (Host included),
body, status and redirects. Only hop-by-hop headers are dropped, and ``X-Forwarded-*``
headers are added, as ngrok does. A target that does not answer gets ngrok's 502
(ERR_NGROK_8012).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.types import ASGIApp

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
LOCAL_NOTE = "local stand-in, not reachable from Kore"


def upstream_origin(upstream_url: str) -> str:
    """``http://localhost:8000/x`` -> ``http://127.0.0.1:8000`` (the address to dial)."""
    parts = urlsplit(upstream_url)
    host = parts.hostname or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme or 'http'}://{host}:{port}"


class Forwarder:
    """ASGI app relaying every HTTP request to ``upstream_url``."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self.origin = upstream_origin(upstream_url)
        self.requests = 0
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(trust_env=False, timeout=60.0)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests += 1
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        target = self.origin + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name.lower() not in HOP_BY_HOP and name.lower() != b"content-length"
        ]
        headers.extend(self._forwarded_headers(scope))
        request = httpx.Request(scope["method"], target, headers=headers, content=bytes(body))
        assert self._client is not None  # noqa: S101 - narrows a type; set above  # nosec B101
        try:
            response = await self._client.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            await self._bad_gateway(send, exc)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    @staticmethod
    def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
        client = scope.get("client") or ("127.0.0.1", 0)
        host = dict(scope["headers"]).get(b"host", b"")
        return [
            (b"x-forwarded-for", client[0].encode()),
            (b"x-forwarded-host", host),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
        ]

    async def _bad_gateway(self, send: Send, exc: Exception) -> None:
        text = (
            "<!DOCTYPE html><html><body><h1>ERR_NGROK_8012</h1>"
            "<p>Traffic reached the ngrok agent (" + LOCAL_NOTE + "), but the agent could not "
            f"connect to the upstream web service at {self.upstream_url}: "
            f"{type(exc).__name__}. Start the service on that port, then retry.</p>"
            "</body></html>"
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 502,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(text)).encode()),
                    (b"ngrok-error-code", b"ERR_NGROK_8012"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": text})


class ThreadedServer:
    """A uvicorn server on a bound loopback socket, in a daemon thread (no signal handlers)."""

    def __init__(self, app: ASGIApp, sock: socket.socket, name: str, forwarding: bool) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # A forwarder passes the target's headers untouched and sees the real peer.
            server_header=not forwarding,
            date_header=not forwarding,
            proxy_headers=not forwarding,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise OSError(f"the server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


def bind_loopback(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock
