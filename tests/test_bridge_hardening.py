"""Issue 23's findings on the bridge's requests: the Authorization URL's query and ``state``
capped (3.13), a ``state`` that is not UTF-8 refused (3.14), two ``Authorization`` headers
refused through the real app (3.15), the simulator's loopback callback only in the embedded
mode or when configured (3.16), a refresh behind a held SQLite write lock answered 503 while
``/healthz`` keeps answering (3.10), webhook key lookups budgeted per client address and
Plaid's verified keys never evicted (3.2)."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from bridge_support import TOKEN_PATH, WEBHOOK_PATH, authorize_query
from webhook_signing import KeyRing, new_key, sign

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import authorization_checks as checks
from kore_plaid_nb.bridge import webhook_verification as wv
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.bridge.routes import token as token_route
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

JSON = {"Accept": "application/json"}
LIVE_KEYS = {"PLAID_CLIENT_ID": "live0client0id000000000a", "PLAID_SECRET": "live0secret" * 3}


class OfflineLink(PlaidLink):
    """Link tokens without asking Plaid (these tests never reach Plaid)."""

    def create_link_token(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
    ) -> str:
        return "link-sandbox-offline"


@pytest.fixture
def settings(home: object) -> Settings:
    return settings_module.load()


@pytest.fixture
def app(settings: Settings) -> Iterator[Starlette]:
    app = create_app(settings, link=OfflineLink(settings))
    yield app
    app.state.store.close()


@pytest.fixture
def client(app: Starlette) -> TestClient:
    return TestClient(app, raise_server_exceptions=True)


def sessions(app: Starlette) -> int:
    with app.state.store.backend.read() as tx:
        return int(tx.execute("SELECT COUNT(*) AS n FROM sessions").fetchone()["n"])


def assert_invalid_request(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert body["fix"]
    for word in words:
        assert word in body["message"], body


# --------------------------------------------------------------------------- 3.13, 3.14


def test_an_oversized_query_or_state_is_400_and_opens_no_session(
    client: TestClient, app: Starlette, settings: Settings
) -> None:
    padded = authorize_query(settings, padding="x" * (60 * 1024))
    assert_invalid_request(client.get("/?" + padded, headers=JSON), str(checks.MAX_QUERY_LENGTH))
    long_state = authorize_query(settings, state="s" * (checks.MAX_STATE_LENGTH + 1))
    assert_invalid_request(
        client.get("/?" + long_state, headers=JSON), str(checks.MAX_STATE_LENGTH)
    )
    page = client.get("/?" + long_state)  # the browser gets the readable page
    assert page.status_code == 400 and "text/html" in page.headers["content-type"]
    assert sessions(app) == 0
    # at the limits, a request is fine
    longest_state = authorize_query(settings, state="s" * checks.MAX_STATE_LENGTH)
    assert client.get("/?" + longest_state, headers=JSON).status_code == 200
    assert sessions(app) == 1


def test_a_state_that_is_not_utf8_is_refused_not_altered(
    client: TestClient, app: Starlette, settings: Settings
) -> None:
    query = authorize_query(settings, state="") + "%FF%FEab"  # state=%FF%FEab
    answer = client.get("/?" + query, headers=JSON)
    assert_invalid_request(answer, "UTF-8")
    assert "location" not in answer.headers  # nothing goes back with an altered state
    assert sessions(app) == 0


# --------------------------------------------------------------------------- 3.15


def test_two_authorization_headers_are_400_through_the_real_app(
    client: TestClient, settings: Settings
) -> None:
    basic = "Basic " + base64.b64encode(f"{settings.client_id}:{settings.secret}".encode()).decode()
    body = urlencode({"grant_type": "refresh_token", "refresh_token": "r" * 43})
    for second in (basic, "Basic d3Jvbmc6d3Jvbmc=", ""):
        headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", basic),
            ("Authorization", second),
        ]
        answer = client.post(TOKEN_PATH, content=body, headers=httpx.Headers(headers))
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"
        assert "one Authorization header" in answer.json()["error_description"]
        assert settings.secret not in answer.text


# --------------------------------------------------------------------------- 3.16


def loopback_answer(settings: Settings) -> httpx.Response:
    app = create_app(settings, link=OfflineLink(settings))
    try:
        query = authorize_query(settings)  # redirect_uri: the simulator's loopback callback
        return TestClient(app).get("/?" + query, headers=JSON)
    finally:
        app.state.store.close()


def test_a_live_bridge_refuses_the_loopback_callback_unless_configured(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings_module.load().embedded
    assert loopback_answer(settings_module.load()).status_code == 200  # embedded: accepted
    for name, value in LIVE_KEYS.items():
        monkeypatch.setenv(name, value)
    live = settings_module.load()
    assert live.mode == "live"
    assert_invalid_request(loopback_answer(live), "callback")
    kore = authorize_query(live, redirect_uri=live.plaid_redirect_uri)
    app = create_app(live, link=OfflineLink(live))
    try:
        assert TestClient(app).get("/?" + kore, headers=JSON).status_code == 200  # Kore's: fine
    finally:
        app.state.store.close()
    monkeypatch.setenv("BRIDGE_ALLOW_LOOPBACK_CALLBACK", "1")
    assert loopback_answer(settings_module.load()).status_code == 200


# --------------------------------------------------------------------------- 3.10


def test_a_refresh_behind_a_held_sqlite_lock_is_503_and_healthz_keeps_answering(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_route, "REFRESH_WAIT_SECONDS", 0.5)  # 3 s: a cheaper test
    body = {"grant_type": "refresh_token", "refresh_token": "r" * 43}
    auth = (settings.client_id, settings.secret)
    with serve_in_thread(app, what="bridge") as url, httpx.Client(base_url=url) as http:
        assert http.post(TOKEN_PATH, data=body, auth=auth).status_code == 400  # unknown token
        holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        answers: dict[str, httpx.Response] = {}
        took: dict[str, float] = {}

        def refresh() -> None:
            start = time.monotonic()
            answers["refresh"] = http.post(TOKEN_PATH, data=body, auth=auth, timeout=60)
            took["refresh"] = time.monotonic() - start

        worker = threading.Thread(target=refresh)
        try:
            worker.start()
            time.sleep(0.2)  # the refresh is waiting for the lock
            start = time.monotonic()
            assert http.get("/healthz", timeout=60).status_code == 200
            took["healthz"] = time.monotonic() - start
            worker.join(timeout=60)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert took["healthz"] < 1.0, took
    assert took["refresh"] < 3.0, took
    answer = answers["refresh"]
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"]
    assert answer.json()["error"] == "temporarily_unavailable"
    assert "Retry" in answer.json()["fix"]  # what to do


# --------------------------------------------------------------------------- 3.2


def forged_header(body: bytes, kid: str, iat: float | None = None) -> str:
    return sign(body, FORGER, kid=kid, iat=iat)


FORGER, _ = new_key("forger")
WEBHOOK_BODY = b'{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "x"}'


def test_one_senders_forged_kids_do_not_spend_plaids_lookups() -> None:
    private, jwk = new_key("plaid-new")
    ring = KeyRing({"plaid-new": jwk})
    verifier = wv.WebhookVerifier(ring)
    for n in range(wv.KEY_LOOKUPS_PER_MINUTE):
        with pytest.raises(wv.WebhookRejected):
            verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, f"f-{n}"), "203.0.113.7")
    with pytest.raises(wv.KeyLookupsExhausted):  # the forger's budget is spent...
        verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, "f-x"), "203.0.113.7")
    # ...not Plaid's: its webhook signed with a key the bridge never saw is checked now
    genuine = sign(WEBHOOK_BODY, private, kid="plaid-new")
    assert verifier.verify(WEBHOOK_BODY, genuine, "52.21.26.131")["request_body_sha256"]
    # and the overall budget still bounds the calls to Plaid from many addresses
    asked = len(ring.asked)
    for n in range(wv.KEY_LOOKUPS_OVERALL_PER_MINUTE + 5):
        with contextlib.suppress(wv.WebhookRejected, wv.KeyLookupsExhausted):
            verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, f"g-{n}"), f"10.0.{n}.1")
    assert len(ring.asked) - asked <= wv.KEY_LOOKUPS_OVERALL_PER_MINUTE


def test_a_long_flood_of_forged_kids_never_evicts_plaids_verified_key() -> None:
    private, jwk = new_key("real")
    ring = KeyRing({"real": jwk})
    now = [1_000_000.0]
    verifier = wv.WebhookVerifier(ring, clock=lambda: now[0], max_age=10**9)

    def genuine() -> dict:
        return verifier.verify(WEBHOOK_BODY, sign(WEBHOOK_BODY, private, kid="real", iat=now[0]))

    assert genuine()
    for minute in range(30):  # 30 minutes of forgeries, as fast as any budget allows
        now[0] += 61
        for n in range(wv.KEY_LOOKUPS_PER_MINUTE):
            header = forged_header(WEBHOOK_BODY, f"forged-{minute}-{n}", iat=now[0])
            with pytest.raises(wv.WebhookRejected):
                verifier.verify(WEBHOOK_BODY, header)
        assert genuine()
    assert ring.asked.count("real") == 1  # asked once, never pushed out by the 300 forgeries


def test_the_webhook_route_budgets_key_lookups_per_client_address(settings: Settings) -> None:
    ring = KeyRing({})
    app = create_app(settings, link=OfflineLink(settings), webhook_keys=ring)
    try:
        forger = TestClient(app, client=("203.0.113.7", 40000))
        other = TestClient(app, client=("198.51.100.9", 40000))

        def post(client: TestClient, kid: str) -> int:
            headers = {"Plaid-Verification": forged_header(WEBHOOK_BODY, kid)}
            return client.post(WEBHOOK_PATH, content=WEBHOOK_BODY, headers=headers).status_code

        statuses = [post(forger, f"f-{n}") for n in range(wv.KEY_LOOKUPS_PER_MINUTE + 1)]
        assert statuses == [401] * wv.KEY_LOOKUPS_PER_MINUTE + [503]
        assert post(other, "o-1") == 401  # checked with Plaid: another sender's budget
        assert ring.asked[-1] == "o-1"
    finally:
        app.state.store.close()
