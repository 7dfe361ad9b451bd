"""What the authorization endpoint (``GET /``) checks before oauthlib reads the request:
a query the bridge can keep with its session and echo exactly (:func:`check_query`), and the
callbacks it may redirect to (:func:`accepted_callbacks`); after oauthlib's own checks, the
PKCE rules (:func:`require_s256`)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from ..settings import Settings

# GET /'s query is kept with its session: Kore's Authorization URL is at most 3000 characters,
# to which Kore adds client_id, redirect_uri, state (short) and scope.
MAX_QUERY_LENGTH = 4096  # characters of the query, as sent (percent-encoded)
MAX_STATE_LENGTH = 1024  # characters of state, decoded
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


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


def require_s256(request: Request) -> dict[str, str]:
    """Post-authorization check: a PKCE challenge must use S256 (oauthlib would allow plain)
    and look like one (RFC 7636 4.2); the code always travels in the query (Kore reads it
    there), whatever ``response_mode`` asks."""
    if request.code_challenge is not None:
        # oauthlib has already turned a missing method into "plain": read the query.
        sent = parse_qsl(request.uri_query or "", keep_blank_values=True)
        if "code_challenge_method" not in {name for name, _ in sent}:
            raise errors.InvalidRequestError(
                description="code_challenge_method is missing, which means plain (RFC 7636 "
                "4.3): send code_challenge_method=S256 with code_challenge.",
                request=request,
            )
        if request.code_challenge_method != "S256":
            raise errors.InvalidRequestError(
                description="code_challenge_method must be S256 (plain is not accepted).",
                request=request,
            )
        if not PKCE_CHALLENGE.fullmatch(request.code_challenge):
            raise errors.InvalidRequestError(
                description="code_challenge must be 43-128 characters of [A-Za-z0-9-._~].",
                request=request,
            )
    request.response_mode = "query"
    return {}
