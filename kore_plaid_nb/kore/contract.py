"""Kore's contract: what the simulator assumes about Kore's OAuth v2 client, what the bridge
accepts, where each assumption comes from, and how that compares with what Kore really sent
(issue 22; notebook 06 "What Kore sent"). ``docs/kore-contract.md`` says the same in prose.

No public source says how Kore's client calls a Token URL, so each :class:`Assumption` names
its source (the seed procedure, Kore's docs, Kore's Plaid sample, an RFC). :func:`compare`
holds recorded request *shapes* (names only, never values) against them and explains every
difference: what it means and whether the bridge accepts it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from ..bridge.request_shapes import RequestShape, iso8601
from ..tables import format_table
from .behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour

TEXT_WIDTH = 100  # the paragraphs under the table, as a terminal or a notebook shows them

CONTRACT_DOC = "docs/kore-contract.md"
NOT_VISIBLE = "not visible in a request"
NOT_SEEN = "not seen"
AS_RECORDED = "kore-plaid verify --as-recorded"


@dataclass(frozen=True)
class Assumption:
    """One thing the simulator assumes about Kore; ``visible``: a recorded shape can show it."""

    key: str
    label: str
    question: str
    simulator_assumes: str
    bridge_accepts: str
    source: str
    visible: bool = True


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        key="client_credentials",
        label="client credentials",
        question="How Kore sends the client credentials",
        simulator_assumes="HTTP Basic (an Authorization: Basic header)",
        bridge_accepts="HTTP Basic, client_id + client_secret in the body, or both when they "
        "name the same client with the same secret; 400 invalid_request when the two "
        "disagree or the request has two Authorization headers",
        source="RFC 6749 §2.3.1; Kore's HubSpot / Pipedrive guides (one Kore client, "
        "documented with a provider that requires the body and one that requires HTTP "
        "Basic); no Kore source says which Kore sends",
    ),
    Assumption(
        key="token_body",
        label="token request body",
        question="Which body Kore posts to the Token Request URL",
        simulator_assumes="a form (application/x-www-form-urlencoded)",
        bridge_accepts="a form or a JSON object (a body that is not JSON is read as a form)",
        source="RFC 6749 §4.1.3 (a form); Kore's Plaid sample (Plaid_Guide_Code, index.js) "
        "reads a form or JSON",
    ),
    Assumption(
        key="grant_type",
        label="grant_type",
        question="Whether Kore sends grant_type with the code",
        simulator_assumes="grant_type=authorization_code",
        bridge_accepts="authorization_code or refresh_token; a code without grant_type is "
        "read as authorization_code",
        source="RFC 6749 §4.1.3; Kore's Plaid sample (Plaid_Guide_Code, index.js) reads "
        "only code (or public_token) from the body",
    ),
    Assumption(
        key="redirect_uri",
        label="redirect_uri",
        question="Whether Kore sends redirect_uri, and whether it matches the callback",
        simulator_assumes="the Callback Link, in both requests, matching PLAID_REDIRECT_URI",
        bridge_accepts="authorization request: exactly a registered callback, or none when "
        "only one is registered; token request: the same one, or none (the code is bound "
        "to it already); any other is refused",
        source="RFC 6749 §4.1.1, §4.1.3; Kore's docs: Setting up authorization using OAuth "
        "v2 (the read-only Callback Link); Kore's Plaid sample (Plaid_Guide_Code, index.js) "
        "recognizes Kore by a redirect_uri in the page's query (inferred: Kore sends it)",
    ),
    Assumption(
        key="state",
        label="state",
        question="Whether Kore sends state",
        simulator_assumes="a fresh state, checked on the callback",
        bridge_accepts="state echoed exactly when present; a request without it works",
        source="RFC 6749 §4.1.1, §10.12; Kore's Plaid sample (Plaid_Guide_Code, index.tsx) "
        "returns to Kore's callback with ?code= and no state, and the seed procedure says "
        "that works; no Kore source says Kore sends one",
    ),
    Assumption(
        key="pkce",
        label="PKCE",
        question="Whether Kore uses PKCE",
        simulator_assumes="no PKCE",
        bridge_accepts="optional; S256 when used (plain is refused); a code_verifier for a "
        "code issued without code_challenge is refused (a downgrade)",
        source="RFC 7636; RFC 9700 §2.1.1; no Kore source mentions PKCE, and Kore's Plaid "
        "sample uses none",
    ),
    Assumption(
        key="scope",
        label="scope",
        question="Whether Kore sends a scope",
        simulator_assumes="none: the profile's Scope is empty",
        bridge_accepts="scope (like any unknown parameter) is ignored and never echoed",
        source="Kore's docs: Setting up authorization using OAuth v2 (Scope is optional); "
        "seed procedure (no step fills Scope); Plaid has no OAuth scopes",
    ),
    Assumption(
        key="refresh_url",
        label="Refresh Token URL",
        question="Where Kore sends the refresh grant",
        simulator_assumes="the Token Request URL",
        bridge_accepts="both grants at /api/send_the_access_token_AUTH (and /oauth/token)",
        source="seed procedure step 7",
        visible=False,
    ),
    Assumption(
        key="refresh_when",
        label="when Kore refreshes",
        question="When Kore uses the refresh grant",
        simulator_assumes="after a failed call, never on a timer",
        bridge_accepts="grant_type=refresh_token with the same client authentication; "
        "answers the Item's current access token; no expires_in is ever sent",
        source="Kore's docs: Setting up authorization using OAuth v2 (refresh \"when the "
        'token expires"); no source says Kore reads expires_in (inferred)',
        visible=False,
    ),
    Assumption(
        key="token_answer",
        label="what Kore reads",
        question="What Kore reads from the token answer",
        simulator_assumes="access_token, closeWindow",
        bridge_accepts="answers access_token, token_type, refresh_token and closeWindow: "
        "true, with Cache-Control: no-store",
        source="Kore's Plaid sample (Plaid_Guide_Code, index.js) answers {closeWindow: true, "
        "access_token}; seed procedure step 8 ({{accessToken}})",
        visible=False,
    ),
)

# The bridge's answers: a refusal recorded with a request is a finding of its own.
AUTHORIZE_ANSWER = Assumption(
    key="authorize_answer",
    label="answer to authorization",
    question="Whether the bridge accepted Kore's authorization request",
    simulator_assumes="accepted",
    bridge_accepts="a registered callback and the Plaid client id as client_id",
    source="the status the bridge recorded with the request",
)
TOKEN_ANSWER = Assumption(
    key="token_answer_status",
    label="answer to token request",
    question="Whether the bridge accepted Kore's token request",
    simulator_assumes="accepted",
    bridge_accepts="a valid code and the Client ID / Client Secret Key of the profile",
    source="the status the bridge recorded with the request",
)
ANSWERS: tuple[Assumption, ...] = (AUTHORIZE_ANSWER, TOKEN_ANSWER)


@dataclass(frozen=True)
class Finding:
    """One assumption held against what Kore sent. ``differs`` is None when not seen."""

    assumption: Assumption
    expected: str
    observed: str
    differs: bool | None
    explanation: str

    @property
    def verdict(self) -> str:
        """``same``, ``DIFFERENT``, ``not seen``, or ``-`` (not visible in a request)."""
        if not self.assumption.visible:
            return "-"
        if self.differs is None:
            return NOT_SEEN
        return "DIFFERENT" if self.differs else "same"


Shapes = tuple[RequestShape | None, RequestShape | None]
Observer = Callable[[Assumption, Shapes, KoreBehaviour], Finding]

CLIENT_AUTH_WORDS = {
    "basic": "HTTP Basic",
    "body": "client_id + client_secret in the body",
    "both": "HTTP Basic and the body",
    "none": "no client secret",
}
CLIENT_AUTH_MEANS = {
    "basic": "The bridge accepts HTTP Basic (RFC 6749 §2.3.1).",
    "body": "The bridge accepts client_id and client_secret in the body (RFC 6749 §2.3.1).",
    "both": "The bridge accepts both when they agree (same client, same secret) and answers "
    "400 invalid_request when they do not. RFC 6749 §2.3.1 says a client MUST NOT use more "
    f"than one method; that binds the client, not the server: see {CONTRACT_DOC}.",
    "none": "The bridge refuses a token request that does not authenticate the client (401 "
    "invalid_client): Kore must send the Client Secret Key. Paste the Client ID and Client "
    "Secret Key into the profile again (procedure steps 4.iii-iv).",
}


def _unseen(assumption: Assumption, expected: str) -> Finding:
    return Finding(assumption, expected, NOT_SEEN, None, "No such request was recorded.")


def _different(a: Assumption, expected: str, observed: str, means: str) -> Finding:
    said = f"Kore sent {observed}; the simulator assumed {expected}."
    return Finding(a, expected, observed, True, f"{said} {means}")


def _client_credentials(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    token = shapes[1]
    expected = CLIENT_AUTH_WORDS[assumed.credentials]
    if token is None:
        return _unseen(a, expected)
    observed = CLIENT_AUTH_WORDS[token.client_auth]
    means = CLIENT_AUTH_MEANS[token.client_auth]
    if token.client_auth == assumed.credentials:
        return Finding(a, expected, observed, False, means)
    return _different(a, expected, observed, means)


MEDIA_TYPES = {"form": "application/x-www-form-urlencoded", "json": "application/json"}


def _body_kind(content_type: str | None) -> str | None:
    """``json`` for any JSON media type (the bridge's test), ``form``, else None."""
    if content_type and "json" in content_type:
        return "json"
    return "form" if content_type == MEDIA_TYPES["form"] else None


BODY_MEANS = {
    "json": "The bridge reads a JSON object too (Kore's Plaid sample reads a form or JSON).",
    "form": "The bridge reads a form (RFC 6749 §4.1.3).",
}


def _token_body(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    token = shapes[1]
    expected = MEDIA_TYPES[assumed.body]
    if token is None:
        return _unseen(a, expected)
    kind = _body_kind(token.content_type)
    observed = token.content_type or "no Content-Type"
    if kind is None:
        means = (
            f"The bridge reads a body that is not JSON as a form; if the token request "
            f"failed, this may be why: try `{AS_RECORDED}`."
        )
    else:
        means = BODY_MEANS[kind]
    if kind == assumed.body:
        return Finding(a, expected, observed, False, means)
    return _different(a, expected, observed, means)


def _grant_type(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    token = shapes[1]
    expected = "authorization_code"
    if token is None:
        return _unseen(a, expected)
    grant = token.grant_type
    if grant == expected:
        return Finding(a, expected, grant, False, "As RFC 6749 §4.1.3 says.")
    if grant is None:
        means = (
            "Kore sent a code without grant_type, as Kore's Plaid sample expects; the "
            "bridge reads it as authorization_code and accepts it."
        )
        return Finding(a, expected, "none (a bare code)", True, means)
    if grant == "refresh_token":
        means = (
            "This recorded token request is a refresh, not the code exchange; the bridge "
            "accepts it at the same URL. Press Authorize in Kore to record a code exchange."
        )
        return Finding(a, expected, grant, True, means)
    means = (
        "The bridge answers 400 unsupported_grant_type to anything but authorization_code "
        "and refresh_token: Kore's profile must be OAuth v2 (procedure step 4.i)."
    )
    return Finding(a, expected, grant, True, means)


REDIRECT_PROBLEMS = {
    ("authorization", False): "The authorization request named a callback the bridge does "
    "not accept: it refused to redirect there. Set PLAID_REDIRECT_URI (or KORE_CALLBACK_URLS) "
    "to the Callback Link in Kore's form, exactly as shown (notebook 02), restart the bridge "
    "and authorize again.",
    ("authorization", None): "The authorization request sent no redirect_uri: the bridge "
    "uses its single registered callback, and refuses the request when several are "
    "registered (KORE_CALLBACK_URLS).",
    ("token", False): "The token request named another callback than the one authorized: "
    "the bridge refuses it (400 invalid_grant). Authorize again from the same profile.",
    ("token", None): "The token request sent no redirect_uri: the bridge accepts it, since "
    "the code is bound to its callback already (a deliberate deviation from RFC 6749 "
    "§4.1.3: what Kore sends is not documented).",
}
MATCH_WORDS = {True: "matches", False: "does not match", None: "not sent"}


def _redirect_uri(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    expected = "sent both times, matches"
    named = tuple(zip(("authorization", "token"), shapes, strict=True))
    if all(shape is None for _, shape in named):
        return _unseen(a, expected)
    observed = "; ".join(
        f"{name}: {NOT_SEEN if shape is None else MATCH_WORDS[shape.redirect_uri_matches]}"
        for name, shape in named
    )
    problems = [
        REDIRECT_PROBLEMS[(name, shape.redirect_uri_matches)]
        for name, shape in named
        if shape is not None and shape.redirect_uri_matches is not True
    ]
    if not problems:
        return Finding(a, expected, observed, False, "The bridge accepts it (exact match).")
    return Finding(a, expected, observed, True, " ".join(problems))


def _state(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    authorize = shapes[0]
    expected = "a state" if assumed.state else "no state"
    if authorize is None:
        return _unseen(a, expected)
    observed = "a state" if authorize.state else "no state"
    if authorize.state:
        means = "The bridge echoes state exactly on the redirect (RFC 6749 §4.1.2)."
    else:
        means = (
            "The bridge works without state and sends none back, as Kore's Plaid sample "
            "does. Without state the callback's protection against forged redirects (RFC "
            "6749 §10.12) rests on Kore's side."
        )
    if authorize.state == assumed.state:
        return Finding(a, expected, observed, False, means)
    return _different(a, expected, observed, means)


def _pkce_words(challenge: bool | None, verifier: bool | None) -> str:
    if challenge and verifier:
        return "code_challenge + code_verifier"
    if challenge:
        return "code_challenge" + (" only" if verifier is False else "")
    if verifier:
        return "code_verifier" + (" only" if challenge is False else "")
    return "none"


def _pkce_means(challenge: bool | None, verifier: bool | None) -> str:
    if challenge and verifier is False:
        return (
            "The code exchange carried no code_verifier for a code issued with a "
            "code_challenge: the bridge refuses it (400, RFC 7636 §4.6)."
        )
    if verifier and challenge is False:
        return (
            "A code_verifier for a code issued without code_challenge: the bridge refuses it "
            "as a PKCE downgrade (400 invalid_grant, RFC 9700 §2.1.1)."
        )
    if challenge or verifier:
        return "The bridge accepts PKCE with S256 (RFC 7636) and refuses plain."
    return "The bridge does not require PKCE (Kore's Plaid sample uses none)."


def _pkce(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    authorize, token = shapes
    expected = "code_challenge + code_verifier" if assumed.pkce else "none"
    if authorize is None and token is None:
        return _unseen(a, expected)
    challenge = None if authorize is None else authorize.pkce
    verifier = None if token is None else token.pkce
    used = bool(challenge or verifier)
    mixed = challenge is not None and verifier is not None and challenge != verifier
    observed = _pkce_words(challenge, verifier)
    means = _pkce_means(challenge, verifier)
    if used == assumed.pkce and not mixed:
        return Finding(a, expected, observed, False, means)
    return _different(a, expected, observed, means)


def _scope(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    expected = "not sent"
    seen = [shape for shape in shapes if shape is not None]
    if not seen:
        return _unseen(a, expected)
    if not any(shape.scope for shape in seen):
        return Finding(a, expected, "not sent", False, "Nothing to ignore.")
    means = (
        "Kore sent a scope although the profile's Scope is meant to stay empty. Harmless: "
        "the bridge ignores it and never echoes it (Plaid has no OAuth scopes); you may "
        "empty the profile's Scope."
    )
    return Finding(a, expected, "sent", True, means)


def _not_visible(a: Assumption, shapes: Shapes, assumed: KoreBehaviour) -> Finding:
    return Finding(a, a.simulator_assumes, NOT_VISIBLE, None, f"Source: {a.source}.")


OBSERVERS: dict[str, Observer] = {
    "client_credentials": _client_credentials,
    "token_body": _token_body,
    "grant_type": _grant_type,
    "redirect_uri": _redirect_uri,
    "state": _state,
    "pkce": _pkce,
    "scope": _scope,
}

AUTHORIZE_REFUSALS = {
    400: "The bridge refused Kore's authorization request and showed the user a page that "
    "says why: most often the Callback Link or the Client ID in Kore's form differs from the "
    "bridge's .env. Compare them with `kore-plaid profile`, fix, and press Authorize again.",
    429: "Too many authorizations were started in the last minute: wait a minute, then press "
    "Authorize again.",
}
TOKEN_REFUSALS = {
    400: "The bridge refused the code exchange (400): the code expired (10 minutes), was "
    "used already, or the request was malformed (two Authorization headers, or credentials "
    f"that disagree). Press Authorize again; `{AS_RECORDED}` replays this shape.",
    401: "invalid_client: the Client ID / Client Secret Key Kore sent do not match "
    "PLAID_CLIENT_ID / PLAID_SECRET in the bridge's .env, or Kore sent no secret. Paste both "
    "into Kore's profile again (procedure steps 4.iii-iv), save, and press Authorize again.",
    413: "The token request's body was too large for the bridge. Check the profile for a "
    "value pasted into the wrong field.",
}
SERVER_TROUBLE = (
    "The bridge could not answer (its store was down or restarting): check `kore-plaid "
    "status` and the bridge's log, then press Authorize again."
)


def _answer_means(status: int, refusals: dict[int, str]) -> str:
    if status < 400:
        return "Accepted."
    if status >= 500:
        return SERVER_TROUBLE
    default = f"The bridge refused it ({status}). Press Authorize again; `{AS_RECORDED}` "
    return refusals.get(status, default + "replays this shape and names the failing step.")


def _answer(a: Assumption, shape: RequestShape | None, refusals: dict[int, str]) -> Finding:
    if shape is None:
        return _unseen(a, a.simulator_assumes)
    refused = shape.status >= 400
    outcome = "accepted" if not refused else "refused" if shape.status < 500 else "bridge error"
    observed = f"{shape.status} ({outcome})"
    return Finding(a, "accepted", observed, refused, _answer_means(shape.status, refusals))


def compare(
    authorize: RequestShape | None,
    token: RequestShape | None,
    assumed: KoreBehaviour = DEFAULT_BEHAVIOUR,
) -> list[Finding]:
    """Every assumption held against the recorded shapes, then the bridge's two answers."""
    shapes: Shapes = (authorize, token)
    findings = [OBSERVERS.get(a.key, _not_visible)(a, shapes, assumed) for a in ASSUMPTIONS]
    findings.append(_answer(AUTHORIZE_ANSWER, authorize, AUTHORIZE_REFUSALS))
    findings.append(_answer(TOKEN_ANSWER, token, TOKEN_REFUSALS))
    return findings


NOTHING_RECORDED = (
    "Nothing recorded yet: the bridge has seen no authorization or token request from Kore. "
    "Press Authorize in Kore's authorization profile (procedure step 11) and log in through "
    "Plaid Link, then look again (or run `kore-plaid kore-requests`). Requests made by "
    "`kore-plaid verify` are not Kore's and are not shown."
)
HEADERS = ("assumption", "simulator assumed", "Kore sent", "same?")


def _request_line(name: str, shape: RequestShape | None) -> str:
    if shape is None:
        return f"{name}: not recorded yet"
    agent = shape.user_agent or "none"
    return f"{name}: {iso8601(shape.at)}, answered {shape.status}, User-Agent: {agent}"


@dataclass(frozen=True)
class WhatKoreSent:
    """The newest recorded requests from Kore, compared with the simulator's assumptions."""

    authorize: RequestShape | None
    token: RequestShape | None
    assumed: KoreBehaviour = DEFAULT_BEHAVIOUR
    findings: tuple[Finding, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = tuple(compare(self.authorize, self.token, self.assumed))
        object.__setattr__(self, "findings", found)

    @property
    def differences(self) -> tuple[Finding, ...]:
        """The findings where Kore differs from the assumption (refusals included)."""
        return tuple(finding for finding in self.findings if finding.differs)

    def _title(self) -> str:
        whose = "default " if self.assumed == DEFAULT_BEHAVIOUR else ""
        return f"What Kore sent, compared with the {whose}simulated Kore ({self.assumed.label})"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [(f.assumption.label, f.expected, f.observed, f.verdict) for f in self.findings]

    def _closing(self) -> list[str]:
        if self.authorize is None and self.token is None:
            return [NOTHING_RECORDED]
        count = len(self.differences)
        if not count:
            return [f"No difference. Sources: {CONTRACT_DOC}."]
        noun = "difference" if count == 1 else "differences"
        return [
            f"{count} {noun}. To run the whole chain the way Kore sent it: `{AS_RECORDED}`. "
            f"Sources: {CONTRACT_DOC}."
        ]

    def to_text(self) -> str:
        """Plain text: the two requests, the table, one paragraph per difference."""
        lines = [
            self._title(),
            _request_line("Authorization request", self.authorize),
            _request_line("Token request", self.token),
            "",
            format_table(HEADERS, self._rows()),
        ]
        for finding in self.differences:
            paragraph = f"Difference ({finding.assumption.label}): {finding.explanation}"
            lines += ["", textwrap.fill(paragraph, width=TEXT_WIDTH, break_on_hyphens=False)]
        return "\n".join([*lines, "", *self._closing()])

    def _repr_markdown_(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        table = [
            "| " + " | ".join(HEADERS) + " |",
            "|" + "---|" * len(HEADERS),
            *("| " + " | ".join(cell(c) for c in row) + " |" for row in self._rows()),
        ]
        requests = [
            cell(_request_line("Authorization request", self.authorize)),
            cell(_request_line("Token request", self.token)),
        ]
        differences = [
            f"- **{f.assumption.label}**: {cell(f.explanation)}" for f in self.differences
        ]
        parts = [f"**{self._title()}**", "  \n".join(requests), "\n".join(table)]
        if differences:
            parts.append("\n".join(differences))
        return "\n\n".join([*parts, *self._closing()])
