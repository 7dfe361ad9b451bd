"""The bridge's one error model (issue 21): every refusal of the browser API is JSON with
``message`` and ``fix`` (what ``static/bridge.js`` shows), only the token endpoint answers RFC
6749's ``error_description``; session and repair-link problems come from one table with no
default; a programming error is logged once and answered 500 with a request id."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterator

import httpx
import pytest
from bridge_support import TOKEN_PATH, OfflineLink, authorize_query
from offline_bridge import JSON, app, client, new_session, settings

from kore_plaid_nb.bridge.http import MAX_BODY_BYTES
from kore_plaid_nb.bridge.plaid_link import LinkStepError
from kore_plaid_nb.bridge.problems import CANNOT_FINISH, REPAIR_CODES, SESSION_CODES, Problem
from kore_plaid_nb.bridge.refusal import Refusal, Refused
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.bridge.store import SessionClaim, StoreUnavailable
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

SET_ACCESS_TOKEN = "/api/set_access_token"
REPAIR_TOKEN = "r" * 43  # the shape of a repair link's secret

__all__ = ["app", "client", "settings"]  # fixtures used by name


def assert_readable(answer: httpx.Response, status: int, error: str) -> dict[str, object]:
    """The browser API's one shape: error, message, fix; never RFC 6749's description."""
    assert answer.status_code == status, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and len(body["message"]) > 10, body
    assert isinstance(body["fix"], str) and len(body["fix"]) > 10, body
    assert "error_description" not in body
    return dict(body)


# The bug: the browser API's 503 and read_body's 413/400 sent error_description, so the page
# said only "Connecting the account failed."


def test_the_browser_api_503_has_a_message_the_page_shows(
    client: TestClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = new_session(client, settings)

    def down(session_id: str) -> SessionClaim:
        raise StoreUnavailable("the database restarts")

    monkeypatch.setattr(app.state.store, "claim_session", down)
    answer = client.post(SET_ACCESS_TOKEN, json={"session": session, "public_token": "p"})
    body = assert_readable(answer, 503, "temporarily_unavailable")
    assert "database cannot answer" in str(body["message"])
    assert "Retry in 5 seconds" in str(body["fix"])
    assert answer.headers["retry-after"] == "5"


def test_the_token_endpoint_503_stays_rfc_6749(
    client: TestClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object) -> None:
        raise StoreUnavailable("the database restarts")

    monkeypatch.setattr(app.state.oauth, "token_response", down)
    answer = client.post(TOKEN_PATH, data={"grant_type": "authorization_code", "code": "c"})
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
    body = answer.json()
    assert body["error"] == "temporarily_unavailable"
    assert "database cannot answer" in body["error_description"]
    assert "message" not in body and "Retry in 5 seconds" in body["fix"]


def test_a_json_413_on_set_access_token_has_a_message(client: TestClient) -> None:
    big = {"session": "s", "public_token": "x" * (MAX_BODY_BYTES + 1)}
    declared = client.post(SET_ACCESS_TOKEN, json=big)
    assert "too large" in str(assert_readable(declared, 413, "invalid_request")["message"])

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"session": "s", "public_token": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    streamed = client.post(
        SET_ACCESS_TOKEN, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_readable(streamed, 413, "invalid_request")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"session": {"a": 1}}', "must be a string"),
        (b'{"session": "\\ud800"}', "UTF-8"),
        (b"[" * 100 + b"]" * 100, ""),
    ],
)
def test_an_unreadable_json_body_is_a_400_with_a_message(
    client: TestClient, content: bytes, words: str
) -> None:
    answer = client.post(
        SET_ACCESS_TOKEN, content=content, headers={"Content-Type": "application/json"}
    )
    assert words in str(assert_readable(answer, 400, "invalid_request")["message"])


def test_the_token_endpoint_keeps_rfc_6749_for_unreadable_bodies(client: TestClient) -> None:
    answer = client.post(
        TOKEN_PATH, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    assert "not valid JSON" in answer.json()["error_description"]
    assert "message" not in answer.json()


def test_every_start_refusal_has_the_browser_shape(
    client: TestClient, settings: Settings, home: object
) -> None:
    wrong_client = client.get("/?" + authorize_query(settings, client_id="nope"), headers=JSON)
    assert "client_id" in str(assert_readable(wrong_client, 400, "invalid_client")["message"])
    as_text = client.post("/api/link_token", content=b'{"session": "s"}')
    assert_readable(as_text, 415, "unsupported_media_type")
    no_session = client.post("/api/link_token", json={})
    assert_readable(no_session, 400, "invalid_request")
    unknown = client.post("/api/link_token", json={"session": "x" * 43})
    assert_readable(unknown, 400, "invalid_session")

    limited = create_app(
        settings.with_values(bridge_sessions_per_minute=1), link=OfflineLink(settings)
    )
    try:
        limited_client = TestClient(limited)
        assert limited_client.get("/?" + authorize_query(settings), headers=JSON).status_code == 200
        refused = limited_client.get("/?" + authorize_query(settings), headers=JSON)
        body = assert_readable(refused, 429, "too_many_requests")
        assert "Wait" in str(body["fix"]) and int(refused.headers["retry-after"]) >= 1
        page = limited_client.get("/?" + authorize_query(settings))
        assert page.status_code == 429 and "Please wait a moment" in page.text
    finally:
        limited.state.store.close()


# One table of problems, with no default.


def test_every_problem_code_of_the_store_has_its_own_row() -> None:
    statuses = {code: problem.refusal().status for code, problem in SESSION_CODES.items()}
    assert statuses == {"unknown": 400, "expired": 400, "exhausted": 429, "used": 409}
    errors = {code: Problem.of_repair_link(code).refusal().error for code in REPAIR_CODES}
    assert errors == {
        "unknown": "repair_link_unknown",
        "expired": "repair_link_expired",
        "used": "repair_link_used",
        "removed": "item_removed",
        "exhausted": "too_many_link_tokens",
        "not_started": "repair_not_started",
    }
    assert len(Problem.__members__) == len(Problem)  # no row is an alias of another


def test_a_session_problem_is_told_as_the_hosted_return_page_tells_it() -> None:
    """The Hosted Link return page shows a session's problem as it is (no re-titling)."""
    for problem in SESSION_CODES.values():
        refusal = problem.refusal()
        assert (refusal.title, refusal.step) == (CANNOT_FINISH, None)


