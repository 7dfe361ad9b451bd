"""Plaid webhooks at the bridge (``POST /plaid/webhook``): verification as Plaid documents it
(ES256 JWT in ``Plaid-Verification``, key by kid, iat at most 5 minutes old, body SHA-256),
every forgery refused with 401 and no change, each Item's health from the webhooks and from
the bridge's own Plaid calls, ``kore-plaid items``, single-use repair links, and the
schema v4 migration. A real bridge on each store backend, against the Plaid emulator."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from pathlib import Path

import httpx
import pytest
from bridge_support import Bridge
from fake_clock import FakeClock
from store_inspect import change, one, rows, stored_access_tokens
from webhook_signing import KeyRing, new_key, sign

from kore_plaid_nb import cli, plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.item_health import ItemHealth
from kore_plaid_nb.bridge.items import list_items, mark_item_healthy, repair_link
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.store import ItemRecord, migrations, open_store
from kore_plaid_nb.bridge.store.purge import REPAIR_LINK_RETENTION_SECONDS
from kore_plaid_nb.bridge.store.records import public_ref
from kore_plaid_nb.runbook import steps
from kore_plaid_nb.serving import serve_in_thread

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql"),
    pytest.mark.bridge(webhook_keys=True),  # from the test's key ring (one key, ``kid-1``)
]

WEBHOOK = "/plaid/webhook"
HEALTH_COLUMNS = "SELECT health, health_detail, last_webhook, last_webhook_at FROM items"


def webhook_body(item_id: str, code: str, kind: str = "ITEM", **extra: object) -> bytes:
    payload = {"webhook_type": kind, "webhook_code": code, "item_id": item_id, **extra}
    payload["environment"] = "sandbox"
    return json.dumps(payload, indent=2).encode()


# --------------------------------------------------------------------------- verification


def test_a_signed_webhook_is_accepted_and_recorded(bridge: Bridge) -> None:
    item_id, _ = bridge.new_item()
    body = webhook_body(item_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED"})
    answer = bridge.send_webhook(body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "item_known": True}
    assert bridge.health(item_id) == "ITEM_LOGIN_REQUIRED"
    assert one(bridge.settings, "SELECT last_webhook FROM items") == "ITEM ERROR"
    # the key is fetched once and cached by kid
    assert bridge.send_webhook(webhook_body(item_id, "LOGIN_REPAIRED")).status_code == 200
    assert bridge.health(item_id) == "healthy"
    assert bridge.ring.asked == ["kid-1"]


def _forgeries(bridge: Bridge, body: bytes) -> dict[str, tuple[bytes, str | None, str]]:
    """case -> (body sent, Plaid-Verification sent, the reason the bridge must log)."""
    other_private, _ = new_key("kid-other")
    _, expired_jwk = new_key("kid-expired")
    expired_jwk["expired_at"] = int(time.time()) - 60
    bridge.ring.keys["kid-expired"] = expired_jwk
    genuine = sign(body, bridge.private)
    header, payload, _ = genuine.split(".")
    other_signature = sign(webhook_body("x", "LOGIN_REPAIRED"), bridge.private).split(".")[2]
    altered = body.replace(b"ITEM_LOGIN_REQUIRED", b"ITEM_LOGIN_REPAIRED")
    assert altered != body
    hs256_secret = bridge.ring.keys["kid-1"]["x"] * 2  # alg confusion: the public key as secret
    return {
        "bad signature": (body, f"{header}.{payload}.{other_signature}", "bad_signature"),
        "other key, same kid": (body, sign(body, other_private), "bad_signature"),
        "alg none": (body, sign(body, None, algorithm="none"), "wrong_algorithm"),
        "alg HS256": (body, sign(body, hs256_secret, algorithm="HS256"), "wrong_algorithm"),
        "iat 6 minutes old": (body, sign(body, bridge.private, iat=time.time() - 360), "too_old"),
        "iat in the future": (
            body,
            sign(body, bridge.private, iat=time.time() + 600),
            "not_yet_valid",
        ),
        "body altered after signing": (altered, genuine, "body_mismatch"),
        "body hash claimed for another body": (
            body,
            sign(body, bridge.private, body_sha256=hashlib.sha256(b"{}").hexdigest()),
            "body_mismatch",
        ),
        "missing header": (body, None, "missing_signature"),
        "empty header": (body, "", "missing_signature"),
        "not a JWT": (body, "not-a-jwt", "malformed_signature"),
        "unknown kid": (body, sign(body, other_private, kid="kid-other"), "unknown_key"),
        "expired key": (body, sign(body, bridge.private, kid="kid-expired"), "expired_key"),
    }


def test_every_forgery_gets_401_and_changes_nothing(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    item_id, access_token = bridge.new_item()
    before = rows(bridge.settings, HEALTH_COLUMNS)
    body = webhook_body(item_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED"})
    forgeries = _forgeries(bridge, body)
    logged = []
    for case, (sent, signature, reason) in forgeries.items():
        logged.append(caplog.text)
        caplog.clear()
        answer = bridge.post_webhook(sent, signature)
        assert answer.status_code == 401, (case, answer.text)
        error = answer.json()
        assert error["error"] == "invalid_webhook", case
        assert error["message"] and "Plaid" in error["fix"], case
        assert f"plaid webhook refused: {reason}" in caplog.text, case
        assert rows(bridge.settings, HEALTH_COLUMNS) == before, case
    # a forged kid is asked of Plaid once, then remembered as unknown for a while
    assert bridge.post_webhook(body, sign(body, bridge.private, kid="kid-other")).status_code == 401
    assert bridge.ring.asked.count("kid-other") == 1
    assert bridge.health(item_id) == "healthy"
    # no JWT and no body in the logs: a refusal is one line with its reason
    text = "".join(logged) + caplog.text
    for _sent, signature, _reason in forgeries.values():
        assert not signature or signature not in text
    assert item_id not in text and access_token not in text
    assert "request_body_sha256" not in text


def test_malformed_or_oversized_bodies_are_4xx_not_5xx(bridge: Bridge) -> None:
    for body in (b"not json", b"[1, 2]", b'{"webhook_code": "ERROR"}', b'{"webhook_type": 7}'):
        answer = bridge.send_webhook(body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == "invalid_webhook_body"
        assert answer.json()["fix"]
    huge = b" " * (1024 * 1024)
    assert bridge.post_webhook(huge, sign(huge, bridge.private)).status_code == 413
    assert bridge.post_webhook(b"{}", "a.b" * 4000).status_code == 401


def test_signed_bodies_with_text_no_store_can_hold_are_400_not_500(bridge: Bridge) -> None:
    """A NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8) in a verified body."""
    item_id, _ = bridge.new_item()
    before = rows(bridge.settings, HEALTH_COLUMNS)
    error = {"error_code": "ITEM_LOGIN_REQUIRED"}
    bodies = [
        webhook_body("\ud800", "ERROR", error=error),
        webhook_body("item-\x00", "ERROR", error=error),
        webhook_body(item_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED\x00"}),
        webhook_body(item_id, "PENDING_EXPIRATION", consent_expiration_time="\x00"),
        webhook_body(item_id, "LOGIN_REPAIRED", **{"\udc00": 1}),
        webhook_body("", "SESSION_FINISHED", "LINK", link_token="link-\x00", status="SUCCESS"),
    ]
    for body in bodies:
        answer = bridge.send_webhook(body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == "invalid_webhook_body"
        assert "NUL" in answer.json()["message"] and answer.json()["fix"]
    assert rows(bridge.settings, HEALTH_COLUMNS) == before


def test_a_webhook_for_an_unknown_item_is_acknowledged_and_changes_nothing(
    bridge: Bridge,
) -> None:
    item_id, _ = bridge.new_item()
    before = rows(bridge.settings, HEALTH_COLUMNS)
    answer = bridge.send_webhook(webhook_body("item-nobody-knows", "PENDING_EXPIRATION"))
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "item_known": False}
    assert rows(bridge.settings, HEALTH_COLUMNS) == before


def test_plaid_unreachable_for_the_key_is_a_readable_502_and_changes_nothing(
    home: Path, store_backend: str
) -> None:
    settings = settings_module.load().with_values(plaid_api_url="http://127.0.0.1:9")
    private, _ = new_key("kid-1")
    body = webhook_body("item-1", "LOGIN_REPAIRED")
    with serve_in_thread(create_app(settings), what="bridge") as url:
        answer = httpx.post(
            url + WEBHOOK, content=body, headers={"Plaid-Verification": sign(body, private)}
        )
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "plaid_error"
    assert "webhook verification key" in answer.json()["message"]
    assert answer.headers["retry-after"] == "60"


# --------------------------------------------------------------------------- health


@pytest.mark.parametrize(
    ("code", "extra", "health", "detail"),
    [
        ("ERROR", {"error": {"error_code": "ITEM_LOGIN_REQUIRED"}}, "ITEM_LOGIN_REQUIRED",
         "ITEM_LOGIN_REQUIRED"),
        ("PENDING_EXPIRATION", {"consent_expiration_time": "2026-12-08T00:00:00Z"},
         "PENDING_EXPIRATION", "2026-12-08T00:00:00Z"),
        ("PENDING_DISCONNECT", {"reason": "INSTITUTION_MIGRATION"}, "PENDING_DISCONNECT",
         "INSTITUTION_MIGRATION"),
        ("USER_PERMISSION_REVOKED", {"error": {"error_code": "USER_PERMISSION_REVOKED"}},
         "USER_PERMISSION_REVOKED", "USER_PERMISSION_REVOKED"),
        ("NEW_ACCOUNTS_AVAILABLE", {"error": None}, "NEW_ACCOUNTS_AVAILABLE", None),
        ("LOGIN_REPAIRED", {}, "healthy", None),
        ("WEBHOOK_UPDATE_ACKNOWLEDGED", {"error": None}, "healthy", None),
        ("ERROR", {"error": {"error_code": "INSTITUTION_DOWN"}}, "healthy", None),
    ],
)  # fmt: skip
def test_each_item_webhook_sets_the_items_health(
    bridge: Bridge, code: str, extra: dict, health: str, detail: str | None
) -> None:
    item_id, _ = bridge.new_item()
    other_id, _ = bridge.new_item()
    assert bridge.send_webhook(webhook_body(item_id, code, **extra)).status_code == 200
    item = list_items(bridge.settings, lookup=False)[0]  # oldest first: item_id's
    assert item["health"] == health
    assert item["health_detail"] == detail
    assert item["last_webhook"] == f"ITEM {code}"
    assert item["last_webhook_at"].endswith(" UTC")
    assert bridge.health(other_id) == "healthy"  # the other user's Item is untouched
    assert one(bridge.settings, "SELECT last_webhook FROM items WHERE item_id = ?",
               (other_id,)) is None  # fmt: skip


def test_login_repaired_clears_an_error_and_new_accounts_never_hide_one(bridge: Bridge) -> None:
    item_id, _ = bridge.new_item()
    login = webhook_body(item_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED"})
    assert bridge.send_webhook(login).status_code == 200
    assert bridge.send_webhook(webhook_body(item_id, "NEW_ACCOUNTS_AVAILABLE")).status_code == 200
    assert bridge.health(item_id) == "ITEM_LOGIN_REQUIRED"
    assert one(bridge.settings, "SELECT last_webhook FROM items") == "ITEM NEW_ACCOUNTS_AVAILABLE"
    transactions = webhook_body(item_id, "SYNC_UPDATES_AVAILABLE", kind="TRANSACTIONS")
    assert bridge.send_webhook(transactions).status_code == 200
    assert bridge.health(item_id) == "ITEM_LOGIN_REQUIRED"
    assert bridge.send_webhook(webhook_body(item_id, "LOGIN_REPAIRED")).status_code == 200
    assert bridge.health(item_id) == "healthy"


def test_no_webhook_hides_a_token_plaid_refuses(bridge: Bridge) -> None:
    item_id, access_token = bridge.new_item()
    store = open_store(bridge.settings.bridge_store, pool_size=1)
    try:
        store.record_item_health(access_token, "INVALID_ACCESS_TOKEN", "rotate or re-authorize")
    finally:
        store.close()
    login = webhook_body(item_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED"})
    for body in (webhook_body(item_id, "LOGIN_REPAIRED"), login):
        assert bridge.send_webhook(body).status_code == 200
        assert bridge.health(item_id) == "INVALID_ACCESS_TOKEN"  # only a new token fixes it
    [item] = list_items(bridge.settings, lookup=False)
    assert item["last_webhook"] == "ITEM ERROR"  # still recorded
    assert item["repair_url"] is None  # update mode cannot work with a refused token


def test_plaid_errors_the_bridge_sees_with_an_access_token_set_the_health(
    bridge: Bridge,
) -> None:
    item_id, access_token = bridge.new_item()
    plaid_client.sandbox_reset_login(bridge.settings, access_token)
    store = open_store(bridge.settings.bridge_store, pool_size=1)
    try:
        link = PlaidLink(bridge.settings, spent=store, item_errors=ItemHealth(store).plaid_error)
        assert link.item_exists(access_token)  # /item/get: the Item is there, in error
    finally:
        store.close()
    assert bridge.health(item_id) == "ITEM_LOGIN_REQUIRED"
    [item] = list_items(bridge.settings, lookup=False)
    assert item["repair_url"] is not None


# --------------------------------------------------------------------------- kore-plaid items


def test_kore_plaid_items_json_lists_every_item_masked(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAID_API_URL", bridge.settings.plaid_api_url)  # the CLI's Plaid
    healthy_id, healthy_token = bridge.new_item()
    broken_id, broken_token = bridge.new_item()
    login = webhook_body(broken_id, "ERROR", error={"error_code": "ITEM_LOGIN_REQUIRED"})
    assert bridge.send_webhook(login).status_code == 200
    capsys.readouterr()
    assert cli.main(["items", "--json"]) == 0
    out = capsys.readouterr().out
    items = json.loads(out)
    assert len(items) == 2
    for item in items:
        assert {"item_ref", "institution", "health", "last_webhook", "repair_url",
                "authorized_at", "access_token"} <= set(item)  # fmt: skip
        assert item["item_ref"].startswith("itm_") and len(item["item_ref"]) == 16
    healthy, broken = items
    assert healthy["health"] == "healthy" and healthy["repair_url"] is None
    assert healthy["last_webhook"] is None
    assert healthy["institution"] == "ins_109508"  # asked of Plaid for the listing
    assert healthy["institution_name"] == "First Platypus Bank"  # and named (issue 29)
    assert broken["health"] == "ITEM_LOGIN_REQUIRED"
    assert broken["last_webhook"] == "ITEM ERROR"
    local = f"http://127.0.0.1:{bridge.settings.app_port}/repair/"  # no public URL set
    assert broken["repair_url"].startswith(local)
    assert broken["access_token"] == f"{broken_token[:4]}…{broken_token[-4:]}"
    for secret in (healthy_token, broken_token, healthy_id, broken_id):
        assert secret not in out
    # the text table: the same Items, tokens masked; the repair link the JSON listing made
    # is said to be sent (when, valid until), neither shown again nor replaced
    assert cli.main(["items"]) == 0
    table = capsys.readouterr().out
    assert broken["item_ref"] in table and "ITEM_LOGIN_REQUIRED" in table
    assert "ITEM ERROR at " in table and "/repair/" not in table
    assert f"repair link sent {broken['repair_link_sent_at']}, valid until " in table
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links WHERE used_at IS NULL") == 1
    for secret in (healthy_token, broken_token, healthy_id, broken_id):
        assert secret not in table


def test_kore_plaid_items_with_no_store_says_so(
    store_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["items"]) == 0
    assert "No Item yet" in capsys.readouterr().out
    assert cli.main(["items", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_repair_urls_use_the_public_url_and_need_a_user_only(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://bridge.example")
    expiring, _ = bridge.new_item()
    revoked, _ = bridge.new_item()
    bridge.send_webhook(webhook_body(expiring, "PENDING_EXPIRATION"))
    bridge.send_webhook(webhook_body(revoked, "USER_PERMISSION_REVOKED"))
    first, second = list_items(settings_module.load(), lookup=False)
    assert first["repair_url"].startswith("https://bridge.example/repair/")
    token = first["repair_url"].rsplit("/", 1)[1]
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    assert second["health"] == "USER_PERMISSION_REVOKED" and second["repair_url"] is None
    # stored as a digest only, never as the token
    stored = [r[0] for r in rows(bridge.settings, "SELECT digest FROM repair_links")]
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored


def test_listing_without_repair_links_mints_none_and_repair_link_mints_one(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    expiring, _ = bridge.new_item()
    healthy, _ = bridge.new_item()
    bridge.send_webhook(webhook_body(expiring, "PENDING_EXPIRATION"))
    for _ in range(3):
        listed = list_items(bridge.settings, lookup=False, repair_links=False)
        assert [i["repair_url"] for i in listed] == [None, None]
    steps.show_items(bridge.settings)
    shown = capsys.readouterr().out
    assert [line.split()[-1] for line in shown.splitlines() if "PENDING_EXPIRATION" in line] == [
        "yes"
    ]
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links") == 0  # polling is free

    expiring_ref, healthy_ref = (i["item_ref"] for i in listed)
    url = repair_link(bridge.settings, expiring_ref)
    assert url and url.startswith(f"http://127.0.0.1:{bridge.settings.app_port}/repair/")
    assert repair_link(bridge.settings, healthy_ref) is None
    assert repair_link(bridge.settings, "itm_000000000000") is None
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links") == 1  # one, for one Item


# --------------------------------------------------------------------------- repair links


def test_a_repair_link_is_single_use_expires_and_unknown_ones_are_refused(
    bridge: Bridge,
) -> None:
    item_id, access_token = bridge.new_item()
    bridge.send_webhook(webhook_body(item_id, "PENDING_DISCONNECT", reason="INSTITUTION_MIGRATION"))
    [item] = list_items(bridge.settings, lookup=False)
    token = item["repair_url"].rsplit("/", 1)[1]
    clock = FakeClock()
    store = open_store(bridge.settings.bridge_store, pool_size=1, clock=clock)
    try:
        # Link never ran from this link: nothing can have been repaired, nothing is spent
        assert store.complete_repair(token).problem == "not_started"
        started = store.start_repair(token, 5)
        assert started.problem is None and started.link_tokens == 1
        assert started.item.access_token == access_token  # for Link in update mode
        claim = store.complete_repair(token)
        assert claim.problem is None
        assert claim.item.ref == item["item_ref"]
        assert bridge.health(item_id) == "healthy"  # in the same transaction
        assert store.complete_repair(token).problem == "used"
        assert store.start_repair(token, 5).problem == "used"
        assert store.complete_repair(secrets.token_urlsafe(32)).problem == "unknown"
        # a few Link tokens per link only
        capped = store.create_repair_link(item["item_ref"])
        assert [store.start_repair(capped, 2).problem for _ in range(3)] == [
            None,
            None,
            "exhausted",
        ]
        assert store.peek_repair_link(capped).link_tokens == 2
        # expiry: 24 h
        late = store.create_repair_link(item["item_ref"])
        assert late and len(late) >= 43 and late != token
        clock.advance(86400 + 1)
        assert store.complete_repair(late).problem == "expired"
        assert store.start_repair(late, 5).problem == "expired"
        ttl = one(bridge.settings, "SELECT MAX(expires_at - created_at) FROM repair_links")
        assert ttl == pytest.approx(86400)
        # a repaired Item is healthy again, and its other links are spent
        pending = store.create_repair_link(item["item_ref"])
        assert mark_item_healthy(bridge.settings, item["item_ref"])
        assert bridge.health(item_id) == "healthy"
        assert store.complete_repair(pending).problem == "used"
        assert not mark_item_healthy(bridge.settings, "itm_000000000000")
        assert store.create_repair_link("itm_000000000000") is None
        # a removed Item cannot be repaired
        removed = store.create_repair_link(item["item_ref"])
        store.start_repair(removed, 5)
        change(bridge.settings, "UPDATE items SET removed_at = ?", (clock(),))  # at Plaid
        assert store.complete_repair(removed).problem == "removed"
        assert store.start_repair(removed, 5).problem == "removed"
        # expired links are swept a week after their expiry
        week = REPAIR_LINK_RETENTION_SECONDS
        clock.advance(86400 + week + 1)  # past the expiry of the links made after 24 h too
        assert store.purge_expired_repair_links() >= 5
        assert store.complete_repair(late).problem == "unknown"
    finally:
        store.close()


# --------------------------------------------------------------------------- with Plaid


def test_link_tokens_name_the_bridges_webhook(bridge: Bridge) -> None:
    start = bridge.http.get(
        bridge.url + "/",
        params={
            "response_type": "code",
            "client_id": bridge.settings.client_id,
            "redirect_uri": bridge.settings.simulator_callback,
            "state": "s",
        },
        headers={"Accept": "application/json"},
    )
    assert start.status_code == 200, start.text
    api = plaid_client.create(bridge.settings)
    got = plaid_client.call_json(api, "link_token_get", {"link_token": start.json()["link_token"]})
    assert got["metadata"]["webhook"] == bridge.url + WEBHOOK


def test_the_emulators_signed_webhooks_reach_the_item(
    home: Path, emulator_url: str, store_backend: str
) -> None:
    """End to end: the key comes from the emulator's /webhook_verification_key/get and the
    webhooks from its /sandbox/item/fire_webhook, as Plaid's would."""
    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    with (
        serve_in_thread(create_app(settings), what="bridge") as url,
        httpx.Client(timeout=20) as http,
    ):
        api = plaid_client.create(settings)
        public = plaid_client.call_json(
            api,
            "sandbox_public_token_create",
            {
                "institution_id": "ins_109508",
                "initial_products": ["transactions"],
                "options": {"webhook": url + WEBHOOK},
            },
        )["public_token"]
        start = http.get(
            url + "/",
            params={
                "response_type": "code",
                "client_id": settings.client_id,
                "redirect_uri": settings.simulator_callback,
                "state": "s",
            },
            headers={"Accept": "application/json"},
        ).json()
        done = http.post(
            url + "/api/set_access_token",
            json={"session": start["session"], "public_token": public},
        )
        assert done.status_code == 200, done.text
        item_id = str(one(settings, "SELECT item_id FROM items"))
        for code, health in (("ERROR", "ITEM_LOGIN_REQUIRED"), ("LOGIN_REPAIRED", "healthy"),
                             ("PENDING_DISCONNECT", "PENDING_DISCONNECT")):  # fmt: skip
            fired = plaid_client.call_json(
                api,
                "sandbox_item_fire_webhook",
                {"access_token": stored_access_tokens(settings)[0],
                 "webhook_code": code},
            )  # fmt: skip
            assert fired["webhook_fired"] is True
            keys = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
            sent = http.get(emulator_url + "/_emulator/webhooks", params={"wait": 10},
                            headers=keys)  # fmt: skip
            assert sent.json()["idle"] is True, sent.text
            assert one(settings, "SELECT health FROM items WHERE item_id = ?", (item_id,)) == health
            assert one(settings, "SELECT last_webhook FROM items") == f"ITEM {code}"


