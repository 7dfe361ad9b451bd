"""The Hosted Link stand-in: ``/hosted-link/<opaque id>``, the page ``hosted_link_url`` names.

``/link/token/create`` with ``hosted_link`` answers ``hosted_link_url``. The page offers the
Link stand-in's login (same banks, Sandbox credentials ``user_good`` / ``pass_good``); on
success it records the public token in the link token's session (``/link/token/get``), sends
LINK ``ITEM_ADD_RESULT`` and ``SESSION_FINISHED`` to the link token's ``webhook``, and sends
the browser to ``hosted_link.completion_redirect_uri`` (or shows a "done" page). Its "Exit"
button (``action=exit``) is the user closing Hosted Link: the session finishes without results
(``exit`` in ``/link/token/get``), ``SESSION_FINISHED`` says ``EXITED`` (no public tokens) and
the browser goes to the same place. Both forms post to the page itself; the unguessable id in
the URL is the only credential, as with Plaid.
"""

from __future__ import annotations

import html
import logging
import uuid
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import link, webhooks
from .body import read_bytes
from .core import Body, Emulator
from .errors import PlaidAPIError, request_id
from .store import LinkConfig

log = logging.getLogger("kore_plaid_nb.emulator")

MAX_FORM_BYTES = 8192
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
STYLE = (
    "body{font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "background:#f4f4f4;color:#111}main{box-sizing:border-box;max-width:400px;margin:24px auto;"
    "background:#fff;border-radius:12px;padding:20px}h1{font-size:1.25rem;margin:0 0 4px}"
    "p{color:#444;font-size:.9rem}label{display:block;font-weight:600;margin:10px 0 4px}"
    "input,select{box-sizing:border-box;width:100%;padding:10px;border:1px solid #767676;"
    "border-radius:6px;font:inherit}button{width:100%;margin-top:16px;padding:12px;"
    "border-radius:6px;border:1px solid #111;background:#111;color:#fff;font:inherit;"
    "font-weight:600}button.secondary{background:#fff;color:#111}#plaid-standin-error{color:#a00000;font-size:.9rem}"
)


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{content}</main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def _login_form(info: link.Offer, link_session_id: str, error: PlaidAPIError | None) -> str:
    options = "".join(
        f'<option value="{html.escape(i["institution_id"])}">{html.escape(i["name"])}</option>'
        for i in info["institutions"]
    )
    message = ""
    if error is not None:
        text = error.display_message or error.error_message
        message = f'<p id="plaid-standin-error" role="alert">{html.escape(text)}</p>'
    title = "Reconnect your bank" if info["update_mode"] else "Connect your bank"
    return (
        f'<h1 id="plaid-standin-title">{title}</h1>'
        "<p>Plaid Sandbox emulator (offline, Hosted Link): no real bank is contacted.</p>"
        f'<p id="plaid-standin-language">Link language: {html.escape(info["language"])}</p>'
        f'{message}<form method="post" id="plaid-standin-form">'
        f'<input type="hidden" name="link_session_id" value="{html.escape(link_session_id)}">'
        '<label for="plaid-standin-institution">Bank</label>'
        f'<select id="plaid-standin-institution" name="institution_id">{options}</select>'
        '<label for="plaid-standin-username">Username</label>'
        '<input id="plaid-standin-username" name="username" value="user_good" '
        'autocomplete="username" autocapitalize="none" spellcheck="false">'
        '<label for="plaid-standin-password">Password</label>'
        '<input id="plaid-standin-password" name="password" type="password" value="pass_good" '
        'autocomplete="current-password">'
        '<button id="plaid-standin-continue" type="submit">Continue</button></form>'
        '<form method="post" id="plaid-standin-exit-form">'
        f'<input type="hidden" name="link_session_id" value="{html.escape(link_session_id)}">'
        '<input type="hidden" name="action" value="exit">'
        '<button id="plaid-standin-exit" class="secondary" type="submit">Exit</button></form>'
    )


