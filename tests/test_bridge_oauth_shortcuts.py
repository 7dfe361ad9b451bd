"""Issue 28: the bridge's cuts around oauthlib keep oauthlib's answers.

* a code issued for a query this process validated (``GET /``) is minted without oauthlib
  validating it again, and redirects exactly as oauthlib's own path does; another process
  (here: another ``BridgeOAuth``) validates it again, so a session that outlives a settings
  change is still refused;
* oauthlib's requests parse their query and body once, and repeated parameters are still
  refused at both endpoints;
* the authorization_code grant is answered on the event loop (SQLite) and, behind a lock
  another program holds for a moment, from the thread pool: the code is honoured once.
"""

from __future__ import annotations

import sqlite3
import threading
import warnings
from urllib.parse import parse_qsl, urlsplit

import pytest
from bridge_support import TOKEN_PATH, authorize_query, pkce_pair
from offline_bridge import JSON, app, client, settings

from kore_plaid_nb.bridge.oauth import BridgeOAuth, OAuth2Error
from kore_plaid_nb.bridge.store import ItemRecord
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

__all__ = ["app", "client", "settings"]  # fixtures


def item(n: int) -> ItemRecord:
    return ItemRecord(f"item-{n}", f"access-sandbox-{n:08d}-1111-2222-3333-444444444444", None, "u")


def issued(oauth: BridgeOAuth, query: str, n: int) -> tuple[str, list[tuple[str, str]]]:
    """A session for ``query`` completed through ``oauth``: where the browser goes (the
    callback without its query) and the redirect's parameters."""
    session = f"session-{n}"
    oauth.store.create_session(session, oauth.settings.client_id, "x", query, 600)
    location = urlsplit(oauth.issue_code(session, query, item(n)))
    return location._replace(query="").geturl(), parse_qsl(location.query, keep_blank_values=True)


@pytest.mark.parametrize("pkce", [False, True])
def test_a_code_for_a_query_validated_here_redirects_as_oauthlibs_own_path(
    app: Starlette, settings: Settings, pkce: bool
) -> None:
    extra = {}
    if pkce:
        _verifier, challenge = pkce_pair()
        extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    query = authorize_query(settings, state="", **extra)  # an empty state goes back too
    here: BridgeOAuth = app.state.oauth
    here.validate_authorization(query)  # GET / in this process
    assert here.validated.get(query) is not None
    elsewhere = BridgeOAuth(settings, here.store)  # a replica: oauthlib validates again
    assert elsewhere.validated.get(query) is None
    fast, fast_params = issued(here, query, 1)
    slow, slow_params = issued(elsewhere, query, 2)
    assert fast == slow == dict(parse_qsl(query))["redirect_uri"]
    assert (
        [name for name, _ in fast_params]
        == [name for name, _ in slow_params]
        == [
            "code",
            "state",
        ]
    )
    assert dict(fast_params)["state"] == dict(slow_params)["state"] == ""
    stored = [here.store.find_code(dict(p)["code"]) for p in (fast_params, slow_params)]
    assert all(record is not None for record in stored)
    fields = [
        (r.client_id, r.redirect_uri, r.code_challenge, r.code_challenge_method)
        for r in stored
        if r is not None
    ]
    assert fields[0] == fields[1]
    assert fields[0][2] == (extra.get("code_challenge"))


def test_a_query_validated_by_a_process_with_other_settings_is_refused_at_issue(
    app: Starlette, settings: Settings
) -> None:
    query = authorize_query(settings)
    before: BridgeOAuth = app.state.oauth
    before.validate_authorization(query)
    moved = settings.with_values(plaid_client_id="another-client-id", plaid_secret="s" * 30)
    after = BridgeOAuth(moved, before.store)  # the bridge restarted with another client id
    with pytest.raises(OAuth2Error):
        after.issue_code("s-moved", query, item(3))


def test_repeated_parameters_are_still_refused_at_both_endpoints(
    client: TestClient, settings: Settings
) -> None:
    query = authorize_query(settings) + "&client_id=" + settings.client_id
    started = client.get("/?" + query, headers=JSON)
    assert started.status_code == 400, started.text
    assert "Duplicate client_id" in started.text
    body = "grant_type=authorization_code&grant_type=authorization_code&code=abc"
    answer = client.post(
        TOKEN_PATH,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(settings.client_id, settings.secret),
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert "Duplicate grant_type" in answer.json()["error_description"]


def test_a_code_grant_behind_a_brief_lock_is_answered_once_from_the_thread_pool(
    app: Starlette, client: TestClient, settings: Settings
) -> None:
    oauth: BridgeOAuth = app.state.oauth
    query = authorize_query(settings)
    oauth.validate_authorization(query)
    _, params = issued(oauth, query, 4)
    code = dict(params)["code"]
    holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None,
                             check_same_thread=False)  # fmt: skip
    holder.execute("BEGIN IMMEDIATE")  # another program writes for 0.3 s
    release = threading.Timer(0.3, lambda: (holder.execute("ROLLBACK"), holder.close()))
    release.start()
    auth = (settings.client_id, settings.secret)
    try:
        first = client.post(TOKEN_PATH, data={"code": code}, auth=auth)
    finally:
        release.join()
    assert first.status_code == 200, first.text
    assert first.json()["access_token"] == item(4).access_token
    again = client.post(TOKEN_PATH, data={"code": code}, auth=auth)  # a replay
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    refreshed = client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=auth,
    )
    assert refreshed.status_code == 400, "the replay revoked the refresh token it granted"
