"""The token endpoint's success body as Kore's OAuth v2 client is answered: oauthlib's token
with ``token_type`` ``bearer``, no ``expires_in`` (Plaid access tokens do not expire) nor
``scope`` (oauthlib echoes a refresh request's), and ``"closeWindow": true`` (Kore's Plaid
sample; see :mod:`.oauth`).

:func:`kore_token` is an oauthlib token modifier: it shapes the token before oauthlib encodes
it, so that oauthlib's JSON text is the response's body as it is (no second decoding and
encoding), and it keeps the object for :func:`issued_token`.
"""

from __future__ import annotations

import contextvars
from typing import Any

_issued: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "issued_token", default=None
)


def kore_token(token: dict[str, Any], _handler: object, _request: object) -> dict[str, Any]:
    """The token as Kore is answered (an oauthlib token modifier), kept for
    :func:`issued_token`."""
    token["token_type"] = "bearer"  # noqa: S105 - a type name  # nosec B105
    token.pop("expires_in", None)
    token.pop("scope", None)
    token["closeWindow"] = True
    _issued.set(token)
    return token


def issuing() -> contextvars.Token[dict[str, Any] | None]:
    """Start a token request: no token issued yet (reset with :func:`issued_token`'s token)."""
    return _issued.set(None)


def issued_token(reset: contextvars.Token[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The token :func:`kore_token` shaped since :func:`issuing` (None: none was), and the
    context as it was before."""
    token = _issued.get()
    _issued.reset(reset)
    return token