# --------------------------------------------------------------------------- schema v4


def test_a_version_3_store_is_migrated_to_version_4(
    home: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_module.load()
    with monkeypatch.context() as old:
        old.setattr(migrations, "LATEST", 3)
        store = open_store(settings.bridge_store, pool_size=1)
        assert store.schema_versions == (0, 3)
        session = secrets.token_urlsafe(32)
        store.create_session(session, "client", "http://127.0.0.1/cb", "state=s", 1800)
        store.claim_session(session)
        with store.backend.transaction() as tx:  # what a version 3 bridge wrote
            tx.execute(
                "INSERT INTO items (item_id, access_token, institution, client_user_id,"
                " created_at, client_id, redirect_uri) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("item-old", "access-sandbox-old-0123456789", "ins_1", "u", time.time(),
                 "client", "http://127.0.0.1/cb"),
            )  # fmt: skip
        store.close()
    store = open_store(settings.bridge_store, pool_size=1)
    try:
        assert store.schema_versions == (3, migrations.LATEST)  # 5: Hosted Link
        [status] = store.item_statuses()
        assert status.health == "healthy" and status.last_webhook is None
        assert status.ref == public_ref("item-old")
        assert store.record_webhook("item-old", "ITEM PENDING_EXPIRATION", "PENDING_EXPIRATION",
                                    None)  # fmt: skip
        token = store.create_repair_link(status.ref)
        assert store.start_repair(token, 5).item.item_id == "item-old"
        # a new Item gets its reference when it is saved
        new_item = ItemRecord("item-new", "access-x" * 3, None, "u")
        callback = "http://127.0.0.1/cb"
        store.save_authorization(session, new_item, "code-1", "client", callback, None, None, 60)
        refs = [s.ref for s in store.item_statuses()]
        assert refs[1] == public_ref("item-new")
    finally:
        store.close()


