"""The whole flow against the Plaid emulator, through plaid-python: page, Link success and
exit, code, token, refresh, requests-oauthlib as the client, Plaid failures, 100 end users."""

from __future__ import annotations

import contextlib
import html
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import plaid
import pytest
from bridge_support import (
    TOKEN_PATH,
    authorize_and_link,
    authorize_query,
    exchange,
    query_of,
    refresh,
    sandbox_public_token,
)
from fake_clock import FakeClock
from http_support import TLS
from plaid.model.accounts_get_request import AccountsGetRequest
from requests_oauthlib import OAuth2Session
from round_robin import running_round_robin
from store_inspect import stored_access_tokens

from kore_plaid_nb import plaid_client, services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import list_authorizations, routes, running_bridge
from kore_plaid_nb.emulator import faults, running_emulator

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql", "replicas"),
]


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("emulator") / "emulator.sqlite3"
    with running_emulator(settings_module.Settings(), state_path=state) as url:
        yield url


@dataclass
class Flow:
    url: str
    settings: settings_module.Settings
    http: httpx.Client
    emulator: str


@pytest.fixture
def flow(home: Path, emulator_url: str, store_backend: str) -> Iterator[Flow]:
    """The bridge under test; with "replicas", two bridges on one PostgreSQL database behind
    a round-robin balancer, so that every flow is split between them."""
    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(running_bridge(settings))
        if store_backend == "replicas":
            second = stack.enter_context(running_bridge(settings))
            balancer = stack.enter_context(running_round_robin([url, second]))
            url = balancer.url
        http = stack.enter_context(httpx.Client(timeout=20, verify=TLS))
        yield Flow(url, settings, http, emulator_url)
        if store_backend == "replicas":
            assert min(balancer.served.values()) >= 1, balancer.served
    faults.clear(emulator_url)


def accounts(settings: settings_module.Settings, access_token: str) -> list[str]:
    api = plaid_client.create(settings)
    return [
        a.name for a in api.accounts_get(AccountsGetRequest(access_token=access_token)).accounts
    ]


