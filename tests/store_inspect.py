"""Read the bridge's store from a test, whatever its backend (SQLite file or PostgreSQL)."""

from __future__ import annotations

import contextlib
import sqlite3

import psycopg

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
