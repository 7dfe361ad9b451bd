"""The bridge's metrics are recorded where things happen: what an operator reads on /metrics
after authorizations, Plaid failures, replayed codes, webhooks, the rate limit, the Link-exit
beacon and a store that cannot answer. The counters are the process's: each test reads the
change it made (:class:`Delta`), never an absolute value."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest
from bridge_support import (
    TOKEN_PATH,
    WEBHOOK_PATH,
    Bridge,
    OfflineLink,
    authorize_query,
    query_of,
    sandbox_public_token,
)
from offline_bridge import JSON, app, client, new_session, settings
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from webhook_signing import new_key, sign

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.metrics import WORKER_ENV, catalog
from kore_plaid_nb.bridge.metrics.exposition import scrape_registry
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.bridge.store import SessionClaim, StoreUnavailable
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.emulator.webhooks import SANDBOX_KID
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

P = catalog.PREFIX
LINK_EXIT = "/api/link_exit"
STARTED = (f"{P}_authorizations_started_total", {})
COMPLETED = (f"{P}_authorizations_completed_total", {})
AUTHORIZATION_SECONDS = (f"{P}_authorization_seconds_count", {})
STORE_SECONDS = (f"{P}_store_transaction_seconds_count", {})
STORE_UNAVAILABLE = (f"{P}_store_unavailable_total", {})
RATE_LIMITED = (f"{P}_sessions_rate_limited_total", {})

__all__ = ["app", "client", "settings"]  # fixtures used by name


def failed(reason: str) -> tuple[str, dict[str, str]]:
    return f"{P}_authorizations_failed_total", {"reason": reason}


def token(grant_type: str, outcome: str) -> tuple[str, dict[str, str]]:
    return f"{P}_token_requests_total", {"grant_type": grant_type, "outcome": outcome}


def token_seconds(grant_type: str) -> tuple[str, dict[str, str]]:
    return f"{P}_token_request_seconds_count", {"grant_type": grant_type}


def plaid(endpoint: str, outcome: str) -> tuple[str, dict[str, str]]:
    return f"{P}_plaid_requests_total", {"endpoint": endpoint, "outcome": outcome}


def plaid_seconds(endpoint: str) -> tuple[str, dict[str, str]]:
    return f"{P}_plaid_request_seconds_count", {"endpoint": endpoint}


def webhooks(kind: str, code: str, verdict: str, reason: str = "") -> tuple[str, dict[str, str]]:
    labels = {"webhook_type": kind, "webhook_code": code, "verdict": verdict, "reason": reason}
    return f"{P}_webhooks_total", labels


def value(sample: tuple[str, dict[str, str]]) -> float:
    name, labels = sample
    return catalog.REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """What the samples read now, to compare with what they read later."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [value(sample) for sample in samples]

    def __call__(self) -> list[float]:
        """How much each sample grew since this delta was made."""
        return [value(s) - b for s, b in zip(self.samples, self.before, strict=True)]


def assert_no_secret_in_the_metrics(secrets_seen: list[str]) -> None:
    exposition = generate_latest(catalog.REGISTRY).decode()
    for secret in secrets_seen:
        assert secret and secret not in exposition


# -- with Plaid (the emulator): the bridge served in a thread


@pytest.fixture(autouse=True)
def no_fault_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "bridge" in request.fixturenames:
        faults.clear(request.getfixturevalue("emulator_url"))


def test_a_full_authorization_is_counted_once_at_each_step(bridge: Bridge) -> None:
    s, http = bridge.settings, bridge.http
    delta = Delta(
        STARTED,
        COMPLETED,
        AUTHORIZATION_SECONDS,
        token("authorization_code", "ok"),
        token("refresh_token", "ok"),
        token_seconds("authorization_code"),
        token_seconds("refresh_token"),
        plaid("/link/token/create", "ok"),
        plaid("/item/public_token/exchange", "ok"),
        plaid_seconds("/link/token/create"),
    )
    store_before = value(STORE_SECONDS)
    start = http.get(bridge.url + "/?" + authorize_query(s), headers=JSON).json()
    public_token = sandbox_public_token(s)
    done = bridge.post(
        "/api/set_access_token", json={"session": start["session"], "public_token": public_token}
    )
    assert done.status_code == 200, done.text
    code = query_of(done.json()["redirect_to"])["code"]
    grant = bridge.exchange(code).json()
    assert bridge.refreshed(grant["refresh_token"]) == grant["access_token"]
    assert delta() == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert value(STORE_SECONDS) - store_before >= 5  # session, claim, code, grant, refresh
    seen = [start["session"], start["link_token"], public_token, code, *grant.values()]
    assert_no_secret_in_the_metrics([str(secret) for secret in seen if secret is not True])


