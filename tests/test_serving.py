"""Proxy headers: ``X-Forwarded-*`` count only from the addresses the operator lists; a
server, in a thread or a process of its own, answers the request in flight before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from kore_plaid_nb import services, serving


async def whoami(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"scheme": request.url.scheme, "client": client})


APP = Starlette(routes=[Route("/", whoami)])
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        ((), {"scheme": "http", "client": "127.0.0.1"}),  # the default trusts no one
        (("10.1.2.3",), {"scheme": "http", "client": "127.0.0.1"}),  # another proxy's address
        (("127.0.0.1",), {"scheme": "https", "client": "203.0.113.9"}),
    ],
)
def test_forwarded_headers_count_only_from_listed_addresses(trusted, expected) -> None:
    with serving.serve_in_thread(APP, forwarded_allow_ips=trusted) as url:
        assert httpx.get(url + "/", headers=FORGED).json() == expected


def test_the_runbook_bridge_trusts_its_own_tunnel_agent_only(monkeypatch) -> None:
    from kore_plaid_nb import services, settings
    from kore_plaid_nb.bridge import ensure_bridge

    captured = {}
    monkeypatch.setattr(
        services, "ensure_running", lambda *args, **kwargs: captured.update(kwargs["env"])
    )
    ensure_bridge(settings.load())
    assert captured["FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5,10.0.0.6")
    ensure_bridge(settings.load())
    assert captured["FORWARDED_ALLOW_IPS"] == "10.0.0.5,10.0.0.6"


def test_a_server_in_a_thread_answers_the_request_in_flight_before_it_stops() -> None:
    """Leaving serve_in_thread lets a request already being served finish, then runs the
    app's lifespan shutdown."""
    started = threading.Event()
    events: list[str] = []

    async def slow(request: Request) -> PlainTextResponse:
        started.set()
        await asyncio.sleep(0.3)
        return PlainTextResponse("done")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        events.append("lifespan shutdown")

    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)
    answers: list[httpx.Response] = []
    with serving.serve_in_thread(app) as url:
        client = threading.Thread(target=lambda: answers.append(httpx.get(url + "/slow")))
        client.start()
        assert started.wait(5)
    client.join(5)
    assert [(a.status_code, a.text) for a in answers] == [(200, "done")]
    assert events == ["lifespan shutdown"]


SLOW_SERVICE = """
import asyncio, sys
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from kore_plaid_nb import serving

async def slow(request):
    print("serving", flush=True)
    await asyncio.sleep(0.5)
    return PlainTextResponse("done")

serving.serve(Starlette(routes=[Route("/slow", slow)]), "127.0.0.1", int(sys.argv[1]))
"""


def test_a_service_stopped_with_sigterm_answers_the_request_in_flight_first() -> None:
    """``kore-plaid stop`` sends SIGTERM: a request already being served still gets its
    answer, then the process exits."""
    port = services.free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVICE, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        answers: list[httpx.Response] = []
        url = f"http://127.0.0.1:{port}/slow"
        assert services.wait_healthy(url, timeout=30, pid=process.pid)  # one full request
        client = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=10)))
        client.start()
        assert process.stdout.readline() == "serving\n"  # the wait_healthy request
        assert process.stdout.readline() == "serving\n"  # the one in flight
        process.send_signal(signal.SIGTERM)
        client.join(10)
        assert [(a.status_code, a.text) for a in answers] == [(200, "done")]
        process.wait(timeout=10)
    finally:
        process.kill()
        process.wait()


def test_servers_use_uvloop_and_httptools_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert serving.event_loop_and_parser() == ("uvloop", "httptools")  # requirements.txt
    monkeypatch.setattr(serving, "_installed", lambda module: False)
    assert serving.event_loop_and_parser() == ("asyncio", "h11")
