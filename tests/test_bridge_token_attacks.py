"""The token endpoint against hostile input: nesting, lone surrogates, broken Basic headers,
bodies cut short. Every answer is a 4xx OAuth error, never a 500 or a traceback.

One SQLite bridge per test, served by uvicorn in a thread (the parsing is the same for every
store backend; tests/test_bridge_oauth.py covers the stores).
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from bridge_support import ACCESS_TOKEN, TOKEN_PATH, Bridge

FORM = "application/x-www-form-urlencoded"
TOKEN_PATHS = [TOKEN_PATH, "/oauth/token"]
SURROGATE = "\ud800"


pytestmark = pytest.mark.bridge(plaid="unreachable", record_statuses=True)  # nothing needs Plaid


def assert_invalid_request(response: httpx.Response) -> None:
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), (
        response.text
    )
    assert response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


# Deep nesting and lone surrogates in the body.

NESTED_BODIES = [
    pytest.param(b"[" * 8_000 + b"]" * 8_000, id="array-8000-deep"),
    pytest.param(b'{"":' * 2_000 + b"1" + b"}" * 2_000, id="object-2000-deep"),
    pytest.param(b'{"code": ' + b"[" * 8_000 + b"]" * 8_000 + b"}", id="nested-field"),
]


@pytest.mark.parametrize("path", TOKEN_PATHS)
@pytest.mark.parametrize("content", NESTED_BODIES)
def test_deeply_nested_json_is_invalid_request(bridge: Bridge, path: str, content: bytes) -> None:
    response = bridge.http.post(
        bridge.url + path,
        content=content,
        headers={"Content-Type": "application/json"},
        auth=bridge.basic(),
    )
    assert_invalid_request(response)
    assert bridge.recorder.statuses == [400]


def test_nesting_beyond_the_body_limit_is_413(bridge: Bridge) -> None:
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]) == (413, "invalid_request")


FIELDS = ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"]


@pytest.mark.parametrize("name", [*FIELDS, "refresh_token", "scope", "unknown"])
def test_lone_surrogate_in_any_json_field_is_invalid_request(bridge: Bridge, name: str) -> None:
    params = {"grant_type": "authorization_code", "code": "c0de"}
    if name == "refresh_token":
        params = {"grant_type": "refresh_token", "refresh_token": "r"}
    params[name] = "ab" + SURROGATE  # json.dumps escapes it as \ud800
    for content in (json.dumps(params), json.dumps({**params, SURROGATE: "x"})):
        response = bridge.http.post(
            bridge.url + TOKEN_PATH,
            content=content.encode("ascii"),
            headers={"Content-Type": "application/json"},
            auth=bridge.basic(),
        )
        assert_invalid_request(response)
        assert "UTF-8" in response.json()["error_description"]


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param("%ED%A0%80", id="percent-encoded-surrogate"),
        pytest.param("%FF%FE", id="percent-encoded-not-utf8"),
        pytest.param("%C3", id="percent-encoded-truncated"),
    ],
)
def test_undecodable_percent_escapes_in_a_form_field_are_invalid_request(
    bridge: Bridge, name: str, encoded: str
) -> None:
    params = {"grant_type": "authorization_code", "code": "c0de", name: f"ab{encoded}"}
    body = "&".join(f"{k}={v}" for k, v in params.items())
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        content=body.encode("ascii"),
        headers={"Content-Type": FORM},
        auth=bridge.basic(),
    )
    assert_invalid_request(response)
    assert "UTF-8" in response.json()["error_description"]


@pytest.mark.parametrize(
    "raw",
    [b"code=ab\xed\xa0\x80", b"grant_type=authorization_code&code=\xff", b"\xed\xa0\x80=x"],
)
def test_raw_invalid_utf8_in_a_form_body_is_invalid_request(bridge: Bridge, raw: bytes) -> None:
    response = bridge.http.post(
        bridge.url + TOKEN_PATH, content=raw, headers={"Content-Type": FORM}, auth=bridge.basic()
    )
    assert_invalid_request(response)


def test_valid_non_ascii_values_are_still_read(bridge: Bridge) -> None:
    # Not over-refused: an emoji (a surrogate *pair* in JSON) or é is a value, just a wrong one.
    for content, content_type in (
        (b'{"code": "\\ud83d\\ude00"}', "application/json"),
        (b"grant_type=authorization_code&code=%C3%A9", FORM),
    ):
        response = bridge.http.post(
            bridge.url + TOKEN_PATH,
            content=content,
            headers={"Content-Type": content_type},
            auth=bridge.basic(),
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


# The query string: the token endpoint reads its parameters from the body only.


@pytest.mark.parametrize(
    "query",
    ["code=%ED%A0%80", "x=%FF%FE&client_secret=%C3", "%ED%A0%80=%ED%A0%80", "a=" + "[" * 2000],
)
def test_garbage_in_the_query_string_is_ignored(bridge: Bridge, query: str) -> None:
    response = bridge.http.post(
        f"{bridge.url}{TOKEN_PATH}?{query}",
        data={"grant_type": "authorization_code", "code": bridge.mint_code()},
        auth=bridge.basic(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == ACCESS_TOKEN


# The Authorization header.


def basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"Basic !!!not-base64!!!", id="not-base64"),
        pytest.param(b"Basic " + base64.b64encode(b"id:secret")[:-2], id="truncated-base64"),
        pytest.param(basic(b"\xff\xfe:secret"), id="not-utf8"),
        pytest.param(basic(b"id:\xed\xa0\x80"), id="utf8-encoded-surrogate"),
        pytest.param(basic(b"%ED%A0%80:secret"), id="percent-encoded-surrogate"),
        pytest.param(basic(b"id-without-colon"), id="no-colon"),
        pytest.param(b"Basic \xff\xfe\xed\xa0\x80", id="raw-bytes"),
        pytest.param(b"Basic", id="empty"),
    ],
)
def test_malformed_basic_header_is_invalid_request(bridge: Bridge, header: bytes) -> None:
    code = bridge.mint_code()
    s = bridge.settings
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        # The body's credentials do not make a broken header count as absent.
        data={"code": code, "client_id": s.client_id, "client_secret": s.secret},
        headers={"Authorization": header},
    )
    assert_invalid_request(response)
    assert "Basic" in response.json()["error_description"]
    assert bridge.recorder.statuses == [400]


# A client that goes away in the middle of its body.


def send_part_of_a_body(url: str, path: str, declared: int, sent: bytes) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode("ascii") + sent)
        time.sleep(0.1)  # the handler is reading the body when the connection goes


@pytest.mark.parametrize("path", ["/oauth/token", "/api/set_access_token"])
def test_client_gone_mid_body_is_one_log_line_not_a_traceback(
    bridge: Bridge,
    path: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    send_part_of_a_body(bridge.url, path, 1000, b'{"code": "abcde')
    expected = f"client disconnected before sending the whole body: POST {path}"
    deadline = time.monotonic() + 5
    while expected not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    # The bridge is still fine, and what it logged is one line.
    assert bridge.http.get(bridge.url + "/healthz").status_code == 200
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert logged.count(expected) == 1, logged
    assert "Traceback" not in logged
    assert "Exception in ASGI application" not in logged
    assert "abcde" not in logged
    assert all(status < 500 for status in bridge.recorder.statuses), bridge.recorder.statuses