def test_page_opens_link_from_the_configured_host(flow: Flow) -> None:
    response = flow.http.get(flow.url + "/?" + authorize_query(flow.settings, state="s-9"))
    assert response.status_code == 200
    page = response.text
    link_script = plaid_client.link_script_url(flow.settings)
    assert link_script.startswith(flow.emulator)
    assert re.search(rf'<script [^>]*src="{re.escape(link_script)}"[^>]*></script>', page)
    assert 'name="viewport"' in page and "width=device-width" in page
    # no Link token in the page: it asks for one when it opens Link
    assert "link-sandbox-" not in page and "data-link-token" not in page
    session = re.search(r'data-session="([^"]+)"', page).group(1)
    asked = flow.http.post(flow.url + "/api/link_token", json={"session": session})
    assert asked.status_code == 200, asked.text
    assert re.fullmatch(r"link-sandbox-[0-9a-f-]{36}", asked.json()["link_token"])
    deny = re.search(r'data-deny-url="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert deny.startswith(flow.settings.simulator_callback + "?")
    assert query_of(deny)["error"] == "access_denied"
    assert query_of(deny)["state"] == "s-9"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and flow.emulator in policy
    assert response.headers["cache-control"] == "no-store"
    # the page loads nothing but itself and the Link script
    sources = [html.unescape(s) for s in re.findall(r'(?:src|href)="([^"]+)"', page)]
    assert all(s.startswith("/static/") or s == link_script or s == deny for s in sources)
    assert flow.http.get(flow.url + "/static/bridge.js").status_code == 200
    assert "receivedRedirectUri" in flow.http.get(flow.url + "/static/bridge.js").text


def test_whole_flow_gives_kore_a_working_plaid_access_token(flow: Flow) -> None:
    callback = authorize_and_link(flow.http, flow.url, flow.settings, state="kore-state-1")
    assert callback["state"] == "kore-state-1"
    assert set(callback) == {"code", "state"}
    token = exchange(
        flow.http,
        flow.url,
        flow.settings,
        callback["code"],
        redirect_uri=flow.settings.simulator_callback,
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["access_token"].startswith("access-sandbox-")
    assert "Plaid Checking" in accounts(flow.settings, body["access_token"])
    again = refresh(flow.http, flow.url, flow.settings, body["refresh_token"])
    assert again.json()["access_token"] == body["access_token"]
    [row] = list_authorizations(flow.settings)
    assert row["status"] == "active"
    assert row["institution"] == "ins_109508"
    assert body["access_token"] not in repr(row)


def test_requests_oauthlib_client_with_pkce(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback http in the test only
    s = flow.settings
    session = OAuth2Session(s.client_id, redirect_uri=s.simulator_callback, pkce="S256")
    authorization_url, state = session.authorization_url(flow.url + "/")
    start = flow.http.get(authorization_url, headers={"Accept": "application/json"}).json()
    done = flow.http.post(
        flow.url + "/api/set_access_token",
        json={"session": start["session"], "public_token": sandbox_public_token(s)},
    ).json()
    token = session.fetch_token(
        flow.url + TOKEN_PATH,
        authorization_response=done["redirect_to"],
        client_secret=s.secret,
    )
    assert token["access_token"].startswith("access-sandbox-")
    assert query_of(done["redirect_to"])["state"] == state
    refreshed = session.refresh_token(flow.url + "/oauth/token", auth=(s.client_id, s.secret))
    assert refreshed["access_token"] == token["access_token"]


def test_replayed_code_removes_the_item_at_plaid(flow: Flow) -> None:
    code = authorize_and_link(flow.http, flow.url, flow.settings)["code"]
    access_token = exchange(flow.http, flow.url, flow.settings, code).json()["access_token"]
    assert exchange(flow.http, flow.url, flow.settings, code).json()["error"] == "invalid_grant"
    with pytest.raises(plaid.ApiException) as info:
        accounts(flow.settings, access_token)
    assert "INVALID_ACCESS_TOKEN" in info.value.body


def test_a_session_and_a_public_token_are_used_once(flow: Flow) -> None:
    start = flow.http.get(
        flow.url + "/?" + authorize_query(flow.settings), headers={"Accept": "application/json"}
    ).json()
    public_token = sandbox_public_token(flow.settings)
    body = {"session": start["session"], "public_token": public_token}
    assert flow.http.post(flow.url + "/api/set_access_token", json=body).status_code == 200
    replay = flow.http.post(flow.url + "/api/set_access_token", json=body)
    assert (replay.status_code, replay.json()["error"]) == (409, "session_used")
    other = flow.http.get(
        flow.url + "/?" + authorize_query(flow.settings), headers={"Accept": "application/json"}
    ).json()
    reused = flow.http.post(
        flow.url + "/api/set_access_token",
        json={"session": other["session"], "public_token": public_token},
    )
    assert reused.status_code == 400
    assert reused.json()["plaid_error_code"] == "INVALID_PUBLIC_TOKEN"
    assert "start the authorization again" in reused.json()["fix"]
    assert public_token not in reused.text


def test_expired_session_is_explained(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes.authorize, "SESSION_TTL", -1.0)
    start = flow.http.get(
        flow.url + "/?" + authorize_query(flow.settings), headers={"Accept": "application/json"}
    ).json()
    response = flow.http.post(
        flow.url + "/api/set_access_token",
        json={"session": start["session"], "public_token": "public-sandbox-x"},
    )
    assert (response.status_code, response.json()["error"]) == (400, "session_expired")
    assert "expired" in response.json()["message"]


def test_plaid_failure_during_exchange_is_readable_and_retryable(flow: Flow) -> None:
    start = flow.http.get(
        flow.url + "/?" + authorize_query(flow.settings), headers={"Accept": "application/json"}
    ).json()
    public_token = sandbox_public_token(flow.settings)
    faults.inject(flow.emulator, "/item/public_token/exchange", error_code="INTERNAL_SERVER_ERROR")
    body = {"session": start["session"], "public_token": public_token}
    failed = flow.http.post(flow.url + "/api/set_access_token", json=body)
    assert failed.status_code == 502
    error = failed.json()
    assert error["error"] == "plaid_error"
    assert error["plaid_error_code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] and error["fix"] and error["step"]
    # The same public token is never sent to Plaid again after an ambiguous failure (issue 8):
    # the user opens Link again and the page sends a fresh one.
    again = flow.http.post(flow.url + "/api/set_access_token", json=body)
    assert again.status_code == 409, again.text
    body["public_token"] = sandbox_public_token(flow.settings)
    retried = flow.http.post(flow.url + "/api/set_access_token", json=body)
    assert retried.status_code == 200, retried.text


def test_wrong_plaid_keys_show_which_step_to_check(home: Path, emulator_url: str) -> None:
    settings = settings_module.load().with_values(
        plaid_api_url=emulator_url,
        plaid_client_id="0123456789abcdef01234567",
        plaid_secret="0123456789abcdef0123456789abcd",
        bridge_allow_loopback_callback=1,  # a live bridge: the test plays Kore on loopback
    )
    with running_bridge(settings) as url:
        page = httpx.get(url + "/?" + authorize_query(settings))
        session = re.search(r'data-session="([^"]+)"', page.text).group(1)
        # the page asks for its Link token when it opens Link, and shows this answer
        asked = httpx.post(url + "/api/link_token", json={"session": session})
        as_json = httpx.get(
            url + "/?" + authorize_query(settings), headers={"Accept": "application/json"}
        )
    assert page.status_code == 200
    assert asked.status_code == 502
    assert asked.json()["step"] == "4.iii-iv" and "client id / secret" in asked.json()["message"]
    assert settings.plaid_secret not in asked.text
    assert as_json.json()["plaid_error_code"] == "INVALID_API_KEYS"


def test_unreachable_plaid_is_a_502_not_a_500(home: Path) -> None:
    settings = settings_module.load().with_values(
        plaid_api_url=f"http://127.0.0.1:{services.free_port()}"
    )
    with running_bridge(settings) as url:
        response = httpx.get(
            url + "/?" + authorize_query(settings), headers={"Accept": "application/json"}
        )
    assert response.status_code == 502
    assert "could not reach Plaid" in response.json()["message"]


def test_link_redirect_uri_is_sent_to_plaid(home: Path, emulator_url: str) -> None:
    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    registered = settings.with_values(link_redirect_uri="http://127.0.0.1:9/oauth-return")
    unregistered = settings.with_values(link_redirect_uri="https://bank-return.example/x")
    with running_bridge(registered) as url:
        ok = httpx.get(
            url + "/?" + authorize_query(settings), headers={"Accept": "application/json"}
        )
        page = httpx.get(url + "/oauth-return?oauth_state_id=abc")
    assert ok.status_code == 200
    assert page.status_code == 200 and 'data-mode="oauth-return"' in page.text
    with running_bridge(unregistered) as url:
        refused = httpx.get(
            url + "/?" + authorize_query(settings), headers={"Accept": "application/json"}
        )
    assert refused.json()["plaid_error_code"] == "INVALID_FIELD"
    assert refused.json()["step"] == "4.v-vi"
    assert "Allowed redirect URIs" in refused.json()["fix"]


def test_100_end_users_at_once_each_get_their_own_item(flow: Flow) -> None:
    def one_user(n: int) -> tuple[str, str]:
        callback = authorize_and_link(flow.http, flow.url, flow.settings, state=f"user-{n}")
        assert callback["state"] == f"user-{n}"
        token = exchange(flow.http, flow.url, flow.settings, callback["code"])
        assert token.status_code == 200, token.text
        return token.json()["access_token"], token.json()["refresh_token"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one_user, range(100)))
    assert len({access for access, _ in results}) == 100
    assert len({refresh_token for _, refresh_token in results}) == 100
    assert len(list_authorizations(flow.settings)) == 100
    assert accounts(flow.settings, results[57][0])


def test_concurrent_replays_honour_a_code_once(flow: Flow) -> None:
    code = authorize_and_link(flow.http, flow.url, flow.settings)["code"]
    barrier = threading.Barrier(8)

    def attempt(_: int) -> int:
        with httpx.Client(timeout=20, verify=TLS) as http:
            barrier.wait()
            return exchange(http, flow.url, flow.settings, code).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses.count(200) == 1
    assert statuses.count(400) == 7
    [row] = list_authorizations(flow.settings)
    assert row["status"] == "revoked"


def test_no_secret_code_or_token_in_logs_or_output(
    flow: Flow, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callback = authorize_and_link(flow.http, flow.url, flow.settings)
    body = exchange(flow.http, flow.url, flow.settings, callback["code"]).json()
    refresh(flow.http, flow.url, flow.settings, body["refresh_token"])
    exchange(flow.http, flow.url, flow.settings, callback["code"])  # a replay, logged or not
    out, err = capfd.readouterr()
    seen = caplog.text + out + err
    for secret in (callback["code"], body["access_token"], body["refresh_token"]):
        assert secret not in seen
    assert flow.settings.secret not in seen


def test_items_kore_never_came_for_are_removed_at_plaid(
    home: Path, emulator_url: str, store_backend: str
) -> None:
    from kore_plaid_nb.bridge import create_app
    from kore_plaid_nb.bridge.oauth import CODE_TTL
    from kore_plaid_nb.bridge.store import open_store
    from kore_plaid_nb.serving import serve_in_thread

    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    clock = FakeClock()
    app = create_app(settings, store=open_store(settings.bridge_store, clock=clock))
    with serve_in_thread(app, what="bridge") as url, httpx.Client(timeout=20) as http:
        kept = exchange(http, url, settings, authorize_and_link(http, url, settings)["code"])
        authorize_and_link(http, url, settings)  # the user authorized; Kore never redeemed
        forgotten = stored_access_tokens(settings)[-1]
        assert accounts(settings, forgotten)  # alive at Plaid until the sweep
        app.state.sweep()  # nothing has expired yet: nothing goes
        assert accounts(settings, forgotten)
        clock.advance(CODE_TTL + 1)  # the code Kore never redeemed expires
        app.state.sweep()
    with pytest.raises(plaid.ApiException) as gone:
        accounts(settings, forgotten)
    assert "INVALID_ACCESS_TOKEN" in gone.value.body or "ITEM_NOT_FOUND" in gone.value.body
    assert accounts(settings, kept.json()["access_token"])  # Kore's Item stays
    statuses = [row["status"] for row in list_authorizations(settings)]
    assert statuses == ["Item removed", "active"]
