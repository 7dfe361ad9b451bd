"""Read the bridge's store from a test, whatever its backend (SQLite file or PostgreSQL)."""

from __future__ import annotations

import contextlib
import sqlite3

import psycopg

from kore_plaid_nb.bridge.store import store_keyring
from kore_plaid_nb.bridge.store.placeholders import to_pyformat
from kore_plaid_nb.settings import Settings


def rows(settings: Settings, sql: str, args: tuple = ()) -> list[tuple]:
    """Run one query (``?`` placeholders) against the store the settings name."""
    url = settings.bridge_db_url
    if url is not None:
        with psycopg.connect(url) as conn:
            return conn.execute(to_pyformat(sql), args).fetchall()
    with contextlib.closing(sqlite3.connect(settings.bridge_db_path)) as db:
        return db.execute(sql, args).fetchall()


def change(settings: Settings, sql: str, args: tuple = ()) -> None:
    """Run one statement that changes the store, committed (what the bridge's own methods
    cannot write: an old bridge's rows, a removal behind its back)."""
    url = settings.bridge_db_url
    if url is not None:
        with psycopg.connect(url) as conn:
            conn.execute(to_pyformat(sql), args)
        return
    with contextlib.closing(sqlite3.connect(settings.bridge_db_path)) as db, db:
        db.execute(sql, args)


def one(settings: Settings, sql: str, args: tuple = ()) -> object:
    return rows(settings, sql, args)[0][0]


def assert_consistent(settings: Settings) -> None:
    """The store as a crash left it: intact, every reference resolved, no half record."""
    if settings.bridge_db_url is None:
        assert one(settings, "PRAGMA integrity_check") == "ok"
        assert rows(settings, "PRAGMA foreign_key_check") == []
    assert (
        one(settings, "SELECT COUNT(*) FROM items WHERE id NOT IN (SELECT item_ref FROM codes)")
        == 0
    ), "an Item without its code"
    assert (
        one(
            settings,
            "SELECT COUNT(*) FROM refresh_tokens"
            " WHERE code_digest NOT IN (SELECT digest FROM codes)"
            " OR item_ref NOT IN (SELECT id FROM items)",
        )
        == 0
    ), "a refresh token without its code or Item"
    assert (
        one(
            settings,
            "SELECT COUNT(*) FROM codes WHERE used_at IS NOT NULL"
            " AND digest NOT IN (SELECT code_digest FROM refresh_tokens)",
        )
        == 0
    ), "a code honoured without the refresh token it grants"
    assert one(settings, "SELECT COUNT(*) FROM items WHERE access_token = ''") == 0


# The sealed secrets (issue 23), opened with the store's key as the bridge would.


def token_digest(settings: Settings, token: str) -> str:
    """The lookup digest the store keeps for an access or Link token."""
    return store_keyring(settings).digest(token)


def stored_access_tokens(settings: Settings) -> list[str]:
    """The Items' access tokens, oldest first, opened with the store's key."""
    keyring = store_keyring(settings)
    found = rows(settings, "SELECT item_id, access_token FROM items ORDER BY id")
    return [keyring.unseal(sealed, "items", "access_token", item_id) for item_id, sealed in found]


def stored_link_tokens(settings: Settings) -> list[str]:
    """The Hosted Link sessions' Link tokens, opened with the store's key."""
    keyring = store_keyring(settings)
    found = rows(settings, "SELECT digest, link_token FROM sessions WHERE link_token IS NOT NULL")
    return [keyring.unseal(sealed, "sessions", "link_token", key) for key, sealed in found]


def hosted_results(settings: Settings, link_token: str) -> list[tuple[str | None, str | None]]:
    """(hosted_status, public token opened) of the session given ``link_token``."""
    keyring = store_keyring(settings)
    found = rows(
        settings,
        "SELECT digest, hosted_status, hosted_public_token FROM sessions"
        " WHERE link_token_digest = ?",
        (keyring.digest(link_token),),
    )
    return [
        (status, None if sealed is None else
         keyring.unseal(sealed, "sessions", "hosted_public_token", key))
        for key, status, sealed in found
    ]  # fmt: skip
