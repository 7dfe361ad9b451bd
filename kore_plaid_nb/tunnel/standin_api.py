"""The stand-in agent's local API: ``/api/endpoints`` (config v3) and ``/api/tunnels`` (v2).

Both views share one set of tunnels. Shapes follow what pyngrok parses: an endpoint has
``name``, ``uri``, ``url``/``public_url``, ``upstream``; a tunnel has ``name``, ``uri``,
``public_url``, ``proto``, ``config.addr``. Errors use ngrok's ``{"error_code", "status_code",
"msg", "details"}`` body.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http_plumbing import LoopbackOnly
from .forwarder import LOCAL_NOTE, Forwarder, ThreadedServer, bind_loopback

LogFn = Callable[..., None]


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str, err: str = "") -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.err = status, code, msg, err


@dataclass
class StandinTunnel:
    name: str
    public_url: str
    upstream_url: str
    proto: str
    server: ThreadedServer
    forwarder: Forwarder
    created_by: str  # "endpoints" or "tunnels"
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return {"http": {"count": self.forwarder.requests}, "conns": {"count": 0}}

    def as_endpoint(self) -> dict[str, Any]:
        return {
            "id": self.extra["id"],
            "name": self.name,
            "uri": f"/api/endpoints/{self.name}",
            "url": self.public_url,
            "public_url": self.public_url,
            "proto": self.proto,
            "upstream": {"url": self.upstream_url, "protocol": "http1"},
            "description": LOCAL_NOTE,
            "metrics": self.metrics(),
        }

    def as_tunnel(self) -> dict[str, Any]:
        return {
            "ID": self.extra["id"],
            "name": self.name,
            "uri": f"/api/tunnels/{self.name}",
            "public_url": self.public_url,
            "proto": self.proto,
            "config": {"addr": self.upstream_url, "inspect": False},
            "metrics": self.metrics(),
        }


class Registry:
    """The tunnels this agent serves; each owns a forwarding server on a loopback port."""

    def __init__(self, log: LogFn) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._tunnels: dict[str, StandinTunnel] = {}

    def all(self) -> list[StandinTunnel]:
        with self._lock:
            return list(self._tunnels.values())

    def get(self, name: str) -> StandinTunnel:
        with self._lock:
            tunnel = self._tunnels.get(name)
        if tunnel is None:
            raise ApiError(404, 100, f"Tunnel {name!r} not found", f"tunnel {name!r} not found")
        return tunnel

    def create(self, options: dict[str, Any], created_by: str) -> StandinTunnel:
        name = str(options.get("name") or f"standin-{uuid.uuid4()}")
        upstream = _upstream_of(options)
        proto = str(options.get("proto") or urlsplit(upstream).scheme or "http")
        if proto not in ("http", "https"):
            raise ApiError(
                400, 102, "invalid tunnel configuration", "the local stand-in forwards HTTP only"
            )
        port = _requested_loopback_port(options.get("url") or options.get("domain"))
        with self._lock:
            if name in self._tunnels:
                raise ApiError(
                    400, 102, "invalid tunnel configuration", f"a tunnel named {name!r} exists"
                )
            forwarder = Forwarder(upstream)
            try:
                sock = bind_loopback(port)
            except OSError as exc:
                raise ApiError(400, 102, "invalid tunnel configuration", str(exc)) from None
            server = ThreadedServer(forwarder, sock, f"standin-{name}", forwarding=True).start()
            public_url = f"http://127.0.0.1:{server.port}"
            tunnel = StandinTunnel(
                name,
                public_url,
                upstream,
                "http",
                server,
                forwarder,
                created_by,
                {"id": uuid.uuid4().hex},
            )
            self._tunnels[name] = tunnel
        requested = options.get("url") or options.get("domain")
        if requested and port == 0:
            self.log(
                "warn",
                "requested URL ignored: the local stand-in only has loopback URLs",
                obj="standin",
                requested=str(requested),
            )
        self.log(
            "info",
            "started tunnel",
            obj="tunnels",
            name=name,
            addr=upstream,
            url=public_url,
            note=LOCAL_NOTE,
        )
        return tunnel

    def delete(self, name: str) -> None:
        with self._lock:
            tunnel = self._tunnels.pop(name, None)
        if tunnel is None:
            raise ApiError(404, 100, f"Tunnel {name!r} not found", f"tunnel {name!r} not found")
        tunnel.server.stop()
        self.log("info", "stopped tunnel", obj="tunnels", name=name, url=tunnel.public_url)

    def close_all(self) -> None:
        for tunnel in self.all():
            try:
                self.delete(tunnel.name)
            except ApiError:
                pass


def _upstream_of(options: dict[str, Any]) -> str:
    upstream = options.get("upstream")
    addr = upstream.get("url") if isinstance(upstream, dict) else upstream
    addr = str(addr or options.get("addr") or "80")
    if "://" in addr:
        return addr
    if addr.isdigit():
        return f"http://localhost:{addr}"
    return f"http://{addr}"


def _requested_loopback_port(url: object) -> int:
    """The port of a requested ``http://127.0.0.1:N`` URL, else 0 (any free port)."""
    if not isinstance(url, str) or "://" not in url:
        return 0
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        return parts.port
    return 0


def build_api(registry: Registry, version: str) -> Starlette:
    def error(exc: ApiError) -> JSONResponse:
        body = {
            "error_code": exc.code,
            "status_code": exc.status,
            "msg": exc.msg,
            "details": {"err": exc.err or exc.msg},
        }
        return JSONResponse(body, status_code=exc.status)

    async def options_of(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, 101, "invalid JSON body", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, 101, "invalid JSON body", "the body is not a JSON object")
        return data

    def collection(kind: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            try:
                if request.method == "POST":
                    options = await options_of(request)
                    tunnel = await run_in_threadpool(registry.create, options, kind)
                    shown = tunnel.as_endpoint() if kind == "endpoints" else tunnel.as_tunnel()
                    return JSONResponse(shown, status_code=201)
            except ApiError as exc:
                return error(exc)
            items = [
                t.as_endpoint() if kind == "endpoints" else t.as_tunnel() for t in registry.all()
            ]
            return JSONResponse({kind: items, "uri": f"/api/{kind}"})

        return handler

    def member(kind: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            try:
                if request.method == "DELETE":
                    await run_in_threadpool(registry.delete, name)
                    return Response(status_code=204)
                tunnel = registry.get(name)
            except ApiError as exc:
                return error(exc)
            return JSONResponse(tunnel.as_endpoint() if kind == "endpoints" else tunnel.as_tunnel())

        return handler

    async def root(request: Request) -> Response:
        return JSONResponse(
            {
                "uri": "/api",
                "endpoints_uri": "/api/endpoints",
                "tunnels_uri": "/api/tunnels",
                "status_uri": "/api/status",
                "note": LOCAL_NOTE,
            }
        )

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "online",
                "agent_version": version,
                "session": {"note": LOCAL_NOTE},
                "uri": "/api/status",
            }
        )

    async def captured(request: Request) -> Response:
        return JSONResponse({"uri": "/api/requests/http", "requests": []})

    routes = [
        Route("/api", root),
        Route("/api/", root),
        Route("/api/status", status),
        Route("/api/requests/http", captured, methods=["GET", "DELETE"]),
    ]
    for kind in ("endpoints", "tunnels"):
        routes.append(Route(f"/api/{kind}", collection(kind), methods=["GET", "POST"]))
        routes.append(Route(f"/api/{kind}/{{name:path}}", member(kind), methods=["GET", "DELETE"]))
    return Starlette(routes=routes, middleware=[Middleware(LoopbackOnly)])  # the agent's own API
