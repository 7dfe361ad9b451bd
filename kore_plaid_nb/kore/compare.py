"""Recorded request shapes from Kore held against :mod:`.contract`'s assumptions (issue 22).

:func:`compare` reads shapes (names only, never values) and explains every difference: what
it means and whether the bridge accepts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..bridge.request_shapes import RequestShape, body_kind
from .behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour
from .contract import ASSUMPTIONS, AUTHORIZE_ANSWER, CONTRACT_DOC, TOKEN_ANSWER, Assumption

NOT_VISIBLE = "not visible in a request"
NOT_SEEN = "not seen"
AS_RECORDED = "kore-plaid verify --as-recorded"


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
    return body_kind(content_type)


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
