"""The URLs of this bridge that Plaid is given: where OAuth banks send the browser back, and
where Plaid sends the Items' webhooks. Absolute URLs come from :mod:`..public_url`, never from
an unchecked Host header."""

from __future__ import annotations

from starlette.requests import Request

from ...settings import Settings
from ..public_url import public_base_url

WEBHOOK_PATH = "/plaid/webhook"
OAUTH_RETURN_PATH = "/oauth-return"


def reachable_base_url(settings: Settings, request: Request) -> str | None:
    """:func:`..public_url.public_base_url` when Plaid can reach it (https, or the embedded
    emulator playing Plaid on this machine); else None."""
    base = public_base_url(settings, request)
    if base and (base.startswith("https://") or settings.embedded):
        return base
    return None


def link_redirect_uri(settings: Settings, request: Request) -> str | None:
    """Where OAuth banks send the browser back: LINK_REDIRECT_URI, else this bridge's own
    ``/oauth-return`` (as the browser reached it when the Host names this bridge, else the
    configured public URL), when Plaid can reach it."""
    if settings.link_redirect_uri:
        return settings.link_redirect_uri
    base = reachable_base_url(settings, request)
    return f"{base}{OAUTH_RETURN_PATH}" if base else None


def link_urls(settings: Settings, request: Request) -> tuple[str | None, str | None]:
    """:func:`link_redirect_uri` and :func:`webhook_url`, the base URL worked out once."""
    base = reachable_base_url(settings, request)
    redirect_uri = settings.link_redirect_uri or (f"{base}{OAUTH_RETURN_PATH}" if base else None)
    return redirect_uri, base + WEBHOOK_PATH if base else None


def webhook_url(settings: Settings, request: Request) -> str | None:
    """Where Plaid sends the Items' webhooks: this bridge's ``/plaid/webhook``, when Plaid
    can reach it; else None: no webhook."""
    base = reachable_base_url(settings, request)
    return base + WEBHOOK_PATH if base else None
