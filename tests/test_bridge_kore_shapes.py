"""Every shape Kore may send (issue 22), at the HTTP level, without Plaid.

Nothing public says how Kore's OAuth v2 client sends its credentials, nor whether it sends
``state`` or PKCE (FACTS: Kore's docs and its Plaid sample ``index.tsx``). So the token
endpoint takes HTTP Basic, the body, or both when they agree, in a form or JSON body, for
the code grant and the refresh grant alike; the authorization leg works with or without
``state`` and PKCE, and never echoes a parameter it does not know.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_plus

import httpx
import pytest
from bridge_support import (
    ACCESS_TOKEN,
    TOKEN_PATH,
    Bridge,
    authorize_query,
    pkce_pair,
    query_of,
)

# Client authentication and parameters do not depend on the store: SQLite, except the
# acceptance of every shape, which runs on PostgreSQL and on two replicas too.
pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite"),
    pytest.mark.bridge(plaid="unreachable"),
]

Grant = Literal["authorization_code", "refresh_token"]
Credentials = Literal["basic", "body", "both"]
Body = Literal["form", "json"]
GRANTS: tuple[Grant, ...] = ("authorization_code", "refresh_token")
ODD_STATE = "a b+c&d=e/é?#%20;=="  # every character here needs escaping in a query


# Kore's side of the token endpoint.


def grant_params(bridge: Bridge, grant: Grant, query: str | None = None) -> dict[str, str]:
    """The body of a fresh code or refresh grant (no credentials)."""
    code = bridge.mint_code(query)
    if grant == "authorization_code":
        return {"grant_type": grant, "code": code}
    first = bridge.exchange(code)
    assert first.status_code == 200, first.text
    return {"grant_type": grant, "refresh_token": first.json()["refresh_token"]}


def basic_header(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def post_token(
    bridge: Bridge,
    params: dict[str, str],
    credentials: Credentials,
    body: Body = "form",
    basic: tuple[str, str] | None = None,
    in_body: tuple[str, str] | None = None,
) -> httpx.Response:
    """A token request as Kore may send it; ``basic`` / ``in_body`` replace the right
    credentials on that side."""
    data = dict(params)
    headers: list[tuple[str, str]] = []
    if credentials in ("body", "both"):
        client_id, secret = in_body or bridge.basic()
        data.update(client_id=client_id, client_secret=secret)
    if credentials in ("basic", "both"):
        headers.append(("Authorization", basic_header(*(basic or bridge.basic()))))
    payload = {"json": data} if body == "json" else {"data": data}
    return bridge.http.post(bridge.url + TOKEN_PATH, headers=headers, **payload)


def assert_refused(response: httpx.Response, status: int, error: str, *sent: str) -> None:
    """An RFC 6749 error that repeats nothing that was sent."""
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert response.headers["cache-control"] == "no-store"
    for value in sent:
        assert value not in response.text


# The token endpoint: every way of sending the credentials.


@pytest.mark.backends("sqlite", "postgresql", "replicas")
@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize("credentials", ["basic", "body", "both"])
@pytest.mark.parametrize("grant", GRANTS)
def test_credentials_by_basic_body_or_both_agreeing_are_accepted(
    bridge: Bridge, grant: Grant, credentials: Credentials, body: Body
) -> None:
    response = post_token(bridge, grant_params(bridge, grant), credentials, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["access_token"] == ACCESS_TOKEN
    assert answer["token_type"] == "bearer"
    assert len(answer["refresh_token"]) >= 40
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize("credentials", ["body", "both"])
def test_kore_sample_body_without_grant_type_means_authorization_code(
    bridge: Bridge, credentials: Credentials, body: Body
) -> None:
    params = {"code": bridge.mint_code()}
    response = post_token(bridge, params, credentials, body)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == ACCESS_TOKEN


@pytest.mark.parametrize("wrong_side", ["basic", "body"])
@pytest.mark.parametrize("differs", ["client_id", "client_secret"])
@pytest.mark.parametrize("grant", GRANTS)
def test_basic_and_body_that_disagree_are_invalid_request(
    bridge: Bridge, grant: Grant, differs: str, wrong_side: str
) -> None:
    s = bridge.settings
    other = "other-value-0123456789"
    wrong = (other, s.secret) if differs == "client_id" else (s.client_id, other)
    params = grant_params(bridge, grant)
    sides = {"basic": wrong} if wrong_side == "basic" else {"in_body": wrong}
    response = post_token(bridge, params, "both", **sides)
    assert_refused(response, 400, "invalid_request", s.secret, other, *params.values())
    description = response.json()["error_description"]
    assert f"The {differs} in the body differs" in description
    assert "one way" in description and "both ways" in description
    # Refused before the code or refresh token was looked at: it still works.
    assert post_token(bridge, params, "basic").status_code == 200


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("same", id="the-same-basic-twice"),
        pytest.param("Bearer abc", id="basic-and-bearer"),
        pytest.param("", id="basic-and-an-empty-one"),
    ],
)
@pytest.mark.parametrize("grant", GRANTS)
def test_two_authorization_headers_are_invalid_request(
    bridge: Bridge, grant: Grant, second: str
) -> None:
    s = bridge.settings
    params = grant_params(bridge, grant)
    first = basic_header(*bridge.basic())
    headers = [("Authorization", first), ("Authorization", first if second == "same" else second)]
    response = bridge.http.post(bridge.url + TOKEN_PATH, data=params, headers=headers)
    assert_refused(response, 400, "invalid_request", s.secret, first, *params.values())
    assert "Send one Authorization header" in response.json()["error_description"]
    assert post_token(bridge, params, "basic").status_code == 200


@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize("grant", GRANTS)
def test_body_credentials_without_a_secret_are_invalid_client(
    bridge: Bridge, grant: Grant, body: Body
) -> None:
    params = {**grant_params(bridge, grant), "client_id": bridge.settings.client_id}
    payload = {"json": params} if body == "json" else {"data": params}
    response = bridge.http.post(bridge.url + TOKEN_PATH, **payload)
    assert_refused(response, 401, "invalid_client", bridge.settings.secret)
    assert response.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize("grant", GRANTS)
def test_both_agreeing_on_a_wrong_secret_is_invalid_client(bridge: Bridge, grant: Grant) -> None:
    wrong = (bridge.settings.client_id, "wrong-secret-0123456789")
    params = grant_params(bridge, grant)
    response = post_token(bridge, params, "both", basic=wrong, in_body=wrong)
    assert_refused(response, 401, "invalid_client", bridge.settings.secret, wrong[1])
    assert response.headers["www-authenticate"].startswith("Basic ")


# The authorization leg: state, PKCE, parameters nobody asked for.


def authorization_page(bridge: Bridge, query: str) -> httpx.Response:
    """``GET /`` as the end user's browser opens it from Kore (the page; no Plaid yet)."""
    response = bridge.http.get(bridge.url + "/?" + query)
    assert response.status_code == 200, response.text
    return response


