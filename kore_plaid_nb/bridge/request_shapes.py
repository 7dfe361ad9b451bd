"""The *shape* of a request to the Authorization URL or the Token URL: what Kore sends,
without a single value (issue 22). The bridge records one shape per request (the newest
:data:`KEPT_SHAPES` at least, in the store, shared by every replica; a burst of equal shapes in
one second is one stored record with its count); ``kore-plaid kore-requests`` lists them and
the simulator can replay the newest one (``kore-plaid verify --as-recorded``).

A shape holds names and yes/no facts only: parameter and header names, the client
authentication method, ``grant_type`` (one of a fixed list), the media type, the
User-Agent (software, not a secret) and the answer's status. Never a secret, code, token,
``state`` value or query string.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Endpoint = Literal["authorize", "token"]
ClientAuth = Literal["basic", "body", "both", "none"]
BodyKind = Literal["json", "form"]
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
KEPT_SHAPES = 200
# grant_type is free text from the client: a known name is kept, anything else is "other"
KNOWN_GRANT_TYPES = frozenset(
    {"authorization_code", "refresh_token", "client_credentials", "password", "implicit"}
)
OTHER = "(other)"
MAX_NAMES = 40
# A value may come where a name goes (a body without "=", an id or a secret pasted into the
# wrong field): a name is kept only when it looks like one, else it becomes "(other)". Every
# name: at most 32 characters and at most 2 digits (hex ids, secrets, UUIDs have more).
_SHORT_FEW_DIGITS = r"(?=.{1,32}$)(?!(?:\D*\d){3})"
# A parameter name as clients write them: snake_case / kebab-case / dotted words of at most
# 15 letters, digits only at a word's end (``oauth2``), an optional [index]; or camelCase of
# at most three words and no run of five consonants. A random token does not fit: a run of
# 16 letters and digits (every hex id or secret), digits inside a word, many capitals or a
# long run of consonants (base64url).
PARAM_NAME = re.compile(
    _SHORT_FEW_DIGITS + r"(?:[a-z]{1,15}[0-9]{0,2}(?:[_.\-](?:[a-z]{1,15}[0-9]{0,2}|[0-9]{1,2}))*"
    r"(?:\[[a-z0-9_]*\])?"
    r"|(?!.*(?i:[b-df-hj-np-tv-xz]){5})[a-z]{2,15}(?:[A-Z][a-z]{1,14}){1,2})"
)
# A header name, lower-cased: the HTTP token a client chose (``x-kore-bot-id``), at most 32
# characters and 2 digits, so that a hex id or a UUID never passes. Header names are the
# client's software, not its data: unlike a parameter name, no value lands there by mistake,
# and an unknown one (what Kore adds) is exactly what the recorder is for.
NAME = re.compile(_SHORT_FEW_DIGITS + r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_TEXT = 200
NAMES_CACHED = 1024  # names whose verdict is kept (any number may be sent: the oldest go)
NAME_LISTS_CACHED = 256  # lists of names sent whose sorted names are kept (names only)
PKCE_PARAMS = {"authorize": "code_challenge", "token": "code_verifier"}  # nosec B105


@functools.lru_cache(maxsize=NAMES_CACHED)  # the same few names, request after request
def param_name(name: str) -> str:
    """A parameter name as sent, or ``(other)`` when it does not look like one."""
    return name if PARAM_NAME.fullmatch(name) else OTHER


@functools.lru_cache(maxsize=NAMES_CACHED)
def header_name(name: str) -> str:
    """A header name, lower-cased, or ``(other)`` when it does not look like one."""
    lowered = name.lower()
    return lowered if NAME.fullmatch(lowered) else OTHER


def _names(names: Iterable[str], kept: Callable[[str], str]) -> tuple[str, ...]:
    """Unique names, sorted, each as ``kept`` keeps it (``(other)`` for a value)."""
    return tuple(sorted({kept(name) for name in names})[:MAX_NAMES])


# The same few lists of names, request after request: each list's sorted names are kept in
# memory (keyed by the names sent, never a value; a list longer than MAX_NAMES is not kept).
@functools.lru_cache(maxsize=NAME_LISTS_CACHED)
def _param_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return _names(names, param_name)


@functools.lru_cache(maxsize=NAME_LISTS_CACHED)
def _header_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return _names(names, header_name)


def kept_param_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The parameter names sent, unique and sorted, each as :func:`param_name` keeps it."""
    if len(names) > MAX_NAMES:
        return _names(names, param_name)
    return _param_names(names)