def test_items_a_version_3_bridge_saves_during_an_upgrade_get_a_ref(
    home: Path, store_backend: str
) -> None:
    settings = settings_module.load()
    store = open_store(settings.bridge_store, pool_size=1)
    try:
        with store.backend.transaction() as tx:  # a v3 replica, still up, knows no public_ref
            tx.execute(
                "INSERT INTO items (item_id, access_token, institution, client_user_id,"
                " created_at, client_id, redirect_uri) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("item-late", "access-sandbox-late-0123456789", "ins_1", "u", time.time(),
                 "client", "http://127.0.0.1/cb"),
            )  # fmt: skip
        [status] = store.item_statuses()
        assert status.ref == public_ref("item-late")
        assert store.record_webhook("item-late", "ITEM PENDING_EXPIRATION", "PENDING_EXPIRATION",
                                    None)  # fmt: skip
        assert store.create_repair_link(status.ref) is not None  # repairable by its ref
        assert store.fill_missing_refs() == 0
    finally:
        store.close()


def test_forged_webhooks_naming_new_keys_cannot_flood_plaid_nor_lock_out_its_real_key() -> None:
    from kore_plaid_nb.bridge import webhook_verification as wv

    private, jwk = new_key("real")
    ring = KeyRing({"real": jwk})
    now = [1_000_000.0]
    verifier = wv.WebhookVerifier(ring, clock=lambda: now[0], max_age=10**9)
    body = b'{"webhook_type": "ITEM"}'

    def genuine() -> dict:
        return verifier.verify(body, sign(body, private, kid="real", iat=now[0]))

    def forged(kid: str) -> str:
        other, _ = new_key(kid)
        try:
            verifier.verify(body, sign(body, other, kid=kid, iat=now[0]))
        except wv.WebhookRejected as exc:
            return exc.reason
        except wv.KeyLookupsExhausted:
            return "not checked now"
        return "accepted"

    assert genuine()["request_body_sha256"]
    now[0] += wv.KEY_CACHE_SECONDS + 1  # the real key is due for a refresh
    outcomes = [forged(f"forged-{n}") for n in range(wv.KEY_LOOKUPS_PER_MINUTE + 15)]

    assert outcomes == ["unknown_key"] * wv.KEY_LOOKUPS_PER_MINUTE + ["not checked now"] * 15
    assert len(ring.asked) == 1 + wv.KEY_LOOKUPS_PER_MINUTE  # Plaid asked 11 times, not 26
    assert genuine()  # refreshing a known key is never refused by the flood
    ring.keys.clear()

    def plaid_down(kid: str) -> dict:
        raise RuntimeError("Plaid cannot be reached")

    verifier._keys = plaid_down  # noqa: SLF001 - Plaid goes away during the next refresh
    now[0] += wv.KEY_CACHE_SECONDS + 1
    assert genuine()  # the key Plaid gave before still verifies


