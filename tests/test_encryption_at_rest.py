"""Issue 23, item 1: the Plaid access tokens (and Hosted Link's tokens) the bridge keeps are
encrypted at rest; a dump of the store holds none of them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from bridge_support import ACCESS_TOKEN, Bridge, one_item_stored
from postgres_cluster import find_postgres_bin
from store_inspect import change, rows, stored_access_tokens

from kore_plaid_nb import cli
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.store import (
    BridgeStore,
    ItemRecord,
    Keyring,
    StoreConfigError,
    StoreKeyError,
    StoreUnavailable,
    digest,
    migrations,
    open_bridge_store,
    open_store,
    store_keyring,
)
from kore_plaid_nb.bridge.store.key_file import KEY_FILE_NAME
from kore_plaid_nb.bridge.store.sealed import new_key_text

CALLBACK = "http://127.0.0.1/cb"


def plain_secrets_in_sqlite(path: Path, marker: bytes) -> list[str]:
    """Where ``marker`` shows in the SQLite file (its raw bytes, WAL included, and a dump)."""
    found = [
        side.name
        for side in (path, path.with_name(path.name + "-wal"))
        if side.exists() and marker in side.read_bytes()
    ]
    with contextlib.closing(sqlite3.connect(path)) as db:
        if marker.decode() in "\n".join(db.iterdump()):
            found.append("iterdump")
    return found


def pg_files(url: str) -> bytes:
    """The raw files of the test schema's tables and indexes, as the server keeps them on
    disk after a CHECKPOINT (the test cluster's superuser reads them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        paths = conn.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 't')"
        ).fetchall()
        assert len(paths) > 10
        return b"".join(
            conn.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()[0]
            for (path,) in paths
        )


def where_on_disk(settings: settings_module.Settings, marker: bytes) -> list[str]:
    """Where ``marker`` shows in what the store keeps on disk: the SQLite file and its WAL, or
    PostgreSQL's table and index files and a ``pg_dump``."""
    url = settings.bridge_db_url
    if url is None:
        return plain_secrets_in_sqlite(settings.bridge_db_path, marker)
    found = ["files"] if marker in pg_files(str(url)) else []
    return found + (["pg_dump"] if marker.decode() in pg_dump(str(url)) else [])