def kept_header_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The header names sent, unique and sorted, each as :func:`header_name` keeps it."""
    if len(names) > MAX_NAMES:
        return _names(names, header_name)
    return _header_names(names)


def _text(value: str | None) -> str | None:
    """A short printable header value (User-Agent, Content-Type), or None."""
    if not value:
        return None
    if value.isprintable():  # the usual case: no character to drop
        return value.strip()[:MAX_TEXT] or None
    printable = "".join(ch for ch in value if ch.isprintable()).strip()
    return printable[:MAX_TEXT] or None


def media_type(content_type: str | None) -> str | None:
    """``application/json`` from ``application/json; charset=utf-8``; None when absent."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return _text(kind)


def body_kind(content_type: str | None) -> BodyKind | None:
    """How the bridge reads a body sent with this Content-Type (the header or its media
    type): ``json`` whenever it names JSON (``application/json``, ``text/json``,
    ``application/vnd.api+json``...), as :func:`.http.parse_params` decides; ``form`` for
    ``application/x-www-form-urlencoded``; None for anything else (read as a form too)."""
    if "json" in (content_type or "").lower():
        return "json"
    return "form" if media_type(content_type) == FORM_MEDIA_TYPE else None


def is_basic(header: str) -> bool:
    """Whether an Authorization header uses the Basic scheme (decodable or not)."""
    return header.strip().lower().startswith("basic ")


def client_auth_of(authorizations: Sequence[str], params: Mapping[str, str]) -> ClientAuth:
    """How the request authenticates the client: HTTP Basic, ``client_secret`` in the
    parameters, both, or neither (a ``client_id`` alone authenticates nothing). Beside
    Basic, an empty ``client_secret`` counts as absent, as the token endpoint counts it."""
    basic = any(is_basic(header) for header in authorizations)
    if basic:
        return "both" if params.get("client_secret") else "basic"
    return "body" if "client_secret" in params else "none"


_RECORD_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # json.dumps's


