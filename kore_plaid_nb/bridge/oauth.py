"""OAuth 2.0 for the bridge: oauthlib's ``WebApplicationServer`` + a ``RequestValidator``.

oauthlib does the RFC 6749 / 7636 parsing and error handling; this module supplies storage
(:class:`BridgeValidator`) and a thin adapter for what Kore sends (:class:`BridgeOAuth`).

Decisions (RFC 6749, 7636, 9700):

* **The client** is the Plaid client id; its secret is the Plaid secret (procedure steps
  4.iii-iv). Client authentication is required at the token endpoint: by HTTP Basic, by
  ``client_id``/``client_secret`` in the body, or by both when they name the same client
  with the same secret - a deliberate deviation from RFC 6749 2.3.1 ("MUST NOT use more
  than one authentication method"): that rule binds the client, the server still checks
  that the two agree, and Kore's one OAuth v2 client is documented with providers needing
  Basic (Pipedrive) and providers needing body credentials (HubSpot), so it may send both
  (Kore's integration guides). Basic and body that disagree, more than one
  ``Authorization`` header, or a Basic header that cannot be decoded are
  ``invalid_request``. See :mod:`.client_auth`.
* **Redirect URIs** are compared as exact strings against :func:`accepted_callbacks` (the
  simulator's loopback one only in the embedded mode or when configured). A
  missing ``redirect_uri`` means the single Kore callback (PLAID_REDIRECT_URI when
  KORE_CALLBACK_URLS adds no other one); with several, it is required.
* **Codes** are 30 random characters from oauthlib (~178 bits), stored as SHA-256 digests,
  valid :data:`CODE_TTL` (10 minutes), bound to client, redirect_uri and PKCE challenge, and
  redeemed by a conditional UPDATE *before* anything is issued, in the same transaction that
  stores the refresh token it grants, so two concurrent requests (on any replica) cannot both
  win and a lost database never leaves a code honoured without its grant. A code that is
  presented again (replay, or the loser of that race) gets ``invalid_grant`` and every
  refresh token issued from it is revoked; the Item's Plaid access token is removed at Plaid
  (``/item/remove``), since a replayed code means it may have leaked.
  A code consumed by a request that then fails (wrong PKCE verifier, wrong redirect_uri) stays
  consumed: the client starts a new authorization.
* **state** is optional (Kore's sample sends none): when sent, it goes back exactly as sent,
  an empty one too (RFC 6749 4.1.2), on the code's redirect, an error's and a denial's; a
  state that is not UTF-8, or too long, and a query over 4096 characters are refused
  (400 ``invalid_request``, :mod:`.authorization_checks`).
  Parameters the bridge does not know (``scope``, ``prompt``, ``nonce``...) are ignored and
  never echoed. At the token endpoint ``state`` means nothing (RFC 6749 4.1.3): it is
  dropped before oauthlib, which would copy it into every error body.
* **PKCE**: optional (Kore's sample sends none), but when a ``code_challenge`` is sent, the
  method must be ``S256``; ``plain``, or no method (which means plain, RFC 7636 4.3), is
  refused with ``invalid_request``: it only protects against an attacker who cannot read the
  authorization request, and Kore, a confidential client, has no reason to use it. A token
  request with a ``code_verifier`` for a code authorized without ``code_challenge`` is
  ``invalid_grant`` (a PKCE downgrade, RFC 9700 2.1.1), and the code is spent.
* **Token endpoint quirks** (the adapter): form *and* JSON bodies; a body with a ``code`` and
  no ``grant_type`` is ``authorization_code`` (Kore's sample); a token request without
  ``redirect_uri`` is accepted (the code is bound to one already) while a different one is
  refused - a deliberate deviation from RFC 6749 4.1.3 since what Kore sends is unknown.
* **The access token** is the Item's Plaid access token (Kore injects it into Plaid request
  bodies). Plaid access tokens do not expire, so no ``expires_in`` is sent and the refresh grant
  answers the same access token again.
* **Refresh tokens are not rotated.** Kore is a confidential client: RFC 9700 4.14.2 accepts
  client authentication as the sender constraint, so rotation adds nothing, while it would break
  a Kore retry whose first answer was lost and any token issued before a ``kill -9`` that Kore
  had not yet replaced. A refresh token lives until its code is replayed (then it is revoked).
* **Errors** are oauthlib's error classes, which carry the RFC names (``invalid_request``,
  ``invalid_client`` 401, ``invalid_grant``, ``unsupported_grant_type``; a redirect_uri that
  differs from the authorized one is ``invalid_grant`` as RFC 6749 5.2 says, where oauthlib
  would say ``invalid_request``). Every 401 carries ``WWW-Authenticate: Basic`` (required when
  Basic was used, and RFC 9110 wants one on any 401). Every token response, good or bad,
  carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlencode

from oauthlib.common import UNICODE_ASCII_CHARACTER_SET, Request, add_params_to_uri
from oauthlib.oauth2 import RequestValidator, WebApplicationServer
from oauthlib.oauth2.rfc6749 import errors

from ..http_plumbing import NO_STORE
from ..settings import Settings
from .audit import (
    GRANTED,
    AuditEvent,
    audit_record,
    record_audit,
    record_refused_refresh,
    use_refresh_token,
)
from .authorization_checks import accepted_callbacks, check_query, require_s256
from .client_auth import equal_secrets, presented_credentials, single_authorization
from .deferred_audit import audit_later
from .kore_token import issued_token, issuing, kore_token
from .metrics import recording
from .oauth_request import FormPairs, ParsedOnceRequest, parse_once
from .store import BridgeStore, CodeRecord, ItemRecord, public_ref
from .validated_queries import ValidatedQueries, ValidatedQuery, issue_validated

# oauthlib's debug lines print grants (codes) in clear: keep them off whatever the root level.
logging.getLogger("oauthlib").setLevel(logging.WARNING)

CODE_TTL = 600.0
SESSION_TTL = 1800.0
BASIC_REALM = 'Basic realm="kore-plaid-bridge", charset="UTF-8"'
TOKEN_GRANT_TYPES = ("authorization_code", "refresh_token")

# The refresh token stored with a code redeemed during the current token request: it is
# handed out only if the request then passes every check, and revoked otherwise.
_redeemed_refresh_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "redeemed_refresh_token", default=None
)

# oauthlib's error classes the routes and tests catch.
OAuth2Error = errors.OAuth2Error
FatalClientError = errors.FatalClientError


@dataclass(frozen=True)
class BridgeClient:
    """The one OAuth client: Kore's authorization profile, known by the Plaid client id."""

    client_id: str


