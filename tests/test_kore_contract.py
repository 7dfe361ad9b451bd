"""Kore's contract: every assumption has a source, and "What Kore sent" names and explains each
difference between a recorded request shape and what the simulator assumes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from kore_plaid_nb.bridge.request_shapes import RequestShape, shape_of
from kore_plaid_nb.kore.behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour
from kore_plaid_nb.kore.compare import NOT_SEEN, NOT_VISIBLE, Finding, compare
from kore_plaid_nb.kore.contract import ANSWERS, ASSUMPTIONS, CONTRACT_DOC
from kore_plaid_nb.kore.what_kore_sent import WhatKoreSent

ROOT = Path(__file__).resolve().parent.parent
CALLBACK = "https://idp.kore.ai/workflows/callback/"
CLIENT_ID = "5f1e2d3c4b5a69788796a5b4"
SECRET = "s3cr3t-0123456789abcdef0123456789"
CODE = "c0de-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1H"
STATE = "st4te-Qq1Ww2Ee3Rr4Tt5Yy6Uu7"
VERIFIER = "v3rifier-Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3"
CHALLENGE = "ch4llenge-Nn4Oo5Pp6Qq7Rr8Ss9Tt0"
USER_AGENT = "Mozilla/5.0 (KoreIdP; like Gecko) kore-idp/9.3"
AT = 1_800_000_000.0
VALUES = (SECRET, CODE, STATE, VERIFIER, CHALLENGE, CLIENT_ID, CALLBACK)
MEDIA = {"form": "application/x-www-form-urlencoded", "json": "application/json"}


def recorded(
    behaviour: KoreBehaviour,
    *,
    token_status: int = 200,
    authorize_status: int = 200,
    token_callback: str | None = CALLBACK,
    authorize_callback: str = CALLBACK,
    grant_type: str | None = "authorization_code",
) -> tuple[RequestShape, RequestShape]:
    """The shapes the bridge records when a Kore behaving so authorizes (real values in)."""
    query = [("response_type", "code"), ("client_id", CLIENT_ID)]
    query.append(("redirect_uri", authorize_callback))
    if behaviour.state:
        query.append(("state", STATE))
    if behaviour.pkce:
        query += [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]
    authorize = shape_of(
        "authorize",
        params=query,
        header_names=["Host", "User-Agent", "Accept"],
        authorizations=[],
        content_type=None,
        user_agent=USER_AGENT,
        callbacks=[CALLBACK],
        status=authorize_status,
        at=AT,
    )
    body = [("code", CODE)]
    if grant_type is not None:
        body.append(("grant_type", grant_type))
    if token_callback is not None:
        body.append(("redirect_uri", token_callback))
    if behaviour.credentials != "basic":
        body += [("client_id", CLIENT_ID), ("client_secret", SECRET)]
    if behaviour.pkce:
        body.append(("code_verifier", VERIFIER))
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    authorizations = [] if behaviour.credentials == "body" else [f"Basic {basic}"]
    headers = ["Host", "User-Agent", "Content-Type"] + (["Authorization"] if authorizations else [])
    token = shape_of(
        "token",
        params=body,
        header_names=headers,
        authorizations=authorizations,
        content_type=MEDIA[behaviour.body] + "; charset=utf-8",
        user_agent=USER_AGENT,
        callbacks=[CALLBACK],
        status=token_status,
        at=AT + 2,
    )
    return authorize, token


def by_key(findings: Iterable[Finding]) -> dict[str, Finding]:
    return {finding.assumption.key: finding for finding in findings}


def differing(findings: Iterable[Finding]) -> set[str]:
    return {f.assumption.key for f in findings if f.differs}


# -- the assumptions and their sources ----------------------------------------------------


def test_every_assumption_says_what_is_assumed_what_is_accepted_and_its_source() -> None:
    every = ASSUMPTIONS + ANSWERS
    keys = [a.key for a in every]
    assert len(keys) == len(set(keys))
    for assumption in every:
        for text in (assumption.question, assumption.simulator_assumes, assumption.source):
            assert text.strip(), assumption.key
        assert assumption.bridge_accepts.strip(), assumption.key
    sources = " ".join(a.source for a in ASSUMPTIONS)
    for cited in ("seed procedure step 7", "Kore's Plaid sample", "RFC 6749 §2.3.1", "Kore's docs"):
        assert cited in sources
    credentials = next(a for a in ASSUMPTIONS if a.key == "client_credentials")
    assert "Kore's HubSpot / Pipedrive guides" in credentials.source


def test_the_issue_list_of_assumptions_is_covered_and_invisible_ones_say_so() -> None:
    keys = {a.key for a in ASSUMPTIONS}
    assert keys == {
        "client_credentials",
        "token_body",
        "grant_type",
        "redirect_uri",
        "state",
        "pkce",
        "scope",
        "refresh_url",
        "refresh_when",
        "token_answer",
    }
    invisible = {a.key for a in ASSUMPTIONS if not a.visible}
    assert invisible == {"refresh_url", "refresh_when", "token_answer"}
    authorize, token = recorded(DEFAULT_BEHAVIOUR)
    for finding in compare(authorize, token):
        if finding.assumption.key in invisible:
            assert (finding.observed, finding.differs, finding.verdict) == (NOT_VISIBLE, None, "-")
            assert finding.assumption.source in finding.explanation


def test_the_docs_page_names_every_assumption_so_docs_and_code_cannot_drift() -> None:
    page = (ROOT / CONTRACT_DOC).read_text(encoding="utf-8")
    for assumption in ASSUMPTIONS + ANSWERS:
        assert assumption.question in page, assumption.key
        assert f"`{assumption.key}`" in page, assumption.key
    for needed in (
        "kore-plaid kore-requests",
        "kore-plaid verify --as-recorded",
        "kore-plaid verify --matrix",
        "What Kore sent",
        "RFC 6749 §2.3.1",
        "MUST NOT",
        "https://github.com/NikithaPa-Kore/Plaid_Guide_Code",
        "Allow Users to Authorize, as Kore runs it",
        "Something went wrong",
        "expires_in",
        "{tenant}",
    ):
        assert needed in page, needed


# -- compare -------------------------------------------------------------------------------


def test_the_default_kore_recorded_shows_no_difference() -> None:
    authorize, token = recorded(DEFAULT_BEHAVIOUR)
    findings = compare(authorize, token)
    assert differing(findings) == set()
    visible = [f for f in findings if f.assumption.visible]
    assert {f.verdict for f in visible} == {"same"}
    report = WhatKoreSent(authorize, token)
    assert report.differences == ()
    assert "No difference." in report.to_text()


def test_both_json_no_state_pkce_flags_exactly_those_four_and_explains_each() -> None:
    kore = KoreBehaviour(credentials="both", body="json", state=False, pkce=True)
    authorize, token = recorded(kore)
    found = by_key(compare(authorize, token))
    assert differing(found.values()) == {"client_credentials", "token_body", "state", "pkce"}
    both = found["client_credentials"]
    assert (both.expected, both.observed) == ("HTTP Basic", "HTTP Basic and the body")
    assert "accepts both when they agree" in both.explanation
    assert "RFC 6749 §2.3.1" in both.explanation and CONTRACT_DOC in both.explanation
    assert found["token_body"].observed == "application/json"
    assert "reads a JSON object too" in found["token_body"].explanation
    assert found["state"].observed == "no state"
    assert "works without state" in found["state"].explanation
    assert found["pkce"].observed == "code_challenge + code_verifier"
    assert "S256" in found["pkce"].explanation
    text = WhatKoreSent(authorize, token).to_text()
    for label in ("client credentials", "token request body", "state", "PKCE"):
        assert f"Difference ({label}): " in text
    assert text.count("Difference (") == 4
    assert "4 differences" in text and "kore-plaid verify --as-recorded" in text


@pytest.mark.parametrize("kore", KoreBehaviour.every(), ids=str)
def test_each_of_the_24_kores_matches_itself_and_differs_from_the_default_where_it_should(
    kore: KoreBehaviour,
) -> None:
    authorize, token = recorded(kore)
    assert differing(compare(authorize, token, assumed=kore)) == set()
    expected = {
        key
        for key, differs in {
            "client_credentials": kore.credentials != "basic",
            "token_body": kore.body != "form",
            "state": not kore.state,
            "pkce": kore.pkce,
        }.items()
        if differs
    }
    assert differing(compare(authorize, token)) == expected


def test_nothing_recorded_is_not_seen_and_says_what_to_do() -> None:
    findings = compare(None, None)
    for finding in findings:
        if finding.assumption.visible:
            assert (finding.observed, finding.differs, finding.verdict) == (
                NOT_SEEN,
                None,
                NOT_SEEN,
            )
    text = WhatKoreSent(None, None).to_text()
    assert "Nothing recorded yet" in text
    assert "Press Authorize in Kore's authorization profile" in text
    assert "Difference" not in text


def test_an_authorization_alone_compares_what_it_can_and_leaves_the_token_not_seen() -> None:
    authorize, _ = recorded(KoreBehaviour(state=False))
    found = by_key(compare(authorize, None))
    assert found["state"].differs is True
    for key in ("client_credentials", "token_body", "grant_type", "token_answer_status"):
        assert found[key].differs is None and found[key].observed == NOT_SEEN
    assert found["redirect_uri"].observed == "authorization: matches; token: not seen"
    assert "Token request: not recorded yet" in WhatKoreSent(authorize, None).to_text()


def test_a_refused_token_request_is_a_finding_that_says_what_to_do() -> None:
    authorize, token = recorded(DEFAULT_BEHAVIOUR, token_status=401)
    found = by_key(compare(authorize, token))
    refused = found["token_answer_status"]
    assert refused.differs is True and refused.observed == "401 (refused)"
    assert "Client Secret Key" in refused.explanation
    assert "press Authorize again" in refused.explanation
    text = WhatKoreSent(authorize, token).to_text()
    assert "Difference (answer to token request): invalid_client" in text


def test_a_refused_callback_is_explained_with_the_setting_to_fix() -> None:
    authorize, token = recorded(
        DEFAULT_BEHAVIOUR, authorize_status=400, authorize_callback="https://idp.kore.com/x"
    )
    found = by_key(compare(authorize, token))
    assert found["redirect_uri"].differs is True
    assert "PLAID_REDIRECT_URI" in found["redirect_uri"].explanation
    assert found["authorize_answer"].differs is True
    assert "kore-plaid profile" in found["authorize_answer"].explanation
    assert found["token_answer_status"].differs is False


def test_kore_sample_style_and_a_missing_redirect_uri_are_differences_the_bridge_accepts() -> None:
    authorize, token = recorded(
        KoreBehaviour(credentials="body", body="json"), grant_type=None, token_callback=None
    )
    found = by_key(compare(authorize, token, assumed=KoreBehaviour("body", "json")))
    assert differing(found.values()) == {"grant_type", "redirect_uri"}
    assert "accepts it" in found["grant_type"].explanation
    assert "token: not sent" in found["redirect_uri"].observed
    assert "the bridge accepts it" in found["redirect_uri"].explanation


def test_a_request_with_no_client_secret_says_the_bridge_refuses_it() -> None:
    authorize, _ = recorded(DEFAULT_BEHAVIOUR)
    token = shape_of(
        "token",
        params=[("code", CODE), ("client_id", CLIENT_ID)],
        header_names=["content-type"],
        authorizations=[],
        content_type="application/json",
        user_agent=None,
        callbacks=[CALLBACK],
        status=401,
        at=AT,
    )
    finding = by_key(compare(authorize, token))["client_credentials"]
    assert finding.differs is True and finding.observed == "no client secret"
    assert "401 invalid_client" in finding.explanation


def test_a_scope_kore_sent_is_flagged_as_harmless() -> None:
    authorize = shape_of(
        "authorize",
        params=[("client_id", CLIENT_ID), ("scope", "transactions"), ("state", STATE)],
        header_names=[],
        authorizations=[],
        content_type=None,
        user_agent=USER_AGENT,
        callbacks=[CALLBACK],
        status=200,
        at=AT,
    )
    finding = by_key(compare(authorize, None))["scope"]
    assert finding.differs is True and "ignores it" in finding.explanation


# -- what is shown -------------------------------------------------------------------------


def test_what_kore_sent_shows_names_never_values_and_the_user_agent_as_is() -> None:
    kore = KoreBehaviour(credentials="both", body="json", state=True, pkce=True)
    authorize, token = recorded(kore, token_status=400)
    report = WhatKoreSent(authorize, token)
    for shown in (report.to_text(), report._repr_markdown_()):
        for value in VALUES:
            assert value not in shown
        assert base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode() not in shown
        assert USER_AGENT in shown
    text = report.to_text()
    assert "Authorization request: 2027-01-15T08:00:00Z, answered 200" in text
    assert re.search(r"Token request: 2027-01-15T08:00:02Z, answered 400", text)


def test_the_text_is_a_stable_table_for_notebooks() -> None:
    authorize, token = recorded(KoreBehaviour(credentials="body"))
    first = WhatKoreSent(authorize, token).to_text()
    assert first == WhatKoreSent(authorize, token).to_text()
    lines = first.splitlines()
    header = next(line for line in lines if line.startswith("assumption"))
    assert re.split(r"\s{2,}", header) == ["assumption", "simulator assumed", "Kore sent", "same?"]
    assert lines[0].startswith("What Kore sent, compared with the default simulated Kore")
    row = next(line for line in lines if line.startswith("client credentials"))
    assert row.endswith("DIFFERENT")
    markdown = WhatKoreSent(authorize, token)._repr_markdown_()
    assert "| assumption | simulator assumed | Kore sent | same? |" in markdown
    assert "- **client credentials**: Kore sent client_id + client_secret in the body" in markdown