@dataclass(frozen=True)
class RequestShape:
    """One request, as names and facts. ``at``: seconds since the epoch."""

    endpoint: Endpoint
    at: float
    grant_type: str | None
    client_auth: ClientAuth
    content_type: str | None
    params: tuple[str, ...]
    headers: tuple[str, ...]
    state: bool
    pkce: bool
    scope: bool
    redirect_uri_matches: bool | None
    user_agent: str | None
    status: int

    def as_json(self) -> dict[str, object]:
        """The ``kore-plaid kore-requests --json`` object (the contract of issue 22)."""
        return self._fields(iso8601(self.at))

    def to_record(self, repeats: int = 1) -> str:
        """The JSON text the store keeps: :meth:`as_json` with ``at`` as a number (built
        here, without the date text it would replace; one encoder for every record), and
        ``repeats`` when it stands for that many equal requests (absent for one)."""
        fields = self._fields(self.at)
        if repeats > 1:
            fields["repeats"] = repeats
        return _RECORD_ENCODER.encode(fields)

    def same_but_at(self, other: RequestShape) -> bool:
        """Whether ``other`` is this shape, ``at`` aside (field by field, no copy)."""
        return (
            self.status == other.status
            and self.endpoint == other.endpoint
            and self.grant_type == other.grant_type
            and self.client_auth == other.client_auth
            and self.params == other.params
            and self.headers == other.headers
            and self.user_agent == other.user_agent
            and self.content_type == other.content_type
            and self.state == other.state
            and self.pkce == other.pkce
            and self.scope == other.scope
            and self.redirect_uri_matches == other.redirect_uri_matches
        )

    def _fields(self, at: object) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "at": at,
            "grant_type": self.grant_type,
            "client_auth": self.client_auth,
            "content_type": self.content_type,
            "params": list(self.params),
            "headers": list(self.headers),
            "state": self.state,
            "pkce": self.pkce,
            "scope": self.scope,
            "redirect_uri_matches": self.redirect_uri_matches,
            "user_agent": self.user_agent,
            "status": self.status,
        }

    @classmethod
    def from_record(cls, text: str) -> RequestShape:
        """The shape of a stored record (see :meth:`to_record`)."""
        return cls._from_data(json.loads(text))

    @classmethod
    def repeated_from_record(cls, text: str) -> tuple[RequestShape, int]:
        """The shape of a stored record and how many requests it stands for (its
        ``repeats``; 1 for a record without it, as every record was before)."""
        data = json.loads(text)
        return cls._from_data(data), max(1, int(data.get("repeats", 1)))

    @classmethod
    def _from_data(cls, data: dict[str, Any]) -> RequestShape:
        return cls(
            endpoint=data["endpoint"],
            at=float(data["at"]),
            grant_type=data["grant_type"],
            client_auth=data["client_auth"],
            content_type=data["content_type"],
            params=tuple(data["params"]),
            headers=tuple(data["headers"]),
            state=bool(data["state"]),
            pkce=bool(data["pkce"]),
            scope=bool(data["scope"]),
            redirect_uri_matches=data["redirect_uri_matches"],
            user_agent=data["user_agent"],
            status=int(data["status"]),
        )


def iso8601(at: float) -> str:
    """``2026-12-07T01:53:41Z`` (UTC, whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def shape_of(
    endpoint: Endpoint,
    *,
    params: Sequence[tuple[str, str]],
    header_names: Iterable[str],
    authorizations: Sequence[str],
    content_type: str | None,
    user_agent: str | None,
    callbacks: Iterable[str],
    status: int,
    at: float | None = None,
) -> RequestShape:
    """The shape of one request. ``params``: the query (authorize) or the body (token);
    ``callbacks``: the redirect URIs the bridge accepts (``redirect_uri_matches`` says
    whether the one sent is among them; None when none was sent)."""
    values = dict(params)
    redirect_uri = values.get("redirect_uri")
    grant_type = values.get("grant_type")
    if grant_type is not None and grant_type not in KNOWN_GRANT_TYPES:
        grant_type = OTHER
    return RequestShape(
        endpoint=endpoint,
        at=time.time() if at is None else at,
        grant_type=grant_type,
        client_auth=client_auth_of(authorizations, values),
        content_type=media_type(content_type),
        params=kept_param_names(tuple(values)),  # the names sent, each once
        headers=kept_header_names(tuple(header_names)),
        state="state" in values,
        pkce=PKCE_PARAMS[endpoint] in values,
        scope="scope" in values,
        redirect_uri_matches=None if redirect_uri is None else redirect_uri in set(callbacks),
        user_agent=_text(user_agent),
        status=status,
    )


# The runbook's own checks (``kore-plaid verify``) say who they are, so that "what Kore
# sent" never shows the simulator's requests as Kore's.
VERIFY_USER_AGENT = "kore-plaid-verify (simulated Kore)"
# Embedded mode's stand-in for Kore (notebook 06 plays Kore with it).
STANDIN_USER_AGENT = "kore-plaid-standin (plays Kore, embedded mode)"


def from_kore(shape: RequestShape) -> bool:
    """Whether a request came from Kore (or its embedded stand-in), not from ``verify``."""
    return not (shape.user_agent or "").startswith(VERIFY_USER_AGENT.split(" ")[0])