class BridgeValidator(RequestValidator):
    """oauthlib's storage and policy hooks, backed by :class:`BridgeStore`."""

    def __init__(
        self,
        settings: Settings,
        store: BridgeStore,
        on_replay: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.on_replay = on_replay  # (access_token, reason) after a replayed code

    # Clients.

    def client_authentication_required(
        self, request: Request, *args: object, **kwargs: object
    ) -> bool:
        return True

    def authenticate_client(self, request: Request, *args: object, **kwargs: object) -> bool:
        client_id, secret = presented_credentials(request)
        id_ok = equal_secrets(client_id, self.settings.client_id)
        secret_ok = equal_secrets(secret, self.settings.secret)
        if client_id is None or not (id_ok and secret_ok):
            return False
        request.client_id = client_id
        request.client = BridgeClient(client_id)
        return True

    def authenticate_client_id(
        self, client_id: str, request: Request, *args: object, **kwargs: object
    ) -> bool:
        return False  # no public clients

    def validate_client_id(
        self, client_id: str, request: Request, *args: object, **kwargs: object
    ) -> bool:
        if equal_secrets(client_id, self.settings.client_id):
            request.client = BridgeClient(client_id)
            return True
        return False

    def validate_grant_type(
        self,
        client_id: str,
        grant_type: str,
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        return grant_type in TOKEN_GRANT_TYPES

    def validate_response_type(
        self,
        client_id: str,
        response_type: str,
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        if response_type != "code":  # oauthlib would call it unauthorized_client
            raise errors.UnsupportedResponseTypeError(request=request)
        return True

    # Redirect URIs.

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Request, *args: object, **kwargs: object
    ) -> bool:
        return any(equal_secrets(redirect_uri, url) for url in accepted_callbacks(self.settings))

    def get_default_redirect_uri(
        self, client_id: str, request: Request, *args: object, **kwargs: object
    ) -> str | None:
        record: CodeRecord | None = getattr(request, "code_record", None)
        if record is not None:
            return record.redirect_uri
        kore_callbacks = {self.settings.plaid_redirect_uri, *self.settings.kore_callback_urls}
        return kore_callbacks.pop() if len(kore_callbacks) == 1 else None

    def confirm_redirect_uri(
        self,
        client_id: str,
        code: str,
        redirect_uri: str,
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        record = getattr(request, "code_record", None)
        if record is None or not equal_secrets(redirect_uri, record.redirect_uri):
            # RFC 6749 5.2 names this invalid_grant (oauthlib would say invalid_request).
            raise errors.InvalidGrantError(
                description="redirect_uri differs from the one of the authorization request.",
                request=request,
            )
        return True

    # Scopes carry no meaning for Plaid: whatever Kore sends is accepted and echoed nowhere.

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        return True

    def get_default_scopes(
        self, client_id: str, request: Request, *args: object, **kwargs: object
    ) -> list[str]:
        return []

    def get_original_scopes(
        self, refresh_token: str, request: Request, *args: object, **kwargs: object
    ) -> list[str]:
        return []

    def is_within_original_scope(
        self,
        request_scopes: list[str],
        refresh_token: str,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        return True

    # Authorization codes.

    def is_pkce_required(self, client_id: str, request: Request) -> bool:
        """PKCE is optional; oauthlib asks this only for codes without ``code_challenge``,
        where a ``code_verifier`` means a PKCE downgrade (RFC 9700 2.1.1)."""
        if request.grant_type == "authorization_code" and request.code_verifier is not None:
            raise errors.InvalidGrantError(
                description="code_verifier was sent, but this code was authorized without "
                "code_challenge (a PKCE downgrade?): start a new authorization that sends "
                "code_challenge, or send no code_verifier.",
                request=request,
            )
        return False

    def save_authorization_code(
        self,
        client_id: str,
        code: dict[str, str],
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> None:
        self.store.save_authorization(
            session_id=request.session_id,
            item=request.item,
            code=code["code"],
            client_id=client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method if request.code_challenge else None,
            code_ttl=CODE_TTL,
            audit=audit_record(GRANTED, self.store.clock(), public_ref(request.item.item_id)),
        )

    def validate_code(
        self,
        client_id: str,
        code: str,
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        refresh_token = secrets.token_urlsafe(32)
        # found and redeemed in one transaction (a code of another client stays unused)
        record, redeemed = self.store.redeem_code_of(code, client_id, refresh_token)
        if record is None or not equal_secrets(client_id, record.client_id):
            return False
        if redeemed:
            _redeemed_refresh_token.set(refresh_token)
            request.code_record = record
            request.item_access_token = record.access_token
            request.user = record.item_ref
            request.scopes = []
            return True
        # Not redeemed: used before (a replay, or the loser of a race), or expired.
        current = record if record.used_at is not None else self.store.find_code(code)
        if current is not None and current.used_at is not None:
            # held back on the event loop (.deferred_audit): a store write and a Plaid call
            audit_later(partial(self._revoke_replayed, code, record.access_token))
            replayed = (AuditEvent.CODE_REPLAYED, record.item_ref, "grant revoked")
            audit_later(partial(record_audit, self.store, *replayed))
        return False

    def _revoke_replayed(self, code: str, access_token: str) -> None:
        if self.store.revoke_code_grant(code):  # counted once: when a grant is revoked
            recording.authorization_failed("code_replayed")
        if self.on_replay is not None:
            self.on_replay(access_token, "authorization code replayed")

    def get_code_challenge(self, code: str, request: Request) -> str | None:
        record = getattr(request, "code_record", None)
        return record.code_challenge if record else None

    def get_code_challenge_method(self, code: str, request: Request) -> str | None:
        record = getattr(request, "code_record", None)
        return record.code_challenge_method if record else None

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Request, *args: object, **kwargs: object
    ) -> None:
        """Nothing to do: :meth:`validate_code` consumed the code atomically."""

    # Tokens.

    def save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: object, **kwargs: object
    ) -> None:
        """Nothing left to store: the code's refresh token was stored when the code was
        redeemed, and a refresh recorded its use when it was validated."""

    def validate_refresh_token(
        self,
        refresh_token: str,
        client: BridgeClient,
        request: Request,
        *args: object,
        **kwargs: object,
    ) -> bool:
        record = use_refresh_token(self.store, refresh_token)
        if record is None:  # recorded outside a no-wait store scope (.deferred_audit)
            audit_later(partial(record_refused_refresh, self.store, refresh_token))
            return False
        if not equal_secrets(client.client_id, record.client_id):
            refused = (AuditEvent.REFRESH_REFUSED, record.item_ref, "client mismatch")
            audit_later(partial(record_audit, self.store, *refused))
            return False
        request.item_access_token = record.access_token
        request.user = record.item_ref
        return True

    def rotate_refresh_token(self, request: Request) -> bool:
        return False  # see the module docstring


def new_code(length: int = 30) -> str:
    """``length`` random characters of oauthlib's alphabet (62: ~5.95 bits each), as
    oauthlib's own ``generate_token`` makes them, from one ``os.urandom`` read instead of
    one per character (rejection sampling keeps every character equally likely)."""
    alphabet = UNICODE_ASCII_CHARACTER_SET
    limit = 256 - 256 % len(alphabet)
    chars: list[str] = []
    while len(chars) < length:
        chars += [alphabet[b % len(alphabet)] for b in secrets.token_bytes(length) if b < limit]
    return "".join(chars[:length])


def _mint_code(request: Request) -> dict[str, str]:
    """oauthlib's ``create_authorization_code``, with :func:`new_code`."""
    grant = {"code": new_code()}
    if getattr(request, "state", None) is not None:  # an empty state too: it was sent
        grant["state"] = request.state
    return grant


def _redeemed_refresh_token_of(request: Request) -> str:
    token = _redeemed_refresh_token.get()
    if token is None:  # only a redeemed code reaches token creation
        raise errors.ServerError(description="No code was redeemed for this request.")
    return token


def _error_location(exc: errors.OAuth2Error) -> str:
    """Where an authorization error sends the browser: the error and the ``state`` exactly
    as sent (RFC 6749 4.1.2.1), an empty one too (oauthlib would drop it); nothing else."""
    params: list[tuple[str, str]] = exc.twotuples
    if exc.state == "":
        params.append(("state", ""))
    location: str = add_params_to_uri(exc.redirect_uri, params)
    return location


@dataclass
class TokenResponse:
    """What the token endpoint answers: status, headers and a JSON object (``encoded``:
    that object's JSON text, when oauthlib made it)."""

    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)
    encoded: bytes | None = None


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (what the page and the session remember)."""

    client_id: str
    redirect_uri: str
    state: str | None
    query: str


class AuthorizationRedirect(Exception):
    """A non-fatal authorization error: send the browser to ``location`` (RFC 6749 4.1.2.1)."""

    def __init__(self, location: str, error: str) -> None:
        super().__init__(error)
        self.location = location
        self.error = error


class BridgeOAuth:
    """The OAuth provider: authorization checks, code minting and the token endpoint."""

    def __init__(
        self,
        settings: Settings,
        store: BridgeStore,
        base_uri: str = "http://bridge.local",
        on_replay: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.base_uri = base_uri.rstrip("/")
        self.validator = BridgeValidator(settings, store, on_replay=on_replay)
        parse_once()  # oauthlib's requests parse their query and body once
        self.server = WebApplicationServer(
            self.validator,
            token_generator=lambda request: request.item_access_token,
            refresh_token_generator=_redeemed_refresh_token_of,
        )
        self.server.auth_grant.custom_validators.post_auth.append(require_s256)
        for grant in (self.server.auth_grant, self.server.refresh_grant):
            grant.register_token_modifier(kore_token)
        self.server.auth_grant.create_authorization_code = _mint_code
        self.validated = ValidatedQueries()

    # Authorization endpoint.

    def validate_authorization(self, query: str) -> AuthorizationRequest:
        """Check ``GET /?<query>``.

        Raises :class:`FatalClientError` (bad client or redirect_uri: show a page, never
        redirect) or :class:`AuthorizationRedirect` (other errors: back to the callback).
        """
        check_query(query)
        uri = f"{self.base_uri}/?{query}" if query else f"{self.base_uri}/"
        try:
            _scopes, info = self.server.validate_authorization_request(uri, http_method="GET")
        except errors.FatalClientError:
            raise
        except errors.OAuth2Error as exc:
            if not exc.redirect_uri:
                raise errors.InvalidRequestFatalError(description=exc.description) from None
            raise AuthorizationRedirect(_error_location(exc), exc.error) from None
        except ValueError:
            raise errors.InvalidRequestFatalError(
                description="The authorization request could not be parsed."
            ) from None
        challenge = info.get("code_challenge")
        validated = ValidatedQuery(
            info["client_id"],
            info["redirect_uri"],
            challenge,
            challenge and info["request"].code_challenge_method,
        )
        self.validated.remember(query, validated)
        return AuthorizationRequest(
            client_id=info["client_id"],
            redirect_uri=info["redirect_uri"],
            state=info["state"],
            query=query,
        )

    def issue_code(self, session_id: str, query: str, item: ItemRecord) -> str:
        """Mint and store the code for a completed Link session; returns the redirect URL."""
        uri = f"{self.base_uri}/?{query}"
        credentials = {"session_id": session_id, "item": item}
        validated = self.validated.get(query)
        if validated is not None:
            request = validated.request(ParsedOnceRequest(uri, http_method="GET"), credentials)
            request.client = BridgeClient(validated.client_id)
            return issue_validated(self.server, self.validator, request)
        headers, _body, _status = self.server.create_authorization_response(
            uri, http_method="GET", scopes=[], credentials=credentials
        )
        location: str = headers["Location"]
        return location

    def denial_location(self, auth: AuthorizationRequest) -> str:
        """Where the page sends the user who exits Link: ``error=access_denied`` + state."""
        params = [("error", "access_denied"), ("error_description", "The user closed Plaid Link.")]
        if auth.state is not None:
            params.append(("state", auth.state))
        separator = "&" if "?" in auth.redirect_uri else "?"
        return f"{auth.redirect_uri}{separator}{urlencode(params)}"

    # Token endpoint.

    def token_response(
        self, params: Iterable[tuple[str, str]], authorization: str | Sequence[str] | None
    ) -> TokenResponse:
        """Answer a token request given its body parameters and its Authorization header(s)
        (one value, or every value as ``headers.getlist`` gives them)."""
        try:
            header = single_authorization(authorization)
        except errors.OAuth2Error as exc:
            return self._error(exc)
        pairs = [(name, value) for name, value in params if name != "state"]  # never echoed
        names = {name for name, _ in pairs}
        if "grant_type" not in names:
            if "code" not in names:
                return self._error(
                    errors.InvalidRequestError(description="Missing grant_type parameter.")
                )
            pairs.append(("grant_type", "authorization_code"))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if header:
            headers["Authorization"] = header
        reset, issuing_reset = _redeemed_refresh_token.set(None), issuing()
        try:
            _headers, body, status = self.server.create_token_response(
                f"{self.base_uri}/oauth/token",
                http_method="POST",
                body=FormPairs(pairs),  # as parsed: no urlencoding for oauthlib to parse again
                headers=headers,
            )
            redeemed = _redeemed_refresh_token.get()
        finally:
            _redeemed_refresh_token.reset(reset)
            token = issued_token(issuing_reset)
        if status != 200 and redeemed is not None:
            # The code was redeemed, then a later check failed (PKCE verifier, redirect_uri):
            # the code stays used, and the refresh token stored with it was never handed out
            # (held back on the event loop: after the redeeming, nothing there may fail).
            audit_later(partial(self.store.revoke_refresh_token, redeemed))
        out_headers = dict(NO_STORE)
        if status == 200 and token is not None:  # shaped by kore_token, encoded by oauthlib
            return TokenResponse(status, dict(token), out_headers, encoded=body.encode())
        if status == 401:
            out_headers["WWW-Authenticate"] = BASIC_REALM
        return TokenResponse(status, json.loads(body) if body else {}, out_headers)

    def _error(self, exc: errors.OAuth2Error) -> TokenResponse:
        headers = dict(NO_STORE)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = BASIC_REALM
        return TokenResponse(exc.status_code, json.loads(exc.json), headers)