def test_a_flood_of_new_keys_is_503_with_retry_after_not_401(bridge: Bridge) -> None:
    from kore_plaid_nb.bridge import webhook_verification as wv

    statuses = []
    for n in range(wv.KEY_LOOKUPS_PER_MINUTE + 2):
        other, _ = new_key(f"forged-{n}")
        body = b'{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "x"}'
        response = bridge.post_webhook(body, sign(body, other, kid=f"forged-{n}"))
        statuses.append((response.status_code, response.headers.get("retry-after")))

    assert statuses[: wv.KEY_LOOKUPS_PER_MINUTE] == [(401, None)] * wv.KEY_LOOKUPS_PER_MINUTE
    assert statuses[-1] == (503, "60")


def test_a_version_5_store_is_migrated_to_version_6(
    home: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 6 counts each repair link's Link tokens; links made before start at 0."""
    settings = settings_module.load()
    with monkeypatch.context() as old:
        old.setattr(migrations, "LATEST", 5)
        store = open_store(settings.bridge_store, pool_size=1)
        assert store.schema_versions == (0, 5)
        with store.backend.transaction() as tx:  # what a version 5 bridge wrote
            tx.execute(
                "INSERT INTO items (item_id, access_token, institution, client_user_id,"
                " created_at, client_id, redirect_uri, public_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ("item-old", "access-sandbox-old-0123456789", "ins_1", "u", time.time(),
                 "client", "http://127.0.0.1/cb", "itm_0123456789ab"),
            )  # fmt: skip
        token = store.create_repair_link("itm_0123456789ab")
        store.close()
    store = open_store(settings.bridge_store, pool_size=1)
    try:
        assert store.schema_versions == (5, migrations.LATEST)
        assert store.peek_repair_link(token).link_tokens == 0
        assert store.complete_repair(token).problem == "not_started"
        assert store.start_repair(token, 5).link_tokens == 1
        assert store.complete_repair(token).item.item_id == "item-old"
    finally:
        store.close()
