"""The emulated dashboard's "Allowed redirect URIs": in embedded mode they are the runbook's
own settings (the Kore callbacks and LINK_REDIRECT_URI); loopback URLs are allowed too, as
Plaid's Sandbox allows localhost (:meth:`.core.Emulator.redirect_uri_allowed`)."""

from __future__ import annotations

from ..settings import Settings

DASHBOARD_PATH = "/_emulator/dashboard"  # GET / PUT {"allowed_redirect_uris": [...]}


def allowed_redirect_uris(settings: Settings) -> tuple[str, ...]:
    candidates = (settings.link_redirect_uri, *settings.registered_callbacks)
    return tuple(dict.fromkeys(uri for uri in candidates if uri))