def test_a_plaid_error_is_counted_by_its_code_and_logged_with_plaids_request_id(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    s = bridge.settings
    start = bridge.http.get(bridge.url + "/?" + authorize_query(s), headers=JSON).json()
    public_token = sandbox_public_token(s)
    endpoint = "/item/public_token/exchange"
    faults.inject(bridge.emulator_url, endpoint, error_code="INTERNAL_SERVER_ERROR")
    delta = Delta(failed("plaid_error"), plaid(endpoint, "INTERNAL_SERVER_ERROR"), COMPLETED)
    with caplog.at_level(logging.INFO, logger="kore_plaid_nb.bridge"):
        answer = bridge.post(
            "/api/set_access_token",
            json={"session": start["session"], "public_token": public_token},
        )
    assert answer.status_code == 502, answer.text
    assert delta() == [1, 1, 0]
    [line] = [r for r in caplog.records if getattr(r, "plaid_endpoint", None) == endpoint]
    assert line.event == "plaid_call" and line.outcome == "INTERNAL_SERVER_ERROR"
    assert line.duration_ms >= 0 and line.levelno == logging.INFO
    assert line.getMessage().startswith(f"plaid {endpoint} INTERNAL_SERVER_ERROR ")
    assert public_token not in line.getMessage() and start["session"] not in line.getMessage()
    assert_no_secret_in_the_metrics([start["session"], public_token])


def test_a_replayed_code_is_counted_once_and_answered_invalid_grant(bridge: Bridge) -> None:
    code = bridge.link()["code"]
    assert bridge.exchange(code).status_code == 200
    delta = Delta(
        failed("code_replayed"),
        token("authorization_code", "invalid_grant"),
        plaid("/item/remove", "ok"),
    )
    for _ in range(2):  # the grant is revoked by the first replay: counted once
        replay = bridge.exchange(code)
        assert replay.json()["error"] == "invalid_grant"
    assert delta() == [1, 2, 1]
    assert_no_secret_in_the_metrics([code])


@pytest.mark.bridge(webhook_keys=True)
def test_webhooks_are_counted_by_type_code_and_verdict(bridge: Bridge) -> None:
    body = json.dumps(
        {"webhook_type": "ITEM", "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED", "item_id": "i1"}
    ).encode()
    odd = json.dumps({"webhook_type": "NEW_KIND", "webhook_code": "Mixed_Case"}).encode()
    assert bridge.private is not None
    delta = Delta(
        webhooks("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED", "verified"),
        webhooks("other", "other", "verified"),  # outside the bounded sets
        webhooks("unknown", "unknown", "verified"),  # signed, but not a webhook
        webhooks("unknown", "unknown", "refused", "missing_signature"),
        webhooks("unknown", "unknown", "refused", "body_mismatch"),
    )
    assert bridge.send_webhook(body).status_code == 200
    assert bridge.send_webhook(odd).status_code == 200
    assert bridge.send_webhook(b'{"item_id": "i1"}').status_code == 400
    assert bridge.post_webhook(body, None).status_code == 401
    assert bridge.post_webhook(body + b" ", sign(body, bridge.private)).status_code == 401
    assert delta() == [1, 1, 1, 1, 1]


def open_repair_links(bridge: Bridge) -> float | None:
    """What a new scrape of the bridge shows as open repair links (read from its store)."""
    registry = scrape_registry(bridge.settings, bridge.app.state.store)
    return registry.get_sample_value(catalog.REPAIR_LINKS_NAME, {"state": "open"})


@pytest.mark.bridge(item_webhooks=True)
def test_open_repair_links_come_from_the_store_and_used_ones_are_counted(bridge: Bridge) -> None:
    used = (f"{P}_repair_links_used_total", {})
    access_token = bridge.authorize().access_token
    assert open_repair_links(bridge) == 0
    delta = Delta(used)
    token = bridge.break_login(access_token)  # `kore-plaid items` mints it, in the store
    assert open_repair_links(bridge) == 1 and delta() == [0]
    link_token = bridge.post(f"/repair/{token}/link_token", json={}).json()["link_token"]
    bridge.link_update_mode(link_token)
    done = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert done.status_code == 200, done.text
    assert bridge.post(f"/repair/{token}/done", json={"link_token": link_token}).status_code == 410
    assert delta() == [1] and open_repair_links(bridge) == 0
    assert_no_secret_in_the_metrics([token, link_token, access_token])


def test_a_users_failures_count_once_per_session_and_reason_whatever_the_retries(
    bridge: Bridge,
) -> None:
    s = bridge.settings
    assert bridge.emulator_url is not None
    start = bridge.http.get(bridge.url + "/?" + authorize_query(s), headers=JSON).json()
    session = start["session"]
    delta = Delta(
        failed("plaid_error"),
        failed("link_error"),
        failed("user_left"),
        COMPLETED,
        plaid("/link/token/create", "INVALID_FIELD"),
    )
    faults.inject(bridge.emulator_url, "/link/token/create", error_code="INVALID_FIELD", count=2)
    for _ in range(2):  # the page asks for a Link token again after Plaid's error
        answer = bridge.post("/api/link_token", json={"session": session})
        assert answer.json()["error"] == "plaid_error", answer.text
    for error in (True, True, False):  # Link closed on an error twice, then by the user
        assert bridge.post(LINK_EXIT, json={"session": session, "error": error}).status_code == 204
    public_token = sandbox_public_token(s)
    done = bridge.post(
        "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    assert done.status_code == 200, done.text  # the user retried and completed
    assert delta() == [1, 1, 1, 1, 2]


def test_plaids_request_id_is_logged_for_update_mode_and_the_webhook_key(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    access_token = bridge.authorize().access_token
    link = PlaidLink(bridge.settings)
    with caplog.at_level(logging.INFO, logger="kore_plaid_nb.bridge"):
        assert link.create_update_link_token(access_token, "u1").startswith("link-")
        assert link.webhook_verification_key(SANDBOX_KID) is not None
    for endpoint in ("/link/token/create", "/webhook_verification_key/get"):
        [line] = [r for r in caplog.records if getattr(r, "plaid_endpoint", None) == endpoint]
        assert line.outcome == "ok" and line.plaid_request_id, endpoint
        assert f"request_id={line.plaid_request_id}" in line.getMessage()


# -- without Plaid: the app in-process


def test_sessions_refused_by_the_rate_limit_are_counted(settings: Settings) -> None:
    app = create_app(settings.with_values(bridge_sessions_per_minute=1), link=OfflineLink(settings))
    try:
        client = TestClient(app)
        delta = Delta(RATE_LIMITED, STARTED)
        assert client.get("/?" + authorize_query(settings), headers=JSON).status_code == 200
        assert client.get("/?" + authorize_query(settings), headers=JSON).status_code == 429
        assert client.get("/?" + authorize_query(settings)).status_code == 429  # the page
        assert delta() == [2, 1]
    finally:
        app.state.store.close()


def test_the_link_exit_beacon_counts_a_live_session_once(
    client: TestClient, app: Starlette, settings: Settings
) -> None:
    left, broken = new_session(client, settings), new_session(client, settings)
    delta = Delta(failed("user_left"), failed("link_error"))
    for _ in range(2):
        answer = client.post(LINK_EXIT, json={"session": left, "error": False})
        assert (answer.status_code, answer.content) == (204, b"")
    assert client.post(LINK_EXIT, json={"session": broken, "error": True}).status_code == 204
    assert delta() == [1, 1]
    # Unknown, finished (claimed) or empty sessions: the same 204, nothing counted.
    finished = secrets.token_urlsafe(32)
    store = app.state.store
    store.create_session(finished, settings.client_id, settings.simulator_callback, "q", 60)
    assert store.claim_session(finished).problem is None
    for session in (secrets.token_urlsafe(32), finished, ""):
        assert client.post(LINK_EXIT, json={"session": session, "error": False}).status_code == 204
    assert delta() == [1, 1]
    assert_no_secret_in_the_metrics([left, broken, finished])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"session": "s"}, 400),
        ({"error": True}, 400),
        ({"session": 12, "error": True}, 400),
        ({"session": "s", "error": "yes"}, 400),
        ({"session": ["s"], "error": True}, 400),
        ([1, 2], 400),
    ],
)
def test_a_malformed_link_exit_is_a_400_with_a_message(
    client: TestClient, body: object, status: int
) -> None:
    answer = client.post(LINK_EXIT, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["message"] and answer.json()["fix"]


def test_a_link_exit_that_is_not_json_is_a_415(client: TestClient) -> None:
    answer = client.post(LINK_EXIT, content=b"session=s&error=true")
    assert answer.status_code == 415


def test_a_webhook_whose_key_could_not_be_fetched_is_counted_as_refused(home: object) -> None:
    settings = settings_module.load().with_values(plaid_api_url="http://127.0.0.1:9")
    private, _ = new_key("kid-1")
    body = json.dumps({"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "i1"}).encode()
    app = create_app(settings)
    delta = Delta(webhooks("unknown", "unknown", "refused", "key_unavailable"))
    try:
        answer = TestClient(app).post(
            WEBHOOK_PATH, content=body, headers={"Plaid-Verification": sign(body, private)}
        )
    finally:
        app.state.store.close()
    assert (answer.status_code, answer.headers["retry-after"]) == (502, "60"), answer.text
    assert delta() == [1]


def test_an_unexpected_token_error_is_counted_as_a_server_error(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.oauth, "token_response", broken)
    delta = Delta(token("authorization_code", "server_error"), token_seconds("authorization_code"))
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.post(TOKEN_PATH, data={"grant_type": "authorization_code", "code": "c"})
    assert answer.status_code == 500
    assert delta() == [1, 1]


def test_a_store_outage_before_any_session_counts_each_request_and_after_once_per_session(
    client: TestClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = new_session(client, settings)

    def down(*args: object, **kwargs: object) -> SessionClaim:
        raise StoreUnavailable("the database restarts")

    monkeypatch.setattr(app.state.store, "create_session", down)
    monkeypatch.setattr(app.state.store, "claim_session", down)
    delta = Delta(failed("store_unavailable"), STORE_UNAVAILABLE)
    for _ in range(2):  # GET / before any session: each one a user met
        assert client.get("/?" + authorize_query(settings), headers=JSON).status_code == 503
    assert delta() == [2, 2]
    for _ in range(2):  # the same session, retried
        body = {"session": session, "public_token": "p"}
        assert client.post("/api/set_access_token", json=body).status_code == 503
    assert delta() == [3, 4]


SHOWN_AT_START = """
from prometheus_client import generate_latest
from kore_plaid_nb.bridge import routes  # noqa: F401  (what a bridge process imports)
from kore_plaid_nb.bridge.metrics import catalog
print(generate_latest(catalog.REGISTRY).decode())
"""


def test_the_series_rules_and_dashboards_select_are_shown_at_zero_from_the_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != WORKER_ENV}
    done = subprocess.run([sys.executable, "-c", SHOWN_AT_START], env=env, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    shown = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(done.stdout)
        for sample in family.samples
    }

    def at_zero(name: str, **labels: str) -> bool:
        return shown.get((name, tuple(sorted(labels.items())))) == 0.0

    for reason in catalog.FAILURE_REASONS:
        assert at_zero(f"{P}_authorizations_failed_total", reason=reason), reason
    for grant_type in catalog.GRANT_TYPES:
        assert at_zero(f"{P}_token_request_seconds_count", grant_type=grant_type)
        for outcome in ("ok", "invalid_grant", "invalid_client", "invalid_request",
                        "temporarily_unavailable", "server_error"):  # fmt: skip
            assert at_zero(f"{P}_token_requests_total", grant_type=grant_type, outcome=outcome)
    for endpoint in catalog.PLAID_ENDPOINTS:
        assert at_zero(f"{P}_plaid_requests_total", endpoint=endpoint, outcome="ok"), endpoint
        assert at_zero(f"{P}_plaid_request_seconds_count", endpoint=endpoint), endpoint
    for reason in catalog.WEBHOOK_REFUSALS:
        labels = {"webhook_type": "unknown", "webhook_code": "unknown", "verdict": "refused"}
        assert at_zero(f"{P}_webhooks_total", **labels, reason=reason), reason
    assert "key_unavailable" in catalog.WEBHOOK_REFUSALS


def test_a_store_that_cannot_answer_is_counted(
    client: TestClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = new_session(client, settings)

    def down(*args: object) -> SessionClaim:
        raise StoreUnavailable("the database restarts")

    monkeypatch.setattr(app.state.store, "claim_session", down)
    monkeypatch.setattr(app.state.oauth, "token_response", down)
    delta = Delta(
        STORE_UNAVAILABLE,
        failed("store_unavailable"),
        token("authorization_code", "temporarily_unavailable"),
    )
    answer = client.post("/api/set_access_token", json={"session": session, "public_token": "p"})
    assert answer.status_code == 503
    answer = client.post(TOKEN_PATH, data={"grant_type": "authorization_code", "code": "c"})
    assert answer.status_code == 503
    assert delta() == [2, 1, 1]
