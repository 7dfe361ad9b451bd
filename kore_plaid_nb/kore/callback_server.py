"""Kore's callback, on a loopback server: it receives the bridge's redirect and checks it.

With a ``state`` in the authorization request, the redirect must carry it unchanged (RFC 6749
4.1.2: the server echoes it; 10.12: the client checks it). Without one, the redirect must
carry none, and the code alone is accepted: Kore's Plaid sample (Plaid_Guide_Code,
``index.tsx``) sends Kore ``?code=`` only, and Kore's guide says that works.
"""

from __future__ import annotations

import contextlib
import html
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from .. import serving
from ..errors import ServiceError
from ..http_plumbing import LoopbackOnly
from .bridge_page import LinkResult
from .oauth_client import AuthorizationRequest
from .procedure import STEP_BRIDGE, STEP_CALLBACK, KoreFlowError


@dataclass(frozen=True)
class CallbackResult:
    code: str = field(repr=False)
    state_matches: bool
    callback: str


NO_STATE = ""  # the key of a redirect without a state

# What Kore shows after its callback: an ASSUMPTION. Kore's Plaid sample (Plaid_Guide_Code,
# index.js) answers Kore's token request with {closeWindow: true, access_token} (see
# contract.py, "token_answer"): Kore then closes the authorization window and the user is
# back in the conversation. The stand-in does what a browser lets it: window.close() (which
# works when the chat opened the window), else it says to go back to the conversation.
CLOSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Kore simulator</title>
<style>body{{margin:0;padding:1rem;font:1rem/1.5 system-ui,sans-serif}}
main{{max-width:34rem;margin:2rem auto}}h1{{font-size:1.4rem}}</style></head>
<body><main><h1 id="outcome">{title}</h1>
<p id="return">{text} You can close this window and return to the conversation.</p>
</main><script>window.close();</script></body></html>
"""


def closing_page(error: str | None) -> str:
    """Kore's page after its callback (see :data:`CLOSING_PAGE`); ``error`` from the query."""
    if error is not None:
        title, text = "Not authorized", f"Authorization failed: {html.escape(error)}."
    else:
        title, text = "Authorized", "The bot is connected to your bank."
    return CLOSING_PAGE.format(title=title, text=text)


class CallbackReceiver:
    """What the loopback callback server received, keyed by state (:data:`NO_STATE` when
    none came)."""

    def __init__(self) -> None:
        self._received: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def app(self, path: str) -> Starlette:
        async def callback(request: Request) -> HTMLResponse:
            params = dict(request.query_params)
            with self._lock:
                self._received[params.get("state", NO_STATE)] = params
            return HTMLResponse(closing_page(params.get("error")))

        return Starlette(routes=[Route(path, callback)], middleware=[Middleware(LoopbackOnly)])

    def pop(self, state: str) -> dict[str, str] | None:
        with self._lock:
            return self._received.pop(state, None)


class CallbackServer:
    """The loopback server at ``callback`` (``http://127.0.0.1:<port>/workflows/callback``)."""

    def __init__(self, callback: str) -> None:
        self.callback = callback
        self.receiver = CallbackReceiver()
        self._server: contextlib.ExitStack | None = None

    def start(self) -> str:
        """Serve the loopback callback (``/workflows/callback``); returns its base URL."""
        if self._server is not None:
            return self._base()
        parts = urlsplit(self.callback)
        if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise KoreFlowError(
                f"The simulator can only receive redirects on this machine, not at "
                f"{self.callback}.",
                fix="Leave KORE_SIMULATOR_PORT at a free port; the simulator's callback "
                "is http://127.0.0.1:<port>/workflows/callback.",
            )
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(
                serving.serve_in_thread(
                    self.receiver.app(parts.path or "/"),
                    host="127.0.0.1",
                    port=parts.port,
                    what="Kore simulator callback",
                )
            )
        except ServiceError as exc:
            raise KoreFlowError(
                f"The simulator's callback port {parts.port} is taken ({exc.message})",
                fix=f"Stop what holds it (`lsof -i :{parts.port}`), or set KORE_SIMULATOR_PORT "
                "to a free port in .env and restart the bridge (it registers that callback).",
            ) from None
        self._server = stack
        return self._base()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _base(self) -> str:
        parts = urlsplit(self.callback)
        return f"{parts.scheme}://{parts.netloc}"

    def receive(
        self, http: httpx.Client, link: LinkResult, request: AuthorizationRequest
    ) -> CallbackResult:
        """GET ``redirect_to`` on the loopback callback server; check code and state."""
        if not link.redirect_to.startswith(request.redirect_uri + "?"):
            raise KoreFlowError(
                f"The bridge redirects to {link.redirect_to.split('?')[0]}, not to the "
                f"callback in the request ({request.redirect_uri}).",
                fix="The bridge must send the user back to Kore's Callback Link exactly.",
                step=STEP_CALLBACK,
            )
        self.start()
        try:
            response = http.get(link.redirect_to)
        except httpx.HTTPError as exc:
            raise KoreFlowError(
                f"The callback {request.redirect_uri} could not be reached ({exc}).",
                fix="Another program may hold KORE_SIMULATOR_PORT; pick a free one.",
                step=STEP_CALLBACK,
            ) from None
        received = self.receiver.pop(request.state or NO_STATE)
        if response.status_code != 200 or received is None:
            raise _state_lost(request)
        return _checked(received, request)


def _state_lost(request: AuthorizationRequest) -> KoreFlowError:
    if request.state is None:
        return KoreFlowError(
            "The authorization request sent no state, but the redirect carried one.",
            fix="The bridge must echo the state only when the request sent one (RFC 6749 4.1.2).",
            step=STEP_BRIDGE,
        )
    return KoreFlowError(
        "The redirect reached the callback without the state Kore sent. RFC 6749 4.1.2 "
        "requires the state unchanged; a client that checks it (RFC 6749 10.12) refuses "
        "this redirect.",
        fix="The bridge must echo the state unchanged (RFC 6749 4.1.2).",
        step=STEP_BRIDGE,
    )


def _checked(received: dict[str, str], request: AuthorizationRequest) -> CallbackResult:
    if "error" in received:
        raise KoreFlowError(
            f"The callback received error={received['error']}.",
            fix="Read the bridge's log.",
            step=STEP_BRIDGE,
        )
    if not received.get("code"):
        raise KoreFlowError(
            "The callback received no code.",
            fix="The bridge must redirect with ?code=... (and the state, when one was sent).",
            step=STEP_BRIDGE,
        )
    return CallbackResult(received["code"], request.state is not None, request.redirect_uri)
