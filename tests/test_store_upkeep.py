"""Round 3 of issue 23 on the store's upkeep: a failed disk scrub is said (and named in
``keys rotate``'s output), a leftover bad ``bridge.key`` does not stop a bridge that has
BRIDGE_ENCRYPTION_KEY, a refused refresh is recorded under a wrong key, and an open with no
plain value left writes nothing."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from bridge_support import ACCESS_TOKEN, Bridge, one_item_stored
from store_inspect import change, one, rows

from kore_plaid_nb import cli
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.audit import use_refresh_token
from kore_plaid_nb.bridge.deferred_audit import holding_audits, write_held
from kore_plaid_nb.bridge.store import (
    ItemRecord,
    Keyring,
    StoreKeyError,
    migrations,
    open_bridge_store,
    open_store,
    store_keyring,
)
from kore_plaid_nb.bridge.store.key_file import KEY_FILE_NAME
from kore_plaid_nb.bridge.store.resealing import scrub, seal_leftovers
from kore_plaid_nb.bridge.store.sealed import new_key_text
from kore_plaid_nb.bridge.store.sqlite import SQLiteBackend

CALLBACK = "http://127.0.0.1/cb"


def write_a_version_7_store(settings: settings_module.Settings) -> None:
    """A version 7 store holding one plain access token."""
    with pytest.MonkeyPatch.context() as old:
        old.setattr(migrations, "LATEST", 7)
        with open_store(settings.bridge_store, pool_size=1) as store:
            with store.backend.transaction() as tx:
                tx.execute(
                    "INSERT INTO items (item_id, access_token, client_user_id, created_at,"
                    " client_id, redirect_uri, public_ref)"
                    " VALUES ('item-7', 'access-sandbox-seven', 'u', 0, 'client', ?, 'itm_7')",
                    (CALLBACK,),
                )


def scrub_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process keeps the WAL from being emptied."""
    monkeypatch.setattr(SQLiteBackend, "scrub", lambda self, tables, rebuild: False)


def rotate_to_a_new_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEYS", (home / KEY_FILE_NAME).read_text().strip())
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new_key_text())


# -- a failed scrub is said


def test_keys_rotate_says_whether_the_old_values_were_cleared_from_disk(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    one_item_stored()
    rotate_to_a_new_key(home, monkeypatch)
    assert cli.main(["keys", "rotate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scrubbed"] is True
    assert cli.main(["keys", "rotate"]) == 0  # nothing left to re-encrypt
    assert "scrubbed: true" in capsys.readouterr().out


def test_a_failed_scrub_after_keys_rotate_is_warned_and_reported(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    one_item_stored()
    rotate_to_a_new_key(home, monkeypatch)
    scrub_fails(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert cli.main(["keys", "rotate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scrubbed"] is False
    assert "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)" in caplog.text
    assert str(home) in caplog.text


def test_a_failed_scrub_after_a_migration_is_warned(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_module.load()
    write_a_version_7_store(settings)
    scrub_fails(monkeypatch)
    with caplog.at_level(logging.WARNING), open_store(settings.bridge_store, pool_size=1):
        pass
    assert "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)" in caplog.text
    assert "access-" not in caplog.text


def test_a_failed_postgresql_scrub_names_the_vacuum_and_its_owner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = SimpleNamespace(
        dialect="postgresql",
        describe=lambda: "db.example:5432/bridge",
        scrub=lambda tables, rebuild: False,
    )
    with caplog.at_level(logging.WARNING):
        assert scrub(SimpleNamespace(backend=backend), rebuild=False) is False  # type: ignore[arg-type]
    assert "VACUUM items, sessions" in caplog.text and "owner" in caplog.text
    assert "db.example:5432/bridge" in caplog.text


# -- a leftover bad key file


@pytest.mark.parametrize("spoil", ["readable", "garbage", "symlink"])
def test_a_bad_leftover_key_file_is_warned_about_once_when_a_key_is_set(
    spoil: str,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = home / KEY_FILE_NAME
    if spoil == "readable":
        store_keyring(settings_module.load())
        key_file.chmod(0o644)
    elif spoil == "garbage":
        key_file.write_text("not a key\n")
        key_file.chmod(0o600)
    else:
        (tmp_path / "elsewhere").write_text(new_key_text())
        key_file.symlink_to(tmp_path / "elsewhere")
    capsys.readouterr()
    key = new_key_text()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", key)
    for _ in range(2):
        keyring = store_keyring(settings_module.load())
        assert keyring.current.kid == Keyring.from_text(key).current.kid
    printed = capsys.readouterr().err
    assert printed.count(str(key_file)) == 1, printed
    assert key not in printed


# -- refused refreshes under a wrong key


def test_a_revoked_refresh_under_a_wrong_key_is_still_recorded(bridge: Bridge) -> None:
    grant = bridge.authorize()
    change(bridge.settings, "UPDATE refresh_tokens SET revoked_at = 1")
    store = bridge.app.state.store
    right, store.db.keyring = store.db.keyring, Keyring(os.urandom(32))
    try:
        assert bridge.refresh(grant.refresh_token).status_code == 400
    finally:
        store.db.keyring = right
    item_ref = one(bridge.settings, "SELECT public_ref FROM items")
    last = rows(bridge.settings, "SELECT event, item_ref, detail FROM audit ORDER BY id")[-1]
    assert last == ("refresh_refused", item_ref, "refresh token revoked")


def test_a_refresh_under_a_wrong_key_is_recorded_after_a_no_wait_scope(home: Path) -> None:
    settings = settings_module.load()
    with open_bridge_store(settings) as store:
        store.save_authorization("s", ItemRecord("i", ACCESS_TOKEN, None, "u"), "c", "client",
                                 CALLBACK, None, None, 60)  # fmt: skip
        assert store.redeem_code("c", "refresh-1")
        store.db.keyring = Keyring(os.urandom(32))
        with holding_audits() as held, pytest.raises(StoreKeyError):
            use_refresh_token(store, "refresh-1")
        assert not [r for r in store.audit_since() if r.event == "refresh_refused"]
        assert len(held) == 1
        write_held(held)
        [refused] = [r for r in store.audit_since() if r.event == "refresh_refused"]
        assert refused.detail == "encryption key not configured"


# -- an open with nothing plain left writes nothing


def test_seal_leftovers_only_reads_when_nothing_is_plain(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = one_item_stored()
    with open_bridge_store(settings) as store:

        def no_write() -> None:
            raise AssertionError("a write transaction at open")

        monkeypatch.setattr(store.db, "transaction", no_write)
        assert seal_leftovers(store.db) == 0
