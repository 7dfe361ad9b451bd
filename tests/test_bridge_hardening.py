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
from urllib.parse import urlencode

import httpx
import pytest
from bridge_support import TOKEN_PATH, WEBHOOK_PATH, OfflineLink, authorize_query
from offline_bridge import JSON, app, client, settings
from webhook_signing import KeyRing, new_key, sign

from kore_plaid_nb import bridge as bridge_package
from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import authorization_checks as checks
from kore_plaid_nb.bridge import webhook_verification as wv
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.bridge.routes import token as token_route
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

LIVE_KEYS = {"PLAID_CLIENT_ID": "live0client0id000000000a", "PLAID_SECRET": "live0secret" * 3}

__all__ = ["app", "client", "settings"]  # fixtures used by name


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


def started_bridge_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, str], str]:
    """What :func:`ensure_bridge` would start the runbook's bridge with (no process is
    started), and what it printed."""
    started: dict[str, str] = {}

    def ensure_running(home: object, name: str, command: object, port: int, env: dict) -> object:
        started.update(env)
        return services.ServiceRecord(name, 1, "127.0.0.1", port, "http://x", "log", time.time())

    monkeypatch.setattr(services, "ensure_running", ensure_running)
    capsys.readouterr()
    bridge_package.ensure_bridge(settings_module.load())
    return started, capsys.readouterr().out


def test_the_runbooks_bridge_honours_an_explicit_loopback_setting(
    home: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 23 fix round (3.16): an explicit BRIDGE_ALLOW_LOOPBACK_CALLBACK=0 (environment
    or .env) reaches the runbook's own bridge; unset, it accepts the loopback callback
    (`kore-plaid verify` needs it) and a live bridge says so once, on start."""
    env, out = started_bridge_env(monkeypatch, capsys)  # embedded, unset: accepted, moot
    assert env["BRIDGE_ALLOW_LOOPBACK_CALLBACK"] == "1" and out == ""
    for name, value in LIVE_KEYS.items():
        monkeypatch.setenv(name, value)
    env, out = started_bridge_env(monkeypatch, capsys)
    assert env["BRIDGE_ALLOW_LOOPBACK_CALLBACK"] == "1"
    assert settings_module.load().simulator_callback in out
    assert "BRIDGE_ALLOW_LOOPBACK_CALLBACK=0" in out
    env_file = settings_module.load().env_file
    env_file.write_text("BRIDGE_ALLOW_LOOPBACK_CALLBACK=0\n")
    env_file.chmod(0o600)
    for explicit in ("env file", "environment"):
        if explicit == "environment":
            env_file.unlink()
            monkeypatch.setenv("BRIDGE_ALLOW_LOOPBACK_CALLBACK", "0")
        env, out = started_bridge_env(monkeypatch, capsys)
        assert env["BRIDGE_ALLOW_LOOPBACK_CALLBACK"] == "0", explicit
        assert out == "", explicit
        with monkeypatch.context() as bridge_process:  # the bridge reads what it was given
            for name, value in env.items():
                bridge_process.setenv(name, value)
            assert_invalid_request(loopback_answer(settings_module.load()), "callback")


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


def test_a_refused_inline_refresh_keeps_its_audit_record_behind_a_brief_lock(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 fix round: the refused-refresh record of an inline (event loop, no-wait)
    SQLite refresh is written outside that scope, so a lock another program holds for a
    moment delays it instead of losing it."""
    store = app.state.store
    write = store.record_audit

    def write_behind_a_brief_lock(record: object) -> None:
        holder = sqlite3.connect(settings.bridge_db_path, isolation_level=None,
                                 check_same_thread=False)  # fmt: skip
        holder.execute("BEGIN IMMEDIATE")  # another program writes for 0.3 s
        release = threading.Timer(0.3, lambda: (holder.execute("ROLLBACK"), holder.close()))
        release.start()
        try:
            write(record)
        finally:
            release.join()

    monkeypatch.setattr(store, "record_audit", write_behind_a_brief_lock)
    body = {"grant_type": "refresh_token", "refresh_token": "r" * 43}
    answer = TestClient(app).post(TOKEN_PATH, data=body, auth=(settings.client_id, settings.secret))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text
    events = [(r.event, r.detail) for r in store.audit_since()]
    assert events == [("refresh_refused", "unknown refresh token")]


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


def test_ipv6_senders_share_one_lookup_budget_per_64() -> None:
    """Issue 23 fix round: one host holds a whole IPv6 /64, so a new address per forgery
    must not buy a new budget; IPv4 addresses (and IPv4-mapped ones) count one by one."""
    ring = KeyRing({})
    verifier = wv.WebhookVerifier(ring)

    def lookup(kid: str, address: str) -> None:
        with contextlib.suppress(wv.WebhookRejected):
            verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, kid), address)

    for n in range(wv.KEY_LOOKUPS_PER_MINUTE):
        lookup(f"v6-{n}", f"2001:db8:0:1::{n + 1:x}")
    with pytest.raises(wv.KeyLookupsExhausted):  # another address of the same /64
        verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, "v6-x"), "2001:db8:0:1:ffff::9")
    lookup("v6-other", "2001:db8:0:2::1")  # the next /64: its own budget
    assert ring.asked[-1] == "v6-other"
    for n in range(wv.KEY_LOOKUPS_PER_MINUTE):
        lookup(f"v4-{n}", "::ffff:192.0.2.1")  # IPv4-mapped: the IPv4 address's budget
    with pytest.raises(wv.KeyLookupsExhausted):
        verifier.verify(WEBHOOK_BODY, forged_header(WEBHOOK_BODY, "v4-x"), "192.0.2.1")
    lookup("v4-next", "192.0.2.2")  # the next IPv4 address: its own
    assert ring.asked[-1] == "v4-next"
    assert wv.budget_key("not an address") == "not an address"
