"""A request's shape keeps names, never values (issue 22): a token, id, secret or UUID sent
where a name goes is recorded as ``(other)``; every real OAuth / Plaid / Kore parameter name
and every usual header name is kept. Also: which body the bridge reads as JSON, one rule for
the bridge, the recorder, the replay and the contract (``request_shapes.body_kind``).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable

import pytest

from kore_plaid_nb.bridge.http import parse_params
from kore_plaid_nb.bridge.refusal import Refused
from kore_plaid_nb.bridge.request_shapes import (
    OTHER,
    RequestShape,
    body_kind,
    client_auth_of,
    header_name,
    param_name,
    shape_of,
)
from kore_plaid_nb.kore.behaviour import KoreBehaviour

SAMPLES = 2000
VALUES: dict[str, Callable[[], str]] = {
    **{f"token_hex({n})": (lambda n=n: secrets.token_hex(n)) for n in (8, 12, 15, 16, 24, 32)},
    **{f"token_urlsafe({n})": (lambda n=n: secrets.token_urlsafe(n)) for n in (16, 24, 32)},
    "uuid4": lambda: str(uuid.uuid4()),
}
BASIC = "Basic " + base64.b64encode(b"client:secret").decode()


def shape(
    params: list[tuple[str, str]] | None = None,
    header_names: list[str] | None = None,
    content_type: str | None = "application/x-www-form-urlencoded",
    authorizations: list[str] | None = None,
) -> RequestShape:
    return shape_of(
        "token",
        params=params or [],
        header_names=header_names or [],
        authorizations=authorizations or [],
        content_type=content_type,
        user_agent="Kore-test/1.0",
        callbacks=[],
        status=200,
        at=1_800_000_000.0,
    )


# Values where a name goes.


@pytest.mark.parametrize("kind", list(VALUES))
def test_a_value_where_a_name_goes_is_recorded_as_other(kind: str) -> None:
    for _ in range(SAMPLES):
        value = VALUES[kind]()
        recorded = shape(params=[(value, "x"), ("code", "c")], header_names=["Host"])
        assert recorded.params == (OTHER, "code"), value
        text = recorded.to_record() + str(recorded.as_json())
        assert value not in text


KNOWN_PARAMS = [
    # RFC 6749, 7636, OpenID Connect, RFC 8707, Google's and Kore's extras
    *"client_id client_secret code code_verifier code_challenge code_challenge_method".split(),
    *"redirect_uri grant_type refresh_token response_type state scope nonce prompt".split(),
    *"access_type response_mode audience resource include_granted_scopes login_hint".split(),
    *"id_token_hint max_age ui_locales acr_values claims request_uri display".split(),
    *"client_assertion client_assertion_type authorization_details".split(),
    # Plaid's and Kore's sample's names, camelCase ones, indexed and dotted ones
    *"public_token access_token item_id link_token webhook".split(),
    *"closeWindow accessToken refreshToken redirectUri clientId codeChallengeMethod".split(),
    *"includeGrantedScopes tenantId oauth2 items[0] items[] user.name x-kore-bot v2".split(),
]


def test_every_real_parameter_name_is_kept() -> None:
    for name in KNOWN_PARAMS:
        assert param_name(name) == name
    assert shape(params=[(n, "v") for n in KNOWN_PARAMS[:40]]).params == tuple(
        sorted(KNOWN_PARAMS[:40])
    )


KNOWN_HEADERS = [
    # what httpx, Node, Java and browsers send; proxies and tracing add the rest
    *"Host User-Agent Accept Accept-Encoding Accept-Language Connection Content-Type".split(),
    *"Content-Length Authorization Cookie Referer Origin Cache-Control Pragma DNT TE".split(),
    *"Upgrade-Insecure-Requests Sec-Fetch-Site Sec-Fetch-Mode Sec-Fetch-User".split(),
    *"Sec-Fetch-Dest sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform Priority Expect".split(),
    *"X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port X-Real-IP".split(),
    *"Forwarded Via traceparent tracestate baggage X-Request-ID X-Amzn-Trace-Id".split(),
    *"X-B3-TraceId X-B3-SpanId X-B3-Sampled CF-Connecting-IP CF-Ray CDN-Loop".split(),
    *"True-Client-IP X-Correlation-ID X-Requested-With Keep-Alive Transfer-Encoding".split(),
    *"If-None-Match If-Modified-Since Idempotency-Key X-Api-Key".split(),
    *"x-envoy-expected-rq-timeout-ms X-Vercel-Id Fly-Client-IP X-Original-URL".split(),
    *"newrelic X-Datadog-Trace-Id X-Datadog-Parent-Id X-Cloud-Trace-Context".split(),
]


def test_every_usual_header_name_is_kept_lower_cased() -> None:
    for name in KNOWN_HEADERS:
        assert header_name(name) == name.lower()
        assert header_name(name.lower()) == name.lower()


@pytest.mark.parametrize(
    "name",
    [
        "code123",  # three digits
        "a1b2c3",
        "client_id_0123",
        "a" * 33,  # longer than 32 characters
        "abcdefghijklmnop",  # one word of 16 letters
        "abc1def",  # a digit inside a word
        "aBcDeFgH",  # camelCase of many words
        "",
        "client id",
        "client_id\n",
        "ünïcode",
    ],
)
def test_names_that_look_like_values_are_other(name: str) -> None:
    assert param_name(name) == OTHER


@pytest.mark.parametrize(
    "name",
    [
        "0123abcd-4567",
        "a" * 33,
        "",
        "x kore",
        "x-kore\n",
        "ünïcode",
        "b3f2c2aa-4d92-4230-a29e-0afb8d141321",
    ],
)
def test_header_names_that_are_not_names_are_other(name: str) -> None:
    assert header_name(name) == OTHER


def test_any_header_name_a_client_chose_is_kept_lower_cased() -> None:
    # What Kore adds is unknown: that is what the recorder is for.
    assert header_name("X-Kore-Bot-Id") == "x-kore-bot-id"
    assert header_name("X-Qzxwvk-Instance") == "x-qzxwvk-instance"
    assert header_name("X-B3-TraceId") == "x-b3-traceid"


# Client authentication as the token endpoint counts it.


@pytest.mark.parametrize(
    ("authorizations", "params", "expected"),
    [
        ([BASIC], {}, "basic"),
        ([BASIC], {"client_secret": ""}, "basic"),  # an empty secret beside Basic: absent
        ([BASIC], {"client_id": "c", "client_secret": ""}, "basic"),
        ([BASIC], {"client_secret": "s"}, "both"),
        ([], {"client_secret": ""}, "body"),  # without Basic, it is what authenticates
        ([], {"client_id": "c"}, "none"),
    ],
)
def test_client_auth_counts_an_empty_secret_beside_basic_as_absent(
    authorizations: list[str], params: dict[str, str], expected: str
) -> None:
    assert client_auth_of(authorizations, params) == expected


# Which body is JSON: the bridge's rule, the replay's and the contract's are one.

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/json",
    "application/vnd.api+json",
    "Application/JSON",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_body_kind_says_what_the_bridge_reads(content_type: str) -> None:
    kind = body_kind(content_type)
    try:
        parse_params(b"code=abc", content_type)
        read_as_json = False
    except Refused:
        read_as_json = True
    assert (kind == "json") is read_as_json
    if not read_as_json:
        assert parse_params(b"code=abc", content_type) == [("code", "abc")]
        expected = "form" if "x-www-form-urlencoded" in content_type else None
        assert kind == expected
    assert body_kind(None) is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/json", "json"),
        ("application/vnd.api+json; charset=utf-8", "json"),
        ("application/json", "json"),
        ("application/x-www-form-urlencoded", "form"),
        ("text/plain", "form"),  # the bridge reads it as a form
        (None, "form"),
    ],
)
def test_a_recorded_json_media_type_replays_as_json(content_type: str | None, body: str) -> None:
    token = shape(
        params=[("code", "c"), ("grant_type", "authorization_code")],
        header_names=["authorization", "content-type"],
        content_type=content_type,
        authorizations=[BASIC],
    )
    assert KoreBehaviour.from_shapes(None, token) == KoreBehaviour("basic", body, True, False)


def test_the_stored_record_is_the_listed_shape_with_a_numeric_time_and_reads_back() -> None:
    recorded = shape_of(
        "token",
        params=[("code", "c"), ("redirect_uri", "https://kore.example/cb"), ("state", "")],
        header_names=["Content-Type", "Authorization"],
        authorizations=[BASIC],
        content_type="application/json; charset=utf-8",
        user_agent="Kore bot \u00e9",
        callbacks=["https://kore.example/cb"],
        status=400,
        at=1_765_000_000.25,
    )
    text = recorded.to_record()
    listed = recorded.as_json()
    assert json.loads(text) == {**listed, "at": 1_765_000_000.25}
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    assert RequestShape.from_record(text) == recorded