def pg_dump(url: str) -> str:
    """``pg_dump`` of the test's own schema (the URL's search_path)."""
    schema = parse_qs(urlsplit(url).query)["options"][0].split("=", 1)[1]
    plain = url.split("?", 1)[0]
    binary = find_postgres_bin()
    assert binary is not None
    done = subprocess.run(
        [str(binary / "pg_dump"), "--dbname", plain, "--schema", schema, "--no-owner"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "CREATE TABLE" in done.stdout and "items" in done.stdout
    return done.stdout


# ---------------------------------------------------------------- the dump holds no token


@pytest.mark.backends("sqlite", "postgresql")
def test_a_dump_after_20_authorizations_holds_no_access_token(
    store_backend: str, bridge: Bridge
) -> None:
    grants = [bridge.authorize() for _ in range(20)]
    tokens = {grant.access_token for grant in grants}
    assert len(tokens) == 20 and all(t.startswith("access-") for t in tokens)
    if store_backend == "sqlite":
        assert plain_secrets_in_sqlite(bridge.settings.bridge_db_path, b"access-") == []
    else:
        dump = pg_dump(str(bridge.settings.bridge_db_url))
        assert "ks1." in dump  # the sealed values are there
        assert "access-" not in dump
    # and every one is still Kore's: each refresh hands out the user's own token
    assert set(stored_access_tokens(bridge.settings)) == tokens
    assert bridge.refreshed(grants[7].refresh_token) == grants[7].access_token


def test_a_sealed_value_moved_to_another_row_does_not_open(home: Path) -> None:
    settings = settings_module.load()
    with open_bridge_store(settings) as store:
        for n in (1, 2):
            item = ItemRecord(f"item-{n}", f"access-sandbox-{n}", None, "u")
            store.save_authorization(f"s{n}", item, f"code-{n}", "client", CALLBACK, None, None, 60)
        assert store.find_code("code-1").access_token == "access-sandbox-1"
        [first] = rows(settings, "SELECT access_token FROM items WHERE item_id = 'item-1'")[0]
        change(settings, "UPDATE items SET access_token = ? WHERE item_id = 'item-2'", (first,))
        with pytest.raises(StoreKeyError) as refused:
            store.find_code("code-2")
        assert "copied from another row" in refused.value.message
        assert "access-sandbox" not in str(refused.value)


def test_each_value_gets_its_own_nonce_and_the_key_id() -> None:
    keyring = Keyring(os.urandom(32))
    one = keyring.seal(ACCESS_TOKEN, "items", "access_token", "item-1")
    other = keyring.seal(ACCESS_TOKEN, "items", "access_token", "item-1")
    assert one != other and one.split(".")[1] == other.split(".")[1] == keyring.current.kid
    assert keyring.unseal(one, "items", "access_token", "item-1") == ACCESS_TOKEN


def test_the_lookup_digest_is_keyed() -> None:
    text = new_key_text()
    token_digest = Keyring.from_text(text).digest(ACCESS_TOKEN)
    assert Keyring.from_text(text).digest(ACCESS_TOKEN) == token_digest  # another process
    assert Keyring.from_text(new_key_text()).digest(ACCESS_TOKEN) != token_digest
    assert hashlib.sha256(ACCESS_TOKEN.encode()).hexdigest() not in token_digest
    assert Keyring.from_text(text).digest(ACCESS_TOKEN + "x") != token_digest


# ---------------------------------------------------------------- the key


def test_the_key_file_is_made_once_0600_and_only_its_path_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fresh-state"
    monkeypatch.setenv("KORE_PLAID_HOME", str(state))
    settings = one_item_stored()
    key_file = state / KEY_FILE_NAME
    printed = capsys.readouterr().err
    assert str(key_file) in printed
    assert key_file.read_text().strip() not in printed
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    with open_bridge_store(settings) as store:  # the next start: same key, nothing printed
        assert store.find_code("c").access_token == ACCESS_TOKEN
    assert capsys.readouterr().err == ""


def test_a_key_file_others_can_read_is_refused(home: Path) -> None:
    settings = settings_module.load()
    store_keyring(settings)
    (home / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(StoreConfigError, match="readable by others"):
        store_keyring(settings)


@pytest.mark.backends("postgresql")
def test_a_live_postgresql_bridge_refuses_to_start_without_a_key(
    store_backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRIDGE_ENCRYPTION_KEY")  # the fixture's, as a deployment sets it
    monkeypatch.setenv("PLAID_CLIENT_ID", "0123456789abcdef01234567")
    monkeypatch.setenv("PLAID_SECRET", "s" * 30)
    assert cli.main(["bridge", "--port", "1"]) == 2
    printed = capsys.readouterr().err
    assert "BRIDGE_ENCRYPTION_KEY is not set" in printed
    assert "What to do" in printed or "every replica" in printed
    assert "kore-plaid keys new" in printed
    assert not (settings_module.load().home / KEY_FILE_NAME).exists()  # nothing made up
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new_key_text())
    with open_bridge_store(settings_module.load(), pool_size=1) as store:
        assert store.dialect == "postgresql"


def test_the_keys_are_secrets_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    current, old = new_key_text(), new_key_text()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", current)
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEYS", old)
    settings = settings_module.load()
    assert current in settings.secret_values and old in settings.secret_values
    assert current not in repr(settings) and old not in repr(settings)


# ---------------------------------------------------------------- migration from schema 7


def write_a_version_7_store(settings: settings_module.Settings) -> tuple[str, str]:
    """What a version 7 bridge left: an Item with a refresh token, a Hosted Link session
    whose webhook came; returns (refresh token, Link token)."""
    with pytest.MonkeyPatch.context() as old:
        old.setattr(migrations, "LATEST", 7)
        store = open_store(settings.bridge_store, pool_size=1)
        assert store.schema_versions[1] == 7
        with store:
            return write_as_an_old_bridge(store)


def write_as_an_old_bridge(store: BridgeStore, n: int = 7) -> tuple[str, str]:
    """The rows a version 7 bridge writes (plain tokens, no digest columns), the ``n``-th:
    an Item with a refresh token, a Hosted Link session; returns (refresh token, Link token)."""
    refresh_token, link_token = secrets.token_urlsafe(32), f"link-sandbox-7777-old-{n}"
    now = time.time()
    with store.backend.transaction() as tx:
        tx.execute(
            "INSERT INTO items (item_id, access_token, institution, client_user_id,"
            " created_at, client_id, redirect_uri, public_ref)"
            " VALUES (?, 'access-sandbox-seven', NULL, 'u', ?, 'client', ?, ?)",
            (f"item-{n}", now, CALLBACK, f"itm_{n}"),
        )
        tx.execute(
            "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
            " expires_at, link_token, hosted_return, hosted_salt, hosted_status,"
            " hosted_public_token) VALUES (?, 'client', ?, 'q', ?, ?, ?, ?, 'salt', NULL, NULL)",
            (f"sess-{n}", CALLBACK, now, now + 600, link_token, f"ret-{n}"),
        )
        item_ref = tx.execute("SELECT id FROM items WHERE item_id = ?", (f"item-{n}",)).fetchone()
        tx.execute(
            "INSERT INTO codes (digest, client_id, redirect_uri, item_ref, created_at,"
            " expires_at, used_at) VALUES (?, 'client', ?, ?, ?, ?, ?)",
            (f"code-{n}", CALLBACK, item_ref["id"], now, now + 60, now),
        )
        tx.execute(
            "INSERT INTO refresh_tokens (digest, client_id, item_ref, code_digest,"
            " created_at) VALUES (?, 'client', ?, ?, ?)",
            (digest(refresh_token), item_ref["id"], f"code-{n}", now),
        )
    return refresh_token, link_token


@pytest.mark.backends("sqlite", "postgresql")
def test_a_version_7_store_is_sealed_when_it_migrates(store_backend: str, home: Path) -> None:
    settings = settings_module.load()
    refresh_token, link_token = write_a_version_7_store(settings)
    with open_store(settings.bridge_store, pool_size=1) as store:
        assert store.schema_versions == (7, migrations.LATEST)
        [(sealed, token_digest)] = rows(settings, "SELECT access_token, access_token_digest"
                                                  " FROM items")  # fmt: skip
        assert sealed.startswith("ks1.") and "seven" not in sealed and token_digest
        assert "link-sandbox" not in str(rows(settings, "SELECT link_token FROM sessions"))
        assert store.use_refresh_token(refresh_token).access_token == "access-sandbox-seven"
        assert store.record_item_health("access-sandbox-seven", "ITEM_LOGIN_REQUIRED", None)
        assert store.record_hosted_result(link_token, "SUCCESS", "public-sandbox-7")
        [hosted] = rows(settings, "SELECT hosted_public_token FROM sessions")
        assert hosted[0].startswith("ks1.")


def test_the_migration_is_one_transaction(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_module.load()
    write_a_version_7_store(settings)
    from kore_plaid_nb.bridge.store import bridge_store

    def half_done(tx, keyring) -> None:  # seals, then the process fails
        real(tx, keyring)
        raise RuntimeError("disk gone")

    real = bridge_store.seal_plain_rows
    monkeypatch.setattr(bridge_store, "seal_plain_rows", half_done)
    with pytest.raises(StoreConfigError):
        open_store(settings.bridge_store, pool_size=1)
    assert rows(settings, "SELECT access_token FROM items") == [("access-sandbox-seven",)]
    assert rows(settings, "SELECT MAX(version) FROM schema_version") == [(7,)]


# ---------------------------------------------------------------- a wrong key

REFRESH_STATE = "SELECT digest, revoked_at, last_used_at FROM refresh_tokens"


def test_a_wrong_key_is_a_503_and_changes_nothing(bridge: Bridge) -> None:
    grant = bridge.authorize()
    code = bridge.mint_code()
    store = bridge.app.state.store
    before = rows(bridge.settings, "SELECT * FROM items ORDER BY id")
    used = rows(bridge.settings, REFRESH_STATE)
    codes = rows(bridge.settings, "SELECT used_at FROM codes ORDER BY created_at")
    right = store.db.keyring
    store.db.keyring = Keyring(os.urandom(32))
    try:
        for answer in (bridge.refresh(grant.refresh_token), bridge.exchange(code)):
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "temporarily_unavailable"
            assert "encryption key" in body["error_description"]
            assert "BRIDGE_ENCRYPTION_KEY" in json.dumps(body)
            assert "access-" not in answer.text
    finally:
        store.db.keyring = right
    assert rows(bridge.settings, "SELECT * FROM items ORDER BY id") == before
    assert rows(bridge.settings, REFRESH_STATE) == used
    assert rows(bridge.settings, "SELECT used_at FROM codes ORDER BY created_at") == codes
    assert bridge.refreshed(grant.refresh_token) == grant.access_token  # nothing lost
    assert bridge.exchange(code).json()["access_token"] == ACCESS_TOKEN


# ---------------------------------------------------------------- keys rotate


@pytest.mark.backends("sqlite", "postgresql")
def test_keys_rotate_reseals_every_row_under_the_current_key(
    store_backend: str, bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    grants = [bridge.authorize() for _ in range(3)]
    old_kid = bridge.app.state.store.db.keyring.current.kid
    old_key = store_keyring(bridge.settings)
    new_key = new_key_text()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new_key)
    key_file = bridge.settings.home / KEY_FILE_NAME  # SQLite: made on first start
    old_text = bridge.settings.bridge_encryption_key or key_file.read_text().strip()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEYS", old_text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["keys", "rotate", "--json", "--batch", "2"]) == 0
    counts = json.loads(out.getvalue())
    new_kid = Keyring.from_text(new_key).current.kid
    assert counts == {"key_id": new_kid, "resealed": 3, "changed_meanwhile": 0,
                      "unreadable": 0, "left": 0, "scrubbed": True}  # fmt: skip
    assert old_kid != new_kid and old_key.current.kid == old_kid
    for sealed, token_digest in rows(bridge.settings, "SELECT access_token, access_token_digest"
                                                      " FROM items"):  # fmt: skip
        assert sealed.startswith(f"ks1.{new_kid}.") and token_digest.startswith(f"{new_kid}:")
    assert where_on_disk(bridge.settings, f"ks1.{old_kid}.".encode()) == []  # nor free pages
    monkeypatch.delenv("BRIDGE_ENCRYPTION_KEYS")  # the old key is no longer needed
    assert stored_access_tokens(settings_module.load()) == [g.access_token for g in grants]
    assert new_key not in out.getvalue()  # counts, never a key or a value
    assert "access-" not in out.getvalue()
    audit = io.StringIO()
    with contextlib.redirect_stdout(audit):
        assert cli.main(["audit", "--json"]) == 0
    records = json.loads(audit.getvalue())["records"]
    rotated = [r for r in records if r["event"] == "encryption_key_rotated"]
    assert len(rotated) == 1 and f"key {new_kid}: 3 row(s) re-encrypted" in rotated[0]["detail"]
    assert new_key not in audit.getvalue() and old_text not in audit.getvalue()


def test_keys_rotate_leaves_what_no_key_opens_and_says_so(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = one_item_stored()
    before = rows(settings, "SELECT access_token FROM items")
    (home / KEY_FILE_NAME).unlink()  # the old key forgotten
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new_key_text())
    assert cli.main(["keys", "rotate"]) == 1
    printed = capsys.readouterr().out
    assert "no configured key opens: 1" in printed and "BRIDGE_ENCRYPTION_KEYS" in printed
    assert rows(settings, "SELECT access_token FROM items") == before


# ---------------------------------------------------------------- rotation under load


@pytest.fixture
def new_key_over_old(store_backend: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The replicas' configuration mid-rotation: a new current key, the old one kept."""
    old, new = new_key_text(), new_key_text()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new)
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEYS", old)
    return old, new


def seed_items_under(settings: settings_module.Settings, key: str, count: int) -> dict[str, str]:
    """Items (with a refresh token each) sealed under ``key``, as the replicas' previous
    configuration stored them: {refresh token: access token}."""
    seeded = {}
    with open_store(settings.bridge_store, pool_size=1, keyring=Keyring.from_text(key)) as store:
        for n in range(count):
            code, refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            item = ItemRecord(f"item-seed-{n}", f"access-sandbox-seed-{n:04d}", None, "u")
            store.save_authorization(secrets.token_urlsafe(32), item, code, settings.client_id,
                                     CALLBACK, None, None, 600)  # fmt: skip
            assert store.redeem_code(code, refresh_token)
            seeded[refresh_token] = item.access_token
    return seeded


@pytest.mark.backends("replicas")
def test_keys_rotate_while_2_postgresql_replicas_serve_50_users(
    new_key_over_old: tuple[str, str], bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    old, new = new_key_over_old
    seeded = seed_items_under(bridge.settings, old, 25)
    rotations: list[dict[str, int]] = []
    done = False

    def rotate_until_done() -> None:
        with open_bridge_store(bridge.settings, pool_size=1) as store:
            while not done or not rotations:
                rotations.append(store.reseal(batch=3).as_json())

    def refreshed(refresh_token: str) -> bool:
        answer = bridge.refresh(refresh_token)
        return answer.status_code == 200 and answer.json()["access_token"] == seeded[refresh_token]

    with ThreadPoolExecutor(8) as pool:
        rotating = pool.submit(rotate_until_done)
        try:
            users = [pool.submit(bridge.authorize) for _ in range(50)]
            refreshes = [pool.submit(refreshed, token) for token in seeded]
            grants = [user.result() for user in users]  # each asserts its 200
            assert all(r.result() for r in refreshes)
        finally:  # a failed assertion must not leave the reseal thread running
            done = True
        rotating.result()
    assert len({g.access_token for g in grants}) == 50  # 0 failed authorizations
    assert sum(r["resealed"] for r in rotations) >= 25
    assert all(r["unreadable"] == 0 for r in rotations)
    with open_bridge_store(bridge.settings, pool_size=1) as store:
        final = store.reseal().as_json()
    assert final["left"] == 0 and final["unreadable"] == 0
    # every token readable with the new key alone
    monkeypatch.delenv("BRIDGE_ENCRYPTION_KEYS")
    assert Keyring.from_text(new).current.kid in rows(bridge.settings,
        "SELECT access_token FROM items LIMIT 1")[0][0]  # fmt: skip
    expected = {g.access_token for g in grants} | set(seeded.values())
    assert set(stored_access_tokens(settings_module.load())) == expected


def test_a_key_file_planted_as_a_symlink_is_refused(home: Path, tmp_path: Path) -> None:
    planted = tmp_path / "attacker.key"
    planted.write_text(new_key_text())
    planted.chmod(0o600)
    (home / KEY_FILE_NAME).symlink_to(planted)
    with pytest.raises(StoreConfigError, match="cannot be read"):
        store_keyring(settings_module.load())


# ---------------------------------------------------------------- nothing left on disk


@pytest.mark.backends("sqlite", "postgresql")
def test_a_migrated_store_keeps_no_plain_token_on_disk(store_backend: str, home: Path) -> None:
    """The plain values a version 7 store held are gone from free pages, the WAL and (on
    PostgreSQL) dead rows, not only from the live rows."""
    settings = settings_module.load()
    write_a_version_7_store(settings)
    assert where_on_disk(settings, b"access-sandbox-seven")  # the test sees them before
    with open_store(settings.bridge_store, pool_size=1) as store:
        assert store.schema_versions == (7, migrations.LATEST)
        assert where_on_disk(settings, b"access-") == []  # while the bridge runs
        assert where_on_disk(settings, b"link-sandbox-7777") == []
    assert where_on_disk(settings, b"access-") == []
    assert stored_access_tokens(settings) == ["access-sandbox-seven"]


# ---------------------------------------------------------------- a rolling upgrade


@pytest.mark.backends("sqlite", "postgresql")
def test_what_an_old_replica_wrote_after_the_migration_is_sealed_at_the_next_start(
    store_backend: str, home: Path
) -> None:
    settings = settings_module.load()
    with open_store(settings.bridge_store, pool_size=1) as store:
        assert store.schema_versions[1] == migrations.LATEST
        refresh_token, link_token = write_as_an_old_bridge(store, 8)  # an old replica, meanwhile
    with open_store(settings.bridge_store, pool_size=1) as store:
        [(sealed, token_digest)] = rows(settings, "SELECT access_token, access_token_digest"
                                                  " FROM items")  # fmt: skip
        assert sealed.startswith(f"ks1.{store.current_key_id}.") and token_digest
        [(link, link_digest)] = rows(settings, "SELECT link_token, link_token_digest"
                                               " FROM sessions")  # fmt: skip
        assert link.startswith("ks1.") and link_digest
        assert store.use_refresh_token(refresh_token).access_token == "access-sandbox-seven"
        assert store.record_item_health("access-sandbox-seven", "ITEM_LOGIN_REQUIRED", None)
        assert store.record_hosted_result(link_token, "SUCCESS", "public-sandbox-8")
    assert where_on_disk(settings, b"access-") == []


@contextlib.contextmanager
def an_older_snapshot(settings: settings_module.Settings) -> Iterator[psycopg.Connection]:
    """Another transaction (a replica's, autovacuum's ANALYZE) that still sees the store's
    rows as they are now, so PostgreSQL keeps their old versions until it ends."""
    with psycopg.connect(str(settings.bridge_db_url), autocommit=True) as reader:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT COUNT(*) FROM items")
        yield reader


@pytest.mark.backends("postgresql")
def test_plain_rows_another_transaction_still_sees_are_cleared_once_it_ends(
    store_backend: str, home: Path
) -> None:
    settings = settings_module.load()
    with open_store(settings.bridge_store, pool_size=1) as store:
        write_as_an_old_bridge(store, 8)
    with an_older_snapshot(settings) as reader:
        threading.Timer(1.0, reader.execute, ("COMMIT",)).start()
        with open_store(settings.bridge_store, pool_size=1):
            pass  # sealed at the start; its VACUUM waits for the reader
    assert where_on_disk(settings, b"access-") == []


@pytest.mark.backends("postgresql")
def test_plain_rows_kept_past_the_bridges_patience_are_warned_with_the_command(
    store_backend: str, home: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from kore_plaid_nb.bridge.store import postgres

    monkeypatch.setattr(postgres, "SCRUB_PATIENCE_SECONDS", 0.5)
    settings = settings_module.load()
    with open_store(settings.bridge_store, pool_size=1) as store:
        write_as_an_old_bridge(store, 8)
    with an_older_snapshot(settings), open_store(settings.bridge_store, pool_size=1):
        pass
    assert "could not be cleared from disk now" in caplog.text
    assert "VACUUM items, sessions" in caplog.text
    assert where_on_disk(settings, b"access-") == ["files"]
    with psycopg.connect(str(settings.bridge_db_url), autocommit=True) as owner:
        owner.execute("VACUUM items, sessions")  # what the warning says to run
    assert where_on_disk(settings, b"access-") == []


# ---------------------------------------------------------------- a key file, then a key


def test_a_later_bridge_encryption_key_still_opens_what_the_key_file_sealed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    one_item_stored()
    key_file = home / KEY_FILE_NAME
    capsys.readouterr()
    new_key = new_key_text()
    monkeypatch.setenv("BRIDGE_ENCRYPTION_KEY", new_key)
    for _ in range(2):  # two starts in one process: told once
        with open_bridge_store(settings_module.load()) as store:
            assert store.find_code("c").access_token == ACCESS_TOKEN
            assert store.current_key_id == Keyring.from_text(new_key).current.kid
    printed = capsys.readouterr().err
    assert printed.count(str(key_file)) == 1, printed
    assert "decrypt" in printed and "kore-plaid keys rotate" in printed
    assert key_file.read_text().strip() not in printed and new_key not in printed
    assert cli.main(["keys", "rotate", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["resealed"] == 1 and counts["left"] == 0


# ---------------------------------------------------------------- keys new, keys rotate --help


def test_keys_new_prints_a_fresh_key_and_stores_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(home.rglob("*"))
    assert cli.main(["keys", "new"]) == 0
    assert cli.main(["keys", "new"]) == 0
    one, two = capsys.readouterr().out.split()
    assert one != two and Keyring.from_text(one).current.kid != Keyring.from_text(two).current.kid
    assert sorted(home.rglob("*")) == before
    with pytest.raises(StoreConfigError) as refused:
        Keyring.from_text("not-a-key")
    assert "kore-plaid keys new" in refused.value.fix


def test_every_text_that_makes_a_key_points_at_keys_new() -> None:
    root = Path(__file__).resolve().parents[1]
    texts = [root / "README.md", root / "deploy" / "bridge.env.example",
             *sorted((root / "kore_plaid_nb").rglob("*.py"))]  # fmt: skip
    one_liner = [str(t.relative_to(root)) for t in texts if "urandom(32)" in t.read_text()]
    assert one_liner == []
    assert "kore-plaid keys new" in (root / "README.md").read_text()
    assert "kore-plaid keys new" in (root / "deploy" / "bridge.env.example").read_text()


def test_keys_rotate_tells_the_rotation_steps_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["keys", "rotate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    starts = [text.index(f"{n}) ") for n in (1, 2, 3, 4)]
    assert starts == sorted(starts)
    add, make_current, rotate, drop = (
        text[a:b] for a, b in zip(starts, [*starts[1:], None], strict=True)
    )
    assert "BRIDGE_ENCRYPTION_KEYS" in add and "every replica" in add
    assert "BRIDGE_ENCRYPTION_KEY " in make_current and "everywhere" in make_current
    assert "kore-plaid keys rotate" in rotate
    assert "left" in drop and "0" in drop and "BRIDGE_ENCRYPTION_KEYS" in drop


# ---------------------------------------------------------------- a value changed meanwhile


@pytest.mark.backends("postgresql")
def test_a_token_rotated_between_a_batch_read_and_its_write_is_kept(
    store_backend: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.bridge.store import resealing

    settings = settings_module.load()
    old, new = new_key_text(), new_key_text()
    with open_store(settings.bridge_store, pool_size=1, keyring=Keyring.from_text(old)) as store:
        store.save_authorization("s", ItemRecord("i", ACCESS_TOKEN, None, "u"), "c", "client",
                                 CALLBACK, None, None, 60)  # fmt: skip
    mid_rotation = Keyring.from_text(new, [old])
    rotating = open_store(settings.bridge_store, pool_size=1, keyring=mid_rotation)
    replica = open_store(settings.bridge_store, pool_size=1, keyring=mid_rotation)
    real_write = resealing._write

    def replica_rotates_first(tx, table, row, changes) -> bool:  # read done, write next
        if table.name == "items":
            assert replica.replace_access_token(row["id"], ACCESS_TOKEN, "access-sandbox-new")
        return real_write(tx, table, row, changes)

    monkeypatch.setattr(resealing, "_write", replica_rotates_first)
    with rotating, replica:
        counts = rotating.reseal().as_json()
        assert counts == {"resealed": 0, "changed_meanwhile": 1, "unreadable": 0, "left": 0,
                          "scrubbed": True}  # fmt: skip
        assert rotating.find_code("c").access_token == "access-sandbox-new"


# ---------------------------------------------------------------- waiting for a SQLite lock


@pytest.mark.backends("sqlite", "postgresql")
def test_the_store_says_how_long_a_call_may_wait_whatever_its_backend(
    store_backend: str, home: Path
) -> None:
    with open_bridge_store(settings_module.load(), pool_size=1) as store:
        with store.waiting_at_most(0):
            store.check()  # nothing held: answers
        if store.dialect == "sqlite":
            with store.backend._lock, store.waiting_at_most(0):  # held (another request)
                with pytest.raises(StoreUnavailable):
                    store.check()
    routes = Path(__file__).resolve().parents[1] / "kore_plaid_nb" / "bridge" / "routes"
    for route in routes.glob("*.py"):  # routes know the store, not its backends
        assert "store.sqlite" not in route.read_text() and "store.postgres" not in route.read_text()
