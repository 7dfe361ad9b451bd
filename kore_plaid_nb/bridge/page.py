"""The HTML pages: the authorization page (Plaid Link), ``/oauth-return``, the repair page
(``/repair/<token>``, Link in update mode), the Hosted Link "finishing" page and the error
page, all on one layout (``templates/layout.html``, Jinja2 with ``{% extends %}``).

The pages load nothing but themselves (``/static``) and Plaid's Link script; the policy is
enforced with a Content-Security-Policy header that :func:`security_headers` gives every page
(the app adds them in one middleware). The one inline script, ``static/early.js`` at the top
of the authorization page (it asks for the Link token while the page loads), is allowed by
its hash. Values are HTML-escaped (autoescape); the error page
shows the request's id (:mod:`.request_ids`), never contains a secret, a code or a token and
never redirects.

Every text is in the request's language (:mod:`.i18n`, domain ``pages``): the templates'
through Jinja2's i18n extension (``{% trans %}``, newstyle gettext: values are escaped), the
titles and intros here marked with ``N_`` and translated at render time, the scripts' through
a JSON block (``#kp-strings``) of their msgids (``_("...")`` in the script) and
translations. The language goes on ``<html lang>`` and ``Content-Language``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from babel.messages.extract import extract
from markupsafe import Markup
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from .. import plaid_client
from ..settings import Settings
from .i18n import N_, current_language, page_gettext
from .i18n.catalogs import translations

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
VARY = "Accept-Language"


def _pages_gettext(message: str) -> str:
    return translations(current_language(), "pages").gettext(message)


def _pages_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language(), "pages").ngettext(singular, plural, n)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a value left out is an error, not an empty text
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # msgids without the templates' line breaks
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        _pages_gettext, _pages_ngettext, newstyle=True
    )
    return env


TEMPLATES = Jinja2Templates(env=_environment())

AUTHORIZE_TITLE = N_("Connect your bank - Kore.ai")
AUTHORIZE_HEADING = N_("Kore.ai bot wants to connect to your bank through Plaid")
AUTHORIZE_INTRO = N_(
    "The bot you are chatting with asks for read access to your bank accounts so that it can "
    "answer your questions about them. Plaid makes the connection."
)
AUTHORIZE_STEP = N_(
    "Plaid opens on this page. Choose your bank and sign in there: your bank password goes to "
    "your bank through Plaid, never to the bot."
)
RETURN_TITLE = N_("Finishing the bank connection - Kore.ai")
RETURN_HEADING = N_("Finishing the connection to your bank")
RETURN_INTRO = N_(
    "Your bank sent you back here to finish connecting it to the Kore.ai bot through Plaid."
)
RETURN_STEP = N_(
    "Plaid finishes the connection with the account you chose at your bank; there is nothing "
    "more to type."
)
REPAIR_TITLE = N_("Repair your bank connection - Kore.ai")
REPAIR_HEADING = N_("Reconnect your bank to the Kore.ai bot")
REPAIR_INTRO = N_(
    "The Kore.ai bot can no longer read your bank accounts: your bank asks you to log in "
    "again. Log in once more through Plaid and the bot's connection works again."
)
FINISHING_TITLE = N_("Finishing your bank connection…")
FINISHING_MESSAGE = N_(
    "Plaid is still finishing the connection to your bank. This page checks again by itself "
    "in a moment; keep it open."
)


def _inline_script(name: str) -> tuple[Markup, str]:
    """A static script to inline (its leading comment lines left out) and its CSP source
    (``'sha256-...'``): the policy allows that exact text and no other inline script."""
    lines = (STATIC_DIR / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    text = "".join(lines).strip()
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"  # noqa: S704 - our static file  # nosec B704


# Sent from the authorization page's <head>: POST /api/link_token while the page loads
EARLY_SCRIPT, EARLY_SCRIPT_SOURCE = _inline_script("early.js")


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
            f"script-src 'self' {EARLY_SCRIPT_SOURCE} {link_origin}",
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


@functools.cache
def script_messages(script: str) -> tuple[str, ...]:
    """The msgids a page script shows (its ``_("...")`` calls), read once from the file."""
    with (STATIC_DIR / script).open("rb") as source:
        found = extract("javascript", source, keywords={"_": None}, comment_tags=())
        return tuple(dict.fromkeys(str(message) for _line, message, _c, _ctx in found))


def script_strings(script: str) -> dict[str, str]:
    """The script's texts in the current language: msgid -> translation (English: none,
    the script shows its msgids)."""
    return {
        message: translated
        for message in script_messages(script)
        if (translated := _pages_gettext(message)) != message
    }


def render(name: str, **values: object) -> str:
    return TEMPLATES.get_template(name).render({"language": current_language(), **values})


def html(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page in the current language (``Content-Language``; it depends on
    ``Accept-Language``)."""
    language_headers = {"Content-Language": current_language(), "Vary": VARY}
    return HTMLResponse(
        body, status_code=status_code, headers={**language_headers, **(headers or {})}
    )


