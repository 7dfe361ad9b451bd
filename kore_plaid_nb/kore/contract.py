"""Kore's contract: what the simulator assumes about Kore's OAuth v2 client, what the bridge
accepts, and where each assumption comes from (issue 22). ``docs/kore-contract.md`` says the
same in prose.

No public source says how Kore's client calls a Token URL, so each :class:`Assumption` names
its source (the seed procedure, Kore's docs, Kore's Plaid sample, an RFC).
:mod:`.compare` holds recorded request shapes against them; :mod:`.what_kore_sent` shows the
result (notebook 06 "What Kore sent").
"""

from __future__ import annotations

from dataclasses import dataclass

CONTRACT_DOC = "docs/kore-contract.md"


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