def deny_url(page: httpx.Response) -> str:
    """Where the page's "Cancel" sends the browser (Kore's callback, access_denied)."""
    found = re.search(r'data-deny-url="([^"]*)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


@pytest.mark.parametrize("state", [None, "st-1", ODD_STATE, ""], ids=repr)
def test_state_is_echoed_exactly_when_sent_and_absent_otherwise(
    bridge: Bridge, state: str | None
) -> None:
    query = authorize_query(bridge.settings, state=state)
    expected = {} if state is None else {"state": state}
    # The code's redirect, and the code works.
    callback = bridge.mint(query)
    assert callback.keys() == {"code", *expected}
    assert {k: v for k, v in callback.items() if k == "state"} == expected
    assert bridge.exchange(callback["code"]).status_code == 200
    # The user who cancels.
    denied = query_of(deny_url(authorization_page(bridge, query)))
    assert denied.keys() == {"error", "error_description", *expected}
    assert denied["error"] == "access_denied"
    assert {k: v for k, v in denied.items() if k == "state"} == expected
    # An error that goes back to Kore (here a PKCE "plain" challenge).
    refused = bridge.http.get(
        bridge.url + "/?" + query + "&code_challenge=" + "a" * 43 + "&code_challenge_method=plain"
    )
    assert refused.status_code == 302
    error = query_of(refused.headers["location"])
    assert error["error"] == "invalid_request"
    assert {k: v for k, v in error.items() if k == "state"} == expected


EXTRA_PARAMS = {
    "scope": "accounts transactions",
    "access_type": "offline",
    "prompt": "consent",
    "nonce": "nonce-secretive-1",
    "login_hint": "someone@example.com",
    "audience": "https://plaid.example",
    "x_kore_anything": "value-never-echoed",
}


@pytest.mark.parametrize("state", [None, "st-1"])
def test_unknown_parameters_are_ignored_and_never_echoed(bridge: Bridge, state: str | None) -> None:
    query = authorize_query(bridge.settings, state=state, **EXTRA_PARAMS)
    with_state = set() if state is None else {"state"}
    callback = bridge.mint(query)
    assert callback.keys() == {"code", *with_state}
    assert bridge.exchange(callback["code"]).status_code == 200
    denial = deny_url(authorization_page(bridge, query))
    assert query_of(denial).keys() == {"error", "error_description", *with_state}
    unsupported = authorize_query(
        bridge.settings, state=state, response_type="token", **EXTRA_PARAMS
    )
    refused = bridge.http.get(bridge.url + "/?" + unsupported)
    assert refused.status_code == 302
    error = refused.headers["location"]
    assert query_of(error).keys() == {"error", *with_state}
    for url in (denial, error):
        for name, value in EXTRA_PARAMS.items():
            assert name not in url and value not in unquote_plus(url)


@pytest.mark.parametrize("credentials", ["basic", "body", "both"])
@pytest.mark.parametrize("pkce", [False, True], ids=["no-pkce", "pkce-s256"])
@pytest.mark.parametrize("state", [False, True], ids=["no-state", "state"])
def test_the_whole_grant_with_or_without_state_and_pkce(
    bridge: Bridge, state: bool, pkce: bool, credentials: Credentials
) -> None:
    verifier, challenge = pkce_pair()
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if pkce else {}
    query = authorize_query(bridge.settings, state="st-9" if state else None, **extra)
    callback = bridge.mint(query)
    assert ("state" in callback) is state
    params = {"grant_type": "authorization_code", "code": callback["code"]}
    if pkce:
        params["code_verifier"] = verifier
    token = post_token(bridge, params, credentials, "json" if state else "form")
    assert token.status_code == 200, token.text
    refreshed = post_token(
        bridge,
        {"grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]},
        credentials,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["access_token"] == ACCESS_TOKEN


def test_pkce_downgrade_and_plain_are_still_refused(bridge: Bridge) -> None:
    verifier, _challenge = pkce_pair()
    downgraded = post_token(
        bridge,
        {"grant_type": "authorization_code", "code": bridge.mint_code(), "code_verifier": verifier},
        "both",
    )
    assert_refused(downgraded, 400, "invalid_grant", bridge.settings.secret, verifier)
    plain = authorize_query(
        bridge.settings, state=None, code_challenge=verifier, code_challenge_method="plain"
    )
    refused = bridge.http.get(bridge.url + "/?" + plain)
    assert refused.status_code == 302
    assert query_of(refused.headers["location"]) == {
        "error": "invalid_request",
        "error_description": "code_challenge_method must be S256 (plain is not accepted).",
    }


# state at the token endpoint: it means nothing there (RFC 6749 4.1.3) and is never echoed.

TOKEN_STATE = "SECRET-state-Zq81x"  # what Kore might send; must never come back
ELSEWHERE = "https://elsewhere.example/workflows/callback"
WRONG_SECRET = "wrong-secret-0123456789"


def code_grant(bridge: Bridge) -> dict[str, str]:
    return grant_params(bridge, "authorization_code")


def refresh_grant(bridge: Bridge) -> dict[str, str]:
    return grant_params(bridge, "refresh_token")


def nothing(bridge: Bridge) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class TokenCase:
    """A token request (its body, how it sends the credentials) and the answer it gets."""

    params: Callable[[Bridge], dict[str, str]]
    status: int
    error: str | None
    credentials: Credentials = "basic"
    extra: dict[str, str] = field(default_factory=dict)
    wrong: Literal["basic", "body", None] = None  # which side sends WRONG_SECRET
    authorizations: tuple[str, ...] = ()  # raw Authorization headers instead of credentials


TOKEN_CASES = {
    "code grant (200)": TokenCase(code_grant, 200, None),
    "refresh grant (200)": TokenCase(refresh_grant, 200, None, "both"),
    "no grant_type, no code": TokenCase(nothing, 400, "invalid_request"),
    "unsupported grant_type": TokenCase(
        nothing, 400, "unsupported_grant_type", extra={"grant_type": "password"}
    ),
    "credentials disagree": TokenCase(code_grant, 400, "invalid_request", "both", wrong="body"),
    "wrong secret (401)": TokenCase(code_grant, 401, "invalid_client", wrong="basic"),
    "unknown code": TokenCase(
        nothing, 400, "invalid_grant", extra={"grant_type": "authorization_code", "code": "x" * 30}
    ),
    "no code": TokenCase(
        nothing, 400, "invalid_request", extra={"grant_type": "authorization_code"}
    ),
    "redirect_uri differs": TokenCase(
        code_grant, 400, "invalid_grant", "body", extra={"redirect_uri": ELSEWHERE}
    ),
    "PKCE downgrade": TokenCase(
        code_grant, 400, "invalid_grant", extra={"code_verifier": "v" * 43}
    ),
    "unknown refresh token": TokenCase(
        nothing,
        400,
        "invalid_grant",
        "body",
        extra={"grant_type": "refresh_token", "refresh_token": "r" * 43},
    ),  # fmt: skip
    "no refresh token": TokenCase(
        nothing, 400, "invalid_request", extra={"grant_type": "refresh_token"}
    ),
    "two Authorization headers": TokenCase(
        code_grant, 400, "invalid_request", authorizations=("basic", "basic")
    ),
    "Basic that does not decode": TokenCase(
        code_grant, 400, "invalid_request", authorizations=("Basic %%%",)
    ),
}


def send(bridge: Bridge, case: TokenCase, body: Body, **more: str) -> httpx.Response:
    """``case``'s token request, with ``more`` in its body."""
    params = {**case.params(bridge), **case.extra, **more}
    if case.authorizations:
        right = basic_header(*bridge.basic())
        headers = [("Authorization", right if a == "basic" else a) for a in case.authorizations]
        payload = {"json": params} if body == "json" else {"data": params}
        return bridge.http.post(bridge.url + TOKEN_PATH, headers=headers, **payload)
    wrong = (bridge.settings.client_id, WRONG_SECRET)
    sides = {"basic": {"basic": wrong}, "body": {"in_body": wrong}, None: {}}[case.wrong]
    return post_token(bridge, params, case.credentials, body, **sides)


@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize("name", list(TOKEN_CASES))
def test_the_token_endpoint_never_echoes_state(bridge: Bridge, name: str, body: Body) -> None:
    case = TOKEN_CASES[name]
    response = send(bridge, case, body, state=TOKEN_STATE)
    assert response.status_code == case.status, response.text
    answer = response.json()
    assert answer.get("error") == case.error, response.text
    assert "state" not in answer
    assert TOKEN_STATE not in response.text and TOKEN_STATE not in str(response.headers)
    assert response.headers["cache-control"] == "no-store"
    if case.status == 200:
        assert answer["access_token"] == ACCESS_TOKEN
    # An empty state is no different.
    again = send(bridge, case, body, state="")
    assert (again.status_code, again.json().get("error")) == (case.status, case.error)
    assert "state" not in again.json()


# Basic beside an empty client_id= or client_secret= in the body (RFC 6749 2.3.1 lets a client
# omit an empty secret: an empty field says nothing).


@pytest.mark.parametrize("body", ["form", "json"])
@pytest.mark.parametrize(
    "empty",
    [
        pytest.param({"client_secret": ""}, id="empty-secret"),
        pytest.param({"client_id": ""}, id="empty-id"),
        pytest.param({"client_id": "", "client_secret": ""}, id="both-empty"),
        pytest.param({"client_id": "{client_id}", "client_secret": ""}, id="id-and-empty-secret"),
    ],
)
@pytest.mark.parametrize("grant", GRANTS)
def test_basic_with_empty_body_credentials_is_accepted(
    bridge: Bridge, grant: Grant, empty: dict[str, str], body: Body
) -> None:
    fields = {k: v.format(client_id=bridge.settings.client_id) for k, v in empty.items()}
    response = post_token(bridge, {**grant_params(bridge, grant), **fields}, "basic", body)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == ACCESS_TOKEN


@pytest.mark.parametrize("grant", GRANTS)
def test_an_empty_secret_without_basic_is_still_invalid_client(
    bridge: Bridge, grant: Grant
) -> None:
    params = {**grant_params(bridge, grant), "client_id": bridge.settings.client_id}
    response = bridge.http.post(bridge.url + TOKEN_PATH, data={**params, "client_secret": ""})
    assert_refused(response, 401, "invalid_client", bridge.settings.secret)
    # Beside Basic, a wrong non-empty secret still differs.
    wrong = post_token(bridge, params, "both", in_body=(bridge.settings.client_id, "x"))
    assert_refused(wrong, 400, "invalid_request", bridge.settings.secret)


# JSON under another media type: the bridge reads any Content-Type naming JSON as JSON, and
# a recorded shape with one replays as json (request_shapes.body_kind).


@pytest.mark.parametrize("media", ["text/json", "application/vnd.api+json; charset=utf-8"])
@pytest.mark.parametrize("grant", GRANTS)
def test_json_under_other_media_types_is_read_as_json(
    bridge: Bridge, grant: Grant, media: str
) -> None:
    params = {**grant_params(bridge, grant), "client_id": bridge.settings.client_id}
    params["client_secret"] = bridge.settings.secret
    response = bridge.http.post(
        bridge.url + TOKEN_PATH, content=json.dumps(params), headers={"Content-Type": media}
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == ACCESS_TOKEN