@pytest.mark.parametrize("code", ["bogus", "", None, "removed", "not_started"])
def test_an_unknown_session_problem_is_never_session_used(code: str | None) -> None:
    with pytest.raises(ValueError, match="no session problem"):
        Problem.of_session(code)


def test_an_unknown_problem_from_the_store_is_a_500_not_a_409(
    client: TestClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = new_session(client, settings)
    monkeypatch.setattr(app.state.store, "claim_session", lambda _id: SessionClaim(None, "gone"))
    answer = client.post(SET_ACCESS_TOKEN, json={"session": session, "public_token": "p"})
    assert answer.status_code == 500 and answer.json()["error"] == "server_error"


# A programming error: logged once, 500 with a request id.


def test_an_unexpected_error_is_logged_once_and_answered_500_with_a_request_id(
    client: TestClient,
    app: Starlette,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = new_session(client, settings)

    def broken(session_id: str) -> SessionClaim:
        raise TypeError(f"a programming error quoting {session_id}")

    monkeypatch.setattr(app.state.store, "claim_session", broken)
    caplog.set_level(logging.INFO)
    answer = client.post(SET_ACCESS_TOKEN, json={"session": session, "public_token": "p-secret"})
    body = assert_readable(answer, 500, "server_error")
    request_id = str(body["request_id"])
    assert len(request_id) == 16 and request_id in str(body["message"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    logged = caplog.text
    assert f"POST {SET_ACCESS_TOKEN} (request id {request_id})" in logged
    # the exception's type and where it happened, never its message (it may quote a secret)
    assert "TypeError at broken (test_bridge_errors.py:" in logged
    assert "a programming error" not in logged
    assert session not in logged and "p-secret" not in logged


def test_an_unexpected_error_on_a_page_shows_the_request_id_and_logs_the_route_template(
    client: TestClient,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(token: str) -> None:
        raise TypeError("a programming error")

    monkeypatch.setattr(app.state.store, "peek_repair_link", broken)
    answer = client.get(f"/repair/{REPAIR_TOKEN}")
    assert answer.status_code == 500 and "text/html" in answer.headers["content-type"]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "Something went wrong" in answer.text and "request id" in answer.text
    assert REPAIR_TOKEN not in answer.text
    assert "GET /repair/{token} (request id " in caplog.text
    assert REPAIR_TOKEN not in caplog.text


# LinkStepError is a refusal, and is never mutated.


def test_a_plaid_failure_is_a_frozen_refusal() -> None:
    failure = LinkStepError.of(502, "INTERNAL_SERVER_ERROR", "Plaid had a problem.", "Wait.", None)
    again = LinkStepError(failure.refusal.with_step("10-12").with_fix("Open Link again."))
    assert isinstance(failure, Refused) and isinstance(again, LinkStepError)
    assert (failure.step, failure.fix) == (None, "Wait.")
    assert (again.status, again.code, again.step, again.fix) == (
        502,
        "INTERNAL_SERVER_ERROR",
        "10-12",
        "Open Link again.",
    )
    assert again.refusal.body() == {
        "error": "plaid_error",
        "plaid_error_code": "INTERNAL_SERVER_ERROR",
        "message": "Plaid had a problem.",
        "fix": "Open Link again.",
        "step": "10-12",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        failure.refusal.step = "10-12"  # type: ignore[misc]  # the point: it is frozen


def test_a_refusal_renders_as_json_as_rfc_6749_and_as_a_page() -> None:
    refusal = Refusal(
        409, "x_used", "It was used <once>.", "Start again.", "4.x", {"Retry-After": "3"}
    )
    assert refusal.json().headers["retry-after"] == "3"
    assert b'"message":"It was used <once>."' in refusal.json().body
    assert b'"error_description":"It was used <once>."' in refusal.oauth_json().body
    page = refusal.with_title("Cannot go on").page()
    text = bytes(page.body).decode()
    assert page.status_code == 409 and page.headers["cache-control"] == "no-store"
    assert "<h1>Cannot go on</h1>" in text and "It was used &lt;once&gt;." in text
    assert "Start again. (procedure step 4.x)" in text


# The repair page's calls: repair.js shows body.message, so their 415 / 413 carry one too.


@pytest.mark.parametrize("call", ["link_token", "done"])
def test_a_repair_call_refused_for_its_body_has_a_message(client: TestClient, call: str) -> None:
    path = f"/repair/{REPAIR_TOKEN}/{call}"
    as_text = client.post(path, content=b"{}", headers={"Content-Type": "text/plain"})
    assert "JSON" in str(assert_readable(as_text, 415, "unsupported_media_type")["message"])
    big = client.post(path, json={"pad": "x" * (MAX_BODY_BYTES + 1)})
    assert "too large" in str(assert_readable(big, 413, "invalid_request")["message"])


# The fix of an unreadable body says what applies to that request.

JSON_ADVICE = "one flat JSON object of texts"


def test_the_json_api_advises_a_flat_json_object(client: TestClient) -> None:
    answer = client.post(SET_ACCESS_TOKEN, json={"session": ["s"]})
    assert JSON_ADVICE in str(assert_readable(answer, 400, "invalid_request")["fix"])


def test_a_token_request_form_that_is_not_utf8_is_told_to_send_a_form(
    client: TestClient,
) -> None:
    answer = client.post(
        TOKEN_PATH,
        content=b"grant_type=authorization_code&code=%FF",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    fix = answer.json()["fix"]
    assert (
        "form" in fix
        and "RFC 6749 4.1.3" in fix
        and not fix.startswith("Send the parameters as one")
    )


@pytest.mark.parametrize("path", [TOKEN_PATH, SET_ACCESS_TOKEN, f"/repair/{REPAIR_TOKEN}/done"])
def test_a_content_length_that_is_not_a_number_is_told_as_such(
    client: TestClient, path: str
) -> None:
    answer = client.post(
        path, content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "x1"}
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    assert "Content-Length" in answer.json()["fix"] and JSON_ADVICE not in answer.json()["fix"]
