"""The bridge's audit trail (issue 23, item 4), request ids, and logs that name routes by their
template (finding 3.8): one record per security event, in the store (SQLite and PostgreSQL),
with the time, the event, the Item's public reference, the client address and the request id,
never a secret; kept BRIDGE_AUDIT_DAYS; ``kore-plaid audit [--json] [--since ISO]``."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from bridge_support import (
    TOKEN_PATH,
    Bridge,
    authorize_query,
    query_of,
    sandbox_public_token,
)
from store_inspect import change, one, rows

from kore_plaid_nb import cli
from kore_plaid_nb.bridge.audit import AuditEvent, AuditRecord, RecordBudget, record_audit
from kore_plaid_nb.bridge.store import BridgeStore
from kore_plaid_nb.bridge.store.sealed import Keyring
from kore_plaid_nb.errors import SettingsError
from kore_plaid_nb.settings import load

GENERATED_ID = re.compile(r"[0-9a-f]{16}")
AUDIT_COLUMNS = "at, event, item_ref, client, request_id, detail"
WEBHOOK = b'{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "x"}'


def audit_rows(bridge: Bridge) -> list[tuple[Any, ...]]:
    return rows(bridge.settings, f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id")  # noqa: S608


def audit_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert cli.main(["audit", "--json", *args]) == 0
    return list(json.loads(capsys.readouterr().out)["records"])


@pytest.fixture
def behind_local_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's client is the bridge's trusted proxy: its X-Request-Id is honoured."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")


# -- One record per event, no secret


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.usefixtures("behind_local_proxy", "store_backend")
def test_a_flow_with_a_replay_and_refusals_leaves_one_record_each_and_no_secret(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = bridge.settings
    state = "state-" + secrets.token_hex(12)
    start = bridge.http.get(
        bridge.url + "/?" + authorize_query(settings, state), headers={"Accept": "application/json"}
    )
    session, link_token = start.json()["session"], start.json()["link_token"]
    public_token = sandbox_public_token(settings)
    linked = bridge.http.post(
        bridge.url + "/api/set_access_token",
        json={"session": session, "public_token": public_token},
        headers={"X-Request-Id": "kore-req-0001"},
    )
    assert linked.headers["x-request-id"] == "kore-req-0001"
    code = query_of(linked.json()["redirect_to"])["code"]
    issued = bridge.exchange(code).json()

    replay = bridge.http.post(
        bridge.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code},
        auth=bridge.basic(),
        headers={"X-Request-Id": "replay-req-0002"},
    )
    assert (replay.status_code, replay.headers["x-request-id"]) == (400, "replay-req-0002")
    assert bridge.refresh(issued["refresh_token"]).status_code == 400  # revoked by the replay
    unknown = "unknown-" + secrets.token_urlsafe(24)
    assert bridge.refresh(unknown).status_code == 400
    assert bridge.post_webhook(WEBHOOK, None).status_code == 401

    item_ref = one(settings, "SELECT public_ref FROM items")
    recorded = audit_rows(bridge)
    assert [(r[1], r[2]) for r in recorded] == [
        ("authorization_granted", item_ref),
        ("code_replayed", item_ref),
        ("refresh_refused", item_ref),
        ("refresh_refused", None),
        ("webhook_refused", None),
    ]
    assert {r[3] for r in recorded} == {"127.0.0.1"}
    ids = [r[4] for r in recorded]
    assert ids[:2] == ["kore-req-0001", "replay-req-0002"]
    assert all(GENERATED_ID.fullmatch(i) for i in ids[2:]), ids
    assert [r[5] for r in recorded[2:]] == [
        "refresh token revoked",
        "unknown refresh token",
        "missing_signature",
    ]
    assert all(abs(r[0] - time.time()) < 60 for r in recorded)

    printed = audit_json(capsys)
    assert [(r["event"], r["item_ref"], r["request_id"]) for r in printed] == [
        (r[1], r[2], r[4]) for r in recorded
    ]
    assert cli.main(["audit"]) == 0
    table = capsys.readouterr().out
    assert "code_replayed" in table and "replay-req-0002" in table
    dump = repr(rows(settings, "SELECT * FROM audit")) + json.dumps(printed) + table
    for secret in (
        code, issued["access_token"], issued["refresh_token"], unknown, settings.secret,
        session, link_token, public_token, state,
    ):  # fmt: skip
        assert secret not in dump


def test_since_narrows_the_listing_and_a_bad_time_is_readable(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bridge.post_webhook(WEBHOOK, "not-a-jwt").status_code == 401
    [record] = audit_json(capsys)
    assert record["event"] == "webhook_refused" and record["detail"] == "malformed_signature"
    assert str(record["at"]).endswith("+00:00")
    assert audit_json(capsys, "--since", str(record["at"])) == [record]
    assert audit_json(capsys, "--since", "2999-01-01") == []
    assert cli.main(["audit", "--since", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert "not an ISO 8601 date" in err and "2026-12-01T09:30:00Z" in err


def test_webhook_refusals_are_capped_and_counted() -> None:
    now = [0.0]
    budget = RecordBudget(2, clock=lambda: now[0])
    assert [budget.take() for _ in range(4)] == [0, 0, None, None]
    now[0] += 61
    assert budget.take() == 2  # the next record counts the two left out


def test_a_webhook_flood_stores_a_bounded_number_of_records(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kore_plaid_nb.bridge.audit.WEBHOOK_REFUSALS_PER_MINUTE", 3)
    for _ in range(6):
        assert bridge.post_webhook(WEBHOOK, None).status_code == 401
    assert [r[1] for r in audit_rows(bridge)] == ["webhook_refused"] * 3


def test_a_refresh_by_another_client_is_refused_and_recorded(bridge: Bridge) -> None:
    grant = bridge.authorize()
    change(bridge.settings, "UPDATE refresh_tokens SET client_id = ?", ("another-client",))
    assert bridge.refresh(grant.refresh_token).status_code == 400
    item_ref = one(bridge.settings, "SELECT public_ref FROM items")
    assert [(r[1], r[2], r[5]) for r in audit_rows(bridge)][-1] == (
        "refresh_refused", item_ref, "client mismatch",
    )  # fmt: skip


def test_a_refresh_under_a_wrong_key_is_recorded_once_and_a_code_exchange_not(
    bridge: Bridge,
) -> None:
    grant = bridge.authorize()
    code = bridge.mint_code()
    store = bridge.app.state.store
    before = audit_rows(bridge)
    right, store.db.keyring = store.db.keyring, Keyring(os.urandom(32))
    try:
        assert bridge.refresh(grant.refresh_token).status_code == 503
        refused = audit_rows(bridge)[len(before) :]
        assert bridge.exchange(code).status_code == 503  # the code stays unredeemed
        assert audit_rows(bridge)[len(before) :] == refused
    finally:
        store.db.keyring = right
    item_ref = one(bridge.settings, "SELECT public_ref FROM items WHERE id = 1")
    # once, though a SQLite refresh is tried on the event loop and then in the thread pool
    assert [(r[1], r[2], r[5]) for r in refused] == [
        ("refresh_refused", item_ref, "encryption key not configured"),
    ]
    assert GENERATED_ID.fullmatch(refused[0][4])


def test_the_sweep_and_the_audit_command_use_the_store_facade(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    used: list[str] = []
    purge, since = BridgeStore.purge_audit, BridgeStore.audit_since

    def purge_audit(store: BridgeStore, keep_days: float) -> int:
        used.append(f"purge_audit({keep_days})")
        return purge(store, keep_days)

    def audit_since(
        store: BridgeStore, at: float | None = None, limit: int = 10
    ) -> list[AuditRecord]:
        used.append("audit_since")
        return since(store, at, limit)

    monkeypatch.setattr(BridgeStore, "purge_audit", purge_audit)
    monkeypatch.setattr(BridgeStore, "audit_since", audit_since)
    bridge.app.state.sweep()
    assert bridge.post_webhook(WEBHOOK, None).status_code == 401
    assert [r["event"] for r in audit_json(capsys)] == ["webhook_refused"]
    # the bridge's own background sweep may purge once more meanwhile (seen under -n 2)
    purged = f"purge_audit({bridge.settings.bridge_audit_days})"
    assert used[0] == purged and used.count("audit_since") == 1
    assert set(used) == {purged, "audit_since"}


# -- Outside a request (the key rotation, a command), and retention


@pytest.mark.bridge(fake_clock=True)
def test_records_outside_a_request_name_the_local_user_and_go_after_90_days(
    bridge: Bridge,
) -> None:
    store, clock = bridge.app.state.store, bridge.clock
    assert clock is not None
    record_audit(store, AuditEvent.ENCRYPTION_KEY_ROTATED, detail="12 rows re-encrypted")
    [(_at, event, item, client, request_id, detail)] = audit_rows(bridge)
    assert (event, item, request_id, detail) == (
        "encryption_key_rotated", None, None, "12 rows re-encrypted",
    )  # fmt: skip
    assert str(client).startswith("local")
    clock.advance(89 * 86400)
    bridge.app.state.sweep()
    assert len(audit_rows(bridge)) == 1
    clock.advance(2 * 86400)
    bridge.app.state.sweep()
    assert audit_rows(bridge) == []


def test_the_retention_is_a_setting() -> None:
    assert load({}).bridge_audit_days == 90
    assert load({"BRIDGE_AUDIT_DAYS": "400"}).bridge_audit_days == 400
    for bad in ("0", "ninety"):
        with pytest.raises(SettingsError) as caught:
            load({"BRIDGE_AUDIT_DAYS": bad})
        assert "BRIDGE_AUDIT_DAYS" in caught.value.fix


# -- Request ids


@pytest.mark.bridge(plaid="unreachable")
@pytest.mark.usefixtures("behind_local_proxy")
def test_every_answer_carries_a_request_id_and_a_sane_one_sent_is_kept(bridge: Bridge) -> None:
    """A sane id sent by the trusted proxy (FORWARDED_ALLOW_IPS) is kept (any other
    caller's is replaced: tests/test_bridge_logs.py)."""
    health = bridge.url + "/healthz"
    assert GENERATED_ID.fullmatch(bridge.http.get(health).headers["x-request-id"])
    sent = "b7a3c1e0-9f2d-4c55-8e1a-0d6f2b9c4a17"
    assert bridge.http.get(health, headers={"X-Request-Id": sent}).headers["x-request-id"] == sent
    for insane in ("has space", "x" * 65, "<script>", "ü-id"):
        answer = bridge.http.get(health, headers={b"X-Request-Id": insane.encode("utf-8")})
        assert GENERATED_ID.fullmatch(answer.headers["x-request-id"]), insane
    twice = bridge.http.get(health, headers=[("X-Request-Id", "one-1"), ("X-Request-Id", "two-2")])
    assert GENERATED_ID.fullmatch(twice.headers["x-request-id"])


# -- Finding 3.8: a repair flow's logs hold no token


def leave_mid_body(url: str, path: str) -> None:
    """POST ``path`` declaring 1000 bytes, send a few, and go (the client disconnects)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        sock.sendall(head.encode("ascii"))
        time.sleep(0.1)  # the handler is reading the body when the connection goes


@pytest.mark.bridge(item_webhooks=True)
def test_a_repair_flow_logs_route_templates_never_the_token_and_is_audited(
    bridge: Bridge,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # uvicorn's access log on (checked per new connection), as `uvicorn --factory
    # kore_plaid_nb.bridge.asgi:create` has it
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    for name in ("uvicorn", "uvicorn.access", "kore_plaid_nb"):  # the bridge's (not httpx's)
        caplog.set_level(logging.INFO, logger=name)
    access_token = bridge.authorize().access_token
    token = bridge.break_login(access_token)

    assert bridge.http.get(f"{bridge.url}/repair/{token}").status_code == 200
    leave_mid_body(bridge.url, f"/repair/{token}/link_token")
    link_token = bridge.post(f"/repair/{token}/link_token", json={}).json()["link_token"]
    bridge.link_update_mode(link_token)
    done = bridge.post(f"/repair/{token}/done", json={"link_token": link_token})
    assert done.json() == {"repaired": True}
    assert bridge.http.get(f"{bridge.url}/repair/{token}").status_code == 410

    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert '"POST /repair/{token}/done HTTP/1.1" 200' in logged, logged
    assert '"GET /repair/{token} HTTP/1.1" 410' in logged
    assert "client disconnected before sending the whole body: POST /repair/{token}/link_token" in (
        logged
    )
    assert token not in logged
    item_ref = one(bridge.settings, "SELECT public_ref FROM items")
    assert [(r[1], r[2], r[5]) for r in audit_rows(bridge)][-1] == (
        "item_repaired", item_ref, "repair link",
    )  # fmt: skip
