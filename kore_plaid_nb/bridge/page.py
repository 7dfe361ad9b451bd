"""The HTML pages: the authorization page (Plaid Link), ``/oauth-return``, the repair page
(``/repair/<token>``, Link in update mode), the Hosted Link "finishing" page and the error
page, all on one layout (``templates/layout.html``, Jinja2 with ``{% extends %}``).

The pages load nothing but themselves (``/static``) and Plaid's Link script; the policy is
enforced with a Content-Security-Policy header that :func:`security_headers` gives every page
(the app adds them in one middleware). Values are HTML-escaped (autoescape); the error page
shows the request's id (:mod:`.request_ids`), never contains a secret, a code or a token and
never redirects.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from .. import plaid_client
from ..settings import Settings

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a value left out is an error, not an empty text
        auto_reload=False,
    )
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers of every page of this bridge."""
    link_origin = _origin(plaid_client.link_script_url(settings))
    api_origin = _origin(plaid_client.api_host(settings))
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {link_origin}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            f"frame-src {link_origin}",
            f"connect-src 'self' {api_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def render(name: str, **values: str) -> str:
    return TEMPLATES.get_template(name).render(values)


def authorize_page(
    settings: Settings, session: str, deny_url: str, redirect_uri: str
) -> HTMLResponse:
    """The page behind the Authorization URL; asks the bridge for a Link token
    (``POST /api/link_token``) and opens Plaid Link at once."""
    body = render(
        "authorize.html",
        title="Connect your bank - Kore.ai",
        heading="Kore.ai bot wants to connect to your bank through Plaid",
        intro="The bot you are chatting with asks for read access to your bank accounts so "
        "that it can answer your questions about them. Plaid makes the connection.",
        mode="authorize",
        step_link="Plaid opens on this page. Choose your bank and sign in there: your bank "
        "password goes to your bank through Plaid, never to the bot.",
        session=session,
        deny_url=deny_url,
        callback_host=urlsplit(redirect_uri).netloc or redirect_uri,
        link_script_url=plaid_client.link_script_url(settings),
    )
    return HTMLResponse(body)


def oauth_return_page(settings: Settings) -> HTMLResponse:
    """Where OAuth banks send the browser back; the script re-opens Link from localStorage."""
    body = render(
        "authorize.html",
        title="Finishing the bank connection - Kore.ai",
        heading="Finishing the connection to your bank",
        intro="Your bank sent you back here to finish connecting it to the Kore.ai bot "
        "through Plaid.",
        mode="oauth-return",
        step_link="Plaid finishes the connection with the account you chose at your bank; "
        "there is nothing more to type.",
        session="",
        deny_url="",
        callback_host="Kore.ai",
        link_script_url=plaid_client.link_script_url(settings),
    )
    return HTMLResponse(body)


def repair_page(settings: Settings, token: str) -> HTMLResponse:
    """The page behind a repair link (``/repair/<token>``): asks the bridge for a Link token
    in update mode and opens Plaid Link, which logs the user in to the bank again."""
    body = render(
        "repair.html",
        title="Repair your bank connection - Kore.ai",
        heading="Reconnect your bank to the Kore.ai bot",
        intro="The Kore.ai bot can no longer read your bank accounts: your bank asks you to "
        "log in again. Log in once more through Plaid and the bot's connection works again.",
        token=token,
        link_script_url=plaid_client.link_script_url(settings),
    )
    return HTMLResponse(body)


def finishing_page(retry_url: str, seconds: int) -> HTMLResponse:
    """The Hosted Link return while Plaid has not finished the session yet: reloads itself
    (``retry_url``, a bridge path) every ``seconds``."""
    body = render(
        "finishing.html",
        title="Finishing your bank connection…",
        message="Plaid is still finishing the connection to your bank. This page checks "
        "again by itself in a moment; keep it open.",
        retry_url=retry_url,
        seconds=str(seconds),
    )
    return HTMLResponse(body, status_code=202, headers={"Retry-After": str(seconds)})


def error_page(
    status: int, title: str, message: str, fix: str, request_id: str | None = None
) -> HTMLResponse:
    """A readable error page, with the request's id for the user to quote when there is one.
    Never redirects; callers pass no secret."""
    body = render("error.html", title=title, message=message, fix=fix, request_id=request_id or "")
    return HTMLResponse(body, status_code=status)