def _refused_form(error: PlaidAPIError) -> HTMLResponse:
    if error.status == 413:
        why = f"The form sent is larger than {MAX_FORM_BYTES} bytes; a login form is far smaller."
    else:
        why = "The form could not be read."
    response = _page(
        "Form refused",
        f"<h1>Form refused</h1><p>{html.escape(why)} Go back to the page and send it again.</p>",
        error.status,
    )
    response.headers.update(error.headers or {})
    return response


def _gone() -> HTMLResponse:
    return _page(
        "Link session expired",
        "<h1>This link has expired</h1><p>Ask the app that sent you here for a new one.</p>",
        404,
    )


class HostedLinkPage:
    """``/hosted-link/<id>``: GET shows the login, POST logs in (or exits, ``action=exit``)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def _link_token_of(self, request: Request) -> tuple[str, LinkConfig, link.Offer] | None:
        token = self.emulator.store.hosted_link_token(request.path_params["hosted_id"])
        config = self.emulator.store.link_token(token) if token is not None else None
        if token is None or config is None:  # unknown, or expired since
            return None
        return token, config, link.offer(self.emulator, config)

    async def endpoint(self, request: Request) -> Response:
        found = self._link_token_of(request)
        if found is None:
            return _gone()
        token, config, info = found
        if request.method == "GET":
            link_session_id = str(uuid.uuid4())
            self.emulator.store.start_link_session(token, link_session_id)
            return _page("Connect your bank", _login_form(info, link_session_id, None))
        try:
            raw = await read_bytes(request, MAX_FORM_BYTES)
        except PlaidAPIError as error:  # larger than a login form (413), or no body length
            return _refused_form(error)
        form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        link_session_id = form.get("link_session_id") or str(uuid.uuid4())
        if form.get("action") == "exit":
            return self._leave(token, config, link_session_id)
        login: Body = {
            "link_token": token,
            "institution_id": form.get("institution_id", ""),
            "username": form.get("username", ""),
            "password": form.get("password", ""),
            "link_session_id": link_session_id,
        }
        try:
            result = link.complete(self.emulator, login, oauth_redirect=False)
        except PlaidAPIError as error:
            return _page("Connect your bank", _login_form(info, link_session_id, error), 400)
        return self._finish(token, config, link_session_id, str(result["public_token"]))

    def _finish(
        self, token: str, config: LinkConfig, link_session_id: str, public_token: str
    ) -> Response:
        for body in webhooks.link_webhooks(token, link_session_id, [public_token]):
            self.emulator.webhooks.send(config.get("webhook"), body)
        return _done(config, "Connected", "You are connected")

    def _leave(self, token: str, config: LinkConfig, link_session_id: str) -> Response:
        """The user closed Hosted Link before connecting a bank (once per session)."""
        exit_: Body = {
            "error": None,
            "metadata": {
                "institution": None,
                "status": "requires_credentials",
                "link_session_id": link_session_id,
                "request_id": request_id(),
            },
        }
        if self.emulator.store.exit_link_session(token, link_session_id, exit_):
            body = webhooks.link_exit_webhook(token, link_session_id)
            self.emulator.webhooks.send(config.get("webhook"), body)
        return _done(config, "Link closed", "You left without connecting a bank")


def _done(config: LinkConfig, title: str, heading: str) -> Response:
    target = config.get("completion_redirect_uri")
    if target:
        return RedirectResponse(str(target), status_code=303, headers=HEADERS)
    return _page(
        title,
        f'<h1 id="plaid-standin-title">{heading}</h1>'
        "<p>You can close this window and return to the app.</p>",
    )


def routes(emulator: Emulator) -> list[Route]:
    page = HostedLinkPage(emulator)
    return [Route("/hosted-link/{hosted_id}", page.endpoint, methods=["GET", "POST"])]
