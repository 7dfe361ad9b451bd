"""Shared pieces of the tunnel tests (no tests here): a target app and a check that no agent
outlives them."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

KORE_REDIRECT = "https://idp.kore.ai/workflows/callback/?code=c0de&state=st%2Fate"


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
            "body_hex": body.hex(),
        },
        headers={"x-target": "yes"},
    )


async def redirect(request: Request) -> Response:
    return RedirectResponse(KORE_REDIRECT, status_code=302)


async def cookies(request: Request) -> Response:
    response = Response("two cookies", status_code=201)
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


def target_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            Route("/redirect", redirect),
            Route("/cookies", cookies),
        ]
    )


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose command line or environment holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if text in cmdline or text in environ:
            found.append((int(entry.name), cmdline.strip()))
    return found


def tunnel_processes(text: str) -> list[tuple[int, str]]:
    """Live agents (stand-in or ngrok) and tunnel services that mention ``text``."""
    return [
        (pid, cmdline)
        for pid, cmdline in processes_mentioning(text)
        if "kore_plaid_nb.tunnel.standin" in cmdline
        or "tunnel serve" in cmdline
        or "ngrok" in cmdline
    ]
