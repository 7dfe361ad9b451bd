"""What the authorization endpoint (``GET /``) checks before oauthlib reads the request:
a query the bridge can keep with its session and echo exactly (:func:`check_query`), and the
callbacks it may redirect to (:func:`accepted_callbacks`)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from oauthlib.oauth2.rfc6749 import errors

from ..settings import Settings

# GET /'s query is kept with its session: Kore's Authorization URL is at most 3000 characters,
# to which Kore adds client_id, redirect_uri, state (short) and scope.
MAX_QUERY_LENGTH = 4096  # characters of the query, as sent (percent-encoded)
MAX_STATE_LENGTH = 1024  # characters of state, decoded


def check_query(query: str) -> None:
    """An authorization query the bridge can keep and echo exactly: at most
    :data:`MAX_QUERY_LENGTH` characters, UTF-8 once decoded (RFC 6749 4.1.2: ``state`` goes
    back exactly as sent), ``state`` at most :data:`MAX_STATE_LENGTH`; else
    ``invalid_request``, shown on a page (never redirected with an altered state)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise errors.InvalidRequestFatalError(
            description=f"its query is {len(query)} characters long; the bridge accepts at "
            f"most {MAX_QUERY_LENGTH}."
        )
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidRequestFatalError(
            description="its query holds percent-encoded bytes that are not UTF-8 text, so "
            "state could not go back exactly as sent."
        ) from None
    for name, value in pairs:
        if name == "state" and len(value) > MAX_STATE_LENGTH:
            raise errors.InvalidRequestFatalError(
                description=f"its state is {len(value)} characters long; the bridge accepts "
                f"at most {MAX_STATE_LENGTH}."
            )


def accepted_callbacks(settings: Settings) -> tuple[str, ...]:
    """The callbacks the bridge redirects to: Kore's, and the Kore simulator's loopback one
    only in the embedded mode or with BRIDGE_ALLOW_LOOPBACK_CALLBACK=1 (a live bridge sends
    codes to Kore, not to whatever listens on a loopback port)."""
    callbacks = settings.registered_callbacks
    if settings.embedded or settings.bridge_allow_loopback_callback:
        return callbacks
    kore = {settings.plaid_redirect_uri, *settings.kore_callback_urls}
    return tuple(url for url in callbacks if url != settings.simulator_callback or url in kore)
