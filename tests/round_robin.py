"""A round-robin HTTP load balancer for the replica tests: every request (not every
connection) goes to the next replica, so one end user's flow is split between them. It adds
``X-Forwarded-For`` / ``X-Forwarded-Proto`` as a real proxy would, and counts what each
replica served."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from http_support import TLS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kore_plaid_nb import serving

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class Balancer:
    url: str
    served: Counter = field(default_factory=Counter)


@contextlib.contextmanager
def running_round_robin(upstreams: list[str]) -> Iterator[Balancer]:
    """Serve a balancer in front of ``upstreams``; yields it with its URL."""
    turn = itertools.cycle(upstreams)
    lock = threading.Lock()
    client = httpx.AsyncClient(timeout=30, verify=TLS)
    balancer = Balancer(url="")

    async def forward(request: Request) -> Response:
        with lock:
            upstream = next(turn)
            balancer.served[upstream] += 1
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        headers += [
            ("x-forwarded-for", request.client.host if request.client else "unknown"),
            ("x-forwarded-proto", request.url.scheme),
        ]
        query = f"?{request.url.query}" if request.url.query else ""
        answer = await client.request(
            request.method,
            upstream + request.url.path + query,
            headers=headers,
            content=await request.body(),
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        kept.pop("content-encoding", None)
        return Response(answer.content, answer.status_code, headers=kept)

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
    with serving.serve_in_thread(app, what="round-robin balancer") as url:
        balancer.url = url
        yield balancer
