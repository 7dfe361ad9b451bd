"""The bridge's OAuth rules at the HTTP level, without Plaid (codes minted in-process).

Every request goes through a real uvicorn server with httpx, like Kore would.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator

import pytest
from bridge_support import ACCESS_TOKEN, TOKEN_PATH, Bridge, authorize_query, pkce_pair, query_of
from store_inspect import rows

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app, list_authorizations
from kore_plaid_nb.bridge import oauth as oauth_module
from kore_plaid_nb.bridge.oauth import equal_secrets, new_code
from kore_plaid_nb.bridge.store import digest

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql", "replicas"),
    # Plaid is unreachable on purpose: nothing here may need it. With "replicas", codes are
    # minted by one bridge and every HTTP request goes through a round-robin balancer over it
    # and a second bridge on the same database.
    pytest.mark.bridge(plaid="unreachable"),
]


# Token endpoint: success shapes and Kore's quirks.


def test_code_exchange_answers_the_items_access_token_without_caching(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    response = bridge.exchange(code)
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] == ACCESS_TOKEN
    assert body["token_type"] == "bearer"
    assert body["closeWindow"] is True
    assert len(body["refresh_token"]) >= 40
    assert "expires_in" not in body
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert list(body) == ["access_token", "token_type", "refresh_token", "closeWindow"]


def test_kore_sample_body_json_without_grant_type_and_body_credentials(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    s = bridge.settings
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        json={"code": code, "client_id": s.client_id, "client_secret": s.secret},
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == ACCESS_TOKEN


def test_oauth_token_alias_with_form_body_credentials(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    s = bridge.settings
    response = bridge.http.post(
        bridge.url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.simulator_callback,
            "client_id": s.client_id,
            "client_secret": s.secret,
        },
    )
    assert response.status_code == 200, response.text


def test_refresh_returns_same_access_token_and_keeps_refresh_token(bridge: Bridge) -> None:
    first = bridge.exchange(bridge.mint()["code"]).json()
    for _ in range(2):  # a retried refresh works too: no rotation
        again = bridge.refresh(first["refresh_token"])
        assert again.status_code == 200
        assert again.json()["access_token"] == ACCESS_TOKEN
        assert again.json()["refresh_token"] == first["refresh_token"]
        assert again.headers["cache-control"] == "no-store"


def test_no_scope_is_echoed_by_the_code_or_refresh_grant(bridge: Bridge) -> None:
    # Scopes mean nothing to Plaid: whatever Kore sends is accepted and echoed nowhere.
    s = bridge.settings
    query = authorize_query(s, scope="accounts transactions")
    first = bridge.exchange(bridge.mint(query)["code"], scope="read")
    assert first.status_code == 200, first.text
    assert "scope" not in first.json()
    for scope in ("read write", "accounts"):
        data = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
        again = bridge.http.post(
            bridge.url + TOKEN_PATH, data={**data, "scope": scope}, auth=(s.client_id, s.secret)
        )
        assert again.status_code == 200, again.text
        assert "scope" not in again.json()


def test_unknown_refresh_token_is_invalid_grant(bridge: Bridge) -> None:
    response = bridge.refresh("not-a-token")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


# Codes: single use, replay revokes, lifetime, bindings.


def test_replayed_code_is_refused_and_revokes_what_it_issued(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    issued = bridge.exchange(code).json()
    replay = bridge.exchange(code)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    after = bridge.refresh(issued["refresh_token"])
    assert (after.status_code, after.json()["error"]) == (400, "invalid_grant")
    assert list_authorizations(bridge.settings)[0]["status"] == "revoked"


def test_expired_code_is_invalid_grant(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth_module, "CODE_TTL", -1.0)
    code = bridge.mint()["code"]
    response = bridge.exchange(code)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_codes_live_at_most_ten_minutes() -> None:
    assert oauth_module.CODE_TTL <= 600


def test_token_request_may_omit_redirect_uri_but_not_change_it(bridge: Bridge) -> None:
    ok = bridge.exchange(bridge.mint()["code"])
    assert ok.status_code == 200
    other = bridge.settings.plaid_redirect_uri  # registered, but not the authorized one
    wrong = bridge.exchange(bridge.mint()["code"], redirect_uri=other)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert "redirect_uri" in wrong.json()["error_description"]


def test_pkce_s256_verifier_is_checked(bridge: Bridge) -> None:
    verifier, challenge = pkce_pair()
    query = authorize_query(bridge.settings, code_challenge=challenge, code_challenge_method="S256")
    good = bridge.exchange(bridge.mint(query)["code"], code_verifier=verifier)
    assert good.status_code == 200, good.text
    wrong = bridge.exchange(bridge.mint(query)["code"], code_verifier="x" * 50)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    missing = bridge.exchange(bridge.mint(query)["code"])
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


def test_a_code_that_fails_a_later_check_stays_used_and_its_grant_is_revoked(
    bridge: Bridge,
) -> None:
    verifier, challenge = pkce_pair()
    query = authorize_query(bridge.settings, code_challenge=challenge, code_challenge_method="S256")
    code = bridge.mint(query)["code"]
    wrong = bridge.exchange(code, code_verifier="y" * 50)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    # The code was redeemed with its refresh token, then the verifier failed: the token that
    # was never handed out is revoked, and the code is not honoured afterwards either.
    grants = rows(
        bridge.settings,
        "SELECT revoked_at FROM refresh_tokens WHERE code_digest = ?",
        (digest(code),),
    )
    assert len(grants) == 1 and grants[0][0] is not None
    late = bridge.exchange(code, code_verifier=verifier)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_plain_or_missing_method_is_refused_with_state(bridge: Bridge, method) -> None:
    query = authorize_query(
        bridge.settings, state="s&t=1 é", code_challenge="a" * 43, code_challenge_method=method
    )
    response = bridge.http.get(bridge.url + "/?" + query)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(bridge.settings.simulator_callback + "?")
    params = query_of(location)
    assert params["error"] == "invalid_request"
    assert params["state"] == "s&t=1 é"


@pytest.mark.parametrize(
    ("method", "description"),
    [
        (
            None,
            "code_challenge_method is missing, which means plain (RFC 7636 4.3): send "
            "code_challenge_method=S256 with code_challenge.",
        ),
        ("plain", "code_challenge_method must be S256 (plain is not accepted)."),
        ("S256", None),
    ],
)
def test_a_challenge_without_a_method_is_told_the_method_is_missing(
    bridge: Bridge, method: str | None, description: str | None
) -> None:
    _verifier, challenge = pkce_pair()
    query = authorize_query(
        bridge.settings, state=None, code_challenge=challenge, code_challenge_method=method
    )
    response = bridge.http.get(bridge.url + "/?" + query)
    if description is None:  # S256: the page opens
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 302, response.text
    assert query_of(response.headers["location"]) == {
        "error": "invalid_request",
        "error_description": description,
    }


def test_code_verifier_for_a_code_issued_without_challenge_is_a_pkce_downgrade(
    bridge: Bridge,
) -> None:
    # RFC 9700 2.1.1: an attacker who stripped code_challenge from the authorization request
    # must not get a code the client's code_verifier is silently ignored for.
    verifier, _challenge = pkce_pair()
    code = bridge.mint()["code"]  # authorized without code_challenge
    downgraded = bridge.exchange(code, code_verifier=verifier)
    assert (downgraded.status_code, downgraded.json()["error"]) == (400, "invalid_grant")
    assert "code_challenge" in downgraded.json()["error_description"]
    assert downgraded.headers["cache-control"] == "no-store"
    # The code is spent, like any code whose redemption failed a later check.
    late = bridge.exchange(code)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")
    # Without code_verifier, a code issued without PKCE still works (Kore sends none).
    plain = bridge.exchange(bridge.mint()["code"])
    assert plain.status_code == 200, plain.text


# Client authentication.


def test_wrong_basic_secret_is_401_with_basic_challenge(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code},
        auth=(bridge.settings.client_id, "wrong-secret"),
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"
    # the code was not consumed by an unauthenticated request
    assert bridge.exchange(code).status_code == 200


def test_wrong_body_secret_or_none_is_401(bridge: Bridge) -> None:
    code = bridge.mint()["code"]
    for extra in ({"client_id": bridge.settings.client_id, "client_secret": "nope"}, {}):
        response = bridge.http.post(bridge.url + TOKEN_PATH, data={"code": code, **extra})
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"client_secret": "other"}, id="body-secret-other"),
        pytest.param({"client_id": "someone-else"}, id="body-id-differs"),
    ],
)
def test_basic_and_body_credentials_that_disagree_are_invalid_request(
    bridge: Bridge, body: dict[str, str]
) -> None:
    # Both at once are accepted when they agree (issue 22, tests/test_bridge_kore_shapes.py);
    # when they disagree, the request is refused.
    s = bridge.settings
    code = bridge.mint()["code"]
    extra = {k: v.format(secret=s.secret, client_id=s.client_id) for k, v in body.items()}
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code, **extra},
        auth=(s.client_id, s.secret),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert "one way" in response.json()["error_description"]
    assert s.secret not in response.text
    assert response.headers["cache-control"] == "no-store"
    # Refused before the code was looked at: it still works.
    assert bridge.exchange(code).status_code == 200
    token = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": "x", **extra},
        auth=(s.client_id, s.secret),
    )
    assert (token.status_code, token.json()["error"]) == (400, "invalid_request")


def test_basic_with_the_same_client_id_in_the_body_is_accepted(bridge: Bridge) -> None:
    s = bridge.settings
    code = bridge.mint()["code"]
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code, "client_id": s.client_id},
        auth=(s.client_id, s.secret),
    )
    assert response.status_code == 200, response.text


def test_secrets_are_compared_in_constant_time_helper() -> None:
    assert equal_secrets("abc", "abc")
    assert not equal_secrets("abc", "abd")
    assert not equal_secrets(None, "abc")
    assert not equal_secrets("é", "e")


# Grant types and malformed requests: always 4xx.


def test_unsupported_and_missing_grant_type(bridge: Bridge) -> None:
    s = bridge.settings
    password = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(s.client_id, s.secret),
    )
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")
    missing = bridge.http.post(bridge.url + TOKEN_PATH, data={}, auth=(s.client_id, s.secret))
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"code": {"nested": 1}}', "application/json"),
        (b"\xff\xfe\xfd", "application/x-www-form-urlencoded"),
        (b"code=a&code=b&grant_type=authorization_code", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
        (b"%%%=&&==", "text/plain"),
    ],
)
def test_malformed_token_requests_are_invalid_request(
    bridge: Bridge, content: bytes, content_type: str
) -> None:
    response = bridge.http.post(
        bridge.url + TOKEN_PATH,
        content=content,
        headers={"Content-Type": content_type},
        auth=(bridge.settings.client_id, bridge.settings.secret),
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_oversized_bodies_get_413(bridge: Bridge) -> None:
    big = bridge.http.post(bridge.url + TOKEN_PATH, content=b"a" * 100_000)
    assert big.status_code == 413
    assert big.json()["error"] == "invalid_request"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(40):
            yield b"b" * 1024

    streamed = bridge.http.post(
        bridge.url + "/api/set_access_token",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_wrong_methods_and_unknown_paths_are_4xx(bridge: Bridge) -> None:
    assert bridge.http.get(bridge.url + TOKEN_PATH).status_code == 405
    assert bridge.http.get(bridge.url + "/api/set_access_token").status_code == 405
    assert bridge.http.get(bridge.url + "/api/info").status_code == 404


def test_set_access_token_rejects_bad_bodies_and_unknown_sessions(bridge: Bridge) -> None:
    url = bridge.url + "/api/set_access_token"
    assert bridge.http.post(url, json={"session": "x"}).status_code == 400
    assert (
        bridge.http.post(
            url, content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    unknown = bridge.http.post(url, json={"session": "nope", "public_token": "public-x"})
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_session")
    assert unknown.json()["fix"]


# Authorization endpoint: fatal errors never redirect.


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/workflows/callback"},
        {"redirect_uri": "https://idp.kore.ai/workflows/callback"},  # no trailing slash
        {"redirect_uri": "https://idp.kore.ai/workflows/callback/?x=1"},
        {"redirect_uri": "not a url"},
    ],
)
def test_bad_client_or_redirect_uri_is_a_400_page_not_a_redirect(bridge: Bridge, change) -> None:
    query = authorize_query(bridge.settings, state="keep", **change)
    response = bridge.http.get(bridge.url + "/?" + query)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert bridge.settings.secret not in response.text
    assert "What to do" in response.text or "Kore" in response.text
    as_json = bridge.http.get(bridge.url + "/?" + query, headers={"Accept": "application/json"})
    assert as_json.status_code == 400
    expected = "invalid_client" if change.get("client_id") else "invalid_request"
    assert as_json.json()["error"] == expected
    assert as_json.json()["fix"]


@pytest.mark.parametrize("response_type", ["token", "code token", "none"])
def test_unsupported_response_type_redirects_with_error_and_state(
    bridge: Bridge, response_type: str
) -> None:
    query = authorize_query(bridge.settings, state="a b+c", response_type=response_type)
    response = bridge.http.get(bridge.url + "/?" + query)
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params == {"error": "unsupported_response_type", "state": "a b+c"}


def test_malformed_pkce_challenge_is_refused(bridge: Bridge) -> None:
    for challenge in ("", "short", "!" * 43):
        query = authorize_query(
            bridge.settings, code_challenge=challenge, code_challenge_method="S256"
        )
        response = bridge.http.get(bridge.url + "/?" + query)
        assert response.status_code == 302
        assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_code_is_always_returned_in_the_query(bridge: Bridge) -> None:
    callback = bridge.mint(authorize_query(bridge.settings, response_mode="fragment"))
    assert callback["code"] and callback["state"] == "st-1"


def test_garbage_authorization_requests_are_4xx(bridge: Bridge) -> None:
    for query in ("%ff=%fe", "a=%", "&&&", "client_id", "client_id=&response_type="):
        response = bridge.http.get(bridge.url + "/?" + query)
        assert 400 <= response.status_code < 500, query


def test_missing_redirect_uri_means_the_single_kore_callback(home) -> None:
    settings = settings_module.load()
    app = create_app(settings)
    auth = app.state.oauth.validate_authorization(authorize_query(settings, redirect_uri=None))
    assert auth.redirect_uri == settings.plaid_redirect_uri
    several = settings.with_values(kore_callback_urls=("https://idp.kore.com/workflows/callback",))
    app = create_app(several)
    with pytest.raises(oauth_module.FatalClientError):
        app.state.oauth.validate_authorization(authorize_query(several, redirect_uri=None))


def test_healthz(bridge: Bridge) -> None:
    assert bridge.http.get(bridge.url + "/healthz").json()["status"] == "ok"


# Store: private file, WAL, digests only.


@pytest.mark.backends("sqlite")
def test_store_is_private_wal_and_keeps_no_code_or_refresh_token(bridge: Bridge) -> None:
    minted = bridge.mint()
    issued = bridge.exchange(minted["code"]).json()
    path = bridge.settings.bridge_db_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            assert stat.S_IMODE(os.stat(side).st_mode) & 0o077 == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert minted["code"].encode() not in raw
    assert issued["refresh_token"].encode() not in raw


def test_store_keeps_digests_not_codes_or_refresh_tokens(bridge: Bridge) -> None:
    minted = bridge.mint()
    issued = bridge.exchange(minted["code"]).json()
    tables = ("sessions", "items", "codes", "refresh_tokens", "spent_public_tokens")
    dump = repr([rows(bridge.settings, f"SELECT * FROM {table}") for table in tables])  # noqa: S608
    assert digest(minted["code"]) in dump
    assert minted["code"] not in dump
    assert issued["refresh_token"] not in dump
    assert digest(issued["refresh_token"]) in dump


def test_list_authorizations_is_masked(bridge: Bridge) -> None:
    bridge.exchange(bridge.mint()["code"])
    bridge.mint()
    rows = list_authorizations(bridge.settings)
    assert [r["status"] for r in rows] == ["code issued", "active"]
    text = repr(rows)
    assert ACCESS_TOKEN not in text
    assert bridge.settings.client_id not in text
    assert rows[0]["redirect_uri"] == bridge.settings.simulator_callback
    assert rows[0]["institution"] == "ins_109508"
    assert set(rows[0]) >= {"when", "client", "redirect_uri", "institution", "item_id", "status"}


def test_codes_are_30_characters_of_oauthlibs_alphabet_and_all_differ() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 30 and c.isascii() and c.isalnum() for c in codes)
    assert len(set("".join(codes))) == 62  # every letter and digit turns up