def authorize_page(
    settings: Settings, session: str, deny_url: str, redirect_uri: str
) -> HTMLResponse:
    """The page behind the Authorization URL; asks the bridge for a Link token
    (``POST /api/link_token``, from its ``<head>``) and opens Plaid Link at once."""
    body = render(
        "authorize.html",
        title=page_gettext(AUTHORIZE_TITLE),
        heading=page_gettext(AUTHORIZE_HEADING),
        intro=page_gettext(AUTHORIZE_INTRO),
        mode="authorize",
        early_script=EARLY_SCRIPT,
        step_link=page_gettext(AUTHORIZE_STEP),
        session=session,
        deny_url=deny_url,
        callback_host=urlsplit(redirect_uri).netloc or redirect_uri,
        link_script_url=plaid_client.link_script_url(settings),
        strings=script_strings("bridge.js"),
    )
    return html(body)


def oauth_return_page(settings: Settings) -> HTMLResponse:
    """Where OAuth banks send the browser back; the script re-opens Link from localStorage."""
    body = render(
        "authorize.html",
        title=page_gettext(RETURN_TITLE),
        heading=page_gettext(RETURN_HEADING),
        intro=page_gettext(RETURN_INTRO),
        mode="oauth-return",
        early_script="",
        step_link=page_gettext(RETURN_STEP),
        session="",
        deny_url="",
        callback_host="Kore.ai",
        link_script_url=plaid_client.link_script_url(settings),
        strings=script_strings("bridge.js"),
    )
    return html(body)


def repair_page(settings: Settings, token: str) -> HTMLResponse:
    """The page behind a repair link (``/repair/<token>``): asks the bridge for a Link token
    in update mode and opens Plaid Link, which logs the user in to the bank again."""
    body = render(
        "repair.html",
        title=page_gettext(REPAIR_TITLE),
        heading=page_gettext(REPAIR_HEADING),
        intro=page_gettext(REPAIR_INTRO),
        token=token,
        link_script_url=plaid_client.link_script_url(settings),
        strings=script_strings("repair.js"),
    )
    return html(body)


def finishing_page(retry_url: str, seconds: int) -> HTMLResponse:
    """The Hosted Link return while Plaid has not finished the session yet: reloads itself
    (``retry_url``, a bridge path) every ``seconds``."""
    body = render(
        "finishing.html",
        title=page_gettext(FINISHING_TITLE),
        message=page_gettext(FINISHING_MESSAGE),
        retry_url=retry_url,
        seconds=str(seconds),
    )
    return html(body, status_code=202, headers={"Retry-After": str(seconds)})


def error_page(
    status: int, title: str, message: str, fix: str, request_id: str | None = None
) -> HTMLResponse:
    """A readable error page, with the request's id for the user to quote when there is one.
    Never redirects; callers pass no secret."""
    body = render("error.html", title=title, message=message, fix=fix, request_id=request_id or "")
    return html(body, status_code=status)
