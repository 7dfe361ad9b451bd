"""Client authentication at the token endpoint (RFC 6749 2.3), as Kore may send it.

The client is Kore's authorization profile; its password is the Plaid secret (procedure
steps 4.iii-iv). RFC 6749 2.3.1 gives two ways to send it, and the bridge takes either:

* **HTTP Basic** (:func:`basic_credentials`): ``client_id:client_secret``, each
  form-encoded, in base64. A Basic header that does not decode is ``invalid_request``,
  not a missing one (the body cannot make a broken header count as absent).
* **The body**: ``client_id`` and ``client_secret`` among the form or JSON parameters.

**Both at once, when they agree: a deliberate deviation from RFC 6749 2.3.1** ("The client
MUST NOT use more than one authentication method in each request"). That sentence binds
the client; the server still checks that the two agree. Kore's one OAuth v2 client is
documented with providers that need HTTP Basic (Pipedrive) and providers that need
``client_id``/``client_secret`` in the body (HubSpot), so it may well send both (source:
Kore's integration guides; nothing public says which it sends). Refusing that would fail
every real authorization at its last step. So (:func:`presented_credentials`):

* Basic and body naming the same client with the same secret: authenticated as one;
* Basic and an *empty* ``client_id=`` or ``client_secret=`` in the body: the empty one counts
  as absent (RFC 6749 2.3.1 lets a client omit an empty secret, so an empty field says
  nothing; a form builder may send every field of its template);
* Basic and body that disagree (another ``client_id`` or another ``client_secret``):
  ``400 invalid_request``, before any code or refresh token is looked at;
* more than one ``Authorization`` header (:func:`single_authorization`):
  ``400 invalid_request``: which one would count is a guess.

Every comparison is constant-time (:func:`equal_secrets`, :func:`hmac.compare_digest`),
and no description repeats a value that was sent.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Sequence
from urllib.parse import unquote

from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

Credentials = tuple[str, str]  # (client_id, client_secret)

ONE_WAY_OR_THE_SAME = (
    "send the client credentials one way (HTTP Basic, or client_id and client_secret in "
    "the body), or send the same client_id and client_secret both ways (in Kore: the Client "
    "ID and Client Secret Key of the authorization profile)."
)


def equal_secrets(given: str | None, expected: str) -> bool:
    """Constant-time comparison of two strings (False for a missing value)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# RFC 6749 2.3.1, first way: HTTP Basic.


def single_authorization(authorization: str | Sequence[str] | None) -> str | None:
    """The one ``Authorization`` header of a request (a list, as ``headers.getlist`` gives
    it, or one value); None without one. Several are ``invalid_request``."""
    if authorization is None or isinstance(authorization, str):
        return authorization or None
    if len(authorization) > 1:
        raise errors.InvalidRequestError(
            description=f"Send one Authorization header (HTTP Basic with client_id:"
            f"client_secret); this request has {len(authorization)}."
        )
    return authorization[0] if authorization and authorization[0] else None


def basic_credentials(header: str | None) -> Credentials | None:
    """``(client_id, client_secret)`` from an HTTP Basic header (RFC 6749 2.3.1); None
    without one (no header, another scheme). A Basic header that does not decode to
    ``client_id:client_secret`` (base64, UTF-8, form-encoded) is ``invalid_request``."""
    return _decoded_basic(header or "")


@functools.lru_cache(maxsize=8)  # one client sends the same header, request after request
def _decoded_basic(header: str) -> Credentials | None:
    """:func:`basic_credentials` (a refused header raises each time: never kept)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise ValueError("no colon")
        return (
            unquote(client_id.replace("+", " "), errors="strict"),
            unquote(secret.replace("+", " "), errors="strict"),
        )
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.InvalidRequestError(
            description="The Authorization header is not valid HTTP Basic: send 'Basic ' and "
            "the base64 of client_id:client_secret (UTF-8, each form-encoded)."
        ) from None


# RFC 6749 2.3.1, second way: the body; and both (the deviation above).


def presented_credentials(request: Request) -> tuple[str | None, str | None]:
    """The ``(client_id, client_secret)`` an oauthlib token request presents: Basic's, the
    body's, or Basic's when the body repeats them (an empty body value beside Basic counts
    as absent). Disagreeing ones are ``invalid_request``."""
    basic = basic_credentials(request.headers.get("Authorization"))
    if basic is None:
        return request.client_id, request.client_secret
    if request.client_id and not equal_secrets(request.client_id, basic[0]):
        raise errors.InvalidRequestError(
            description="The client_id in the body differs from the one in the HTTP Basic "
            "header: " + ONE_WAY_OR_THE_SAME,
            request=request,
        )
    if request.client_secret and not equal_secrets(request.client_secret, basic[1]):
        raise errors.InvalidRequestError(
            description="The client_secret in the body differs from the one in the HTTP "
            "Basic header: " + ONE_WAY_OR_THE_SAME,
            request=request,
        )
    return basic
