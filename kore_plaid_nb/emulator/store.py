"""SQLite persistence of the emulator's link tokens, public tokens and Items.

The file lives in the state folder (``<home>/emulator.sqlite3`` by default), so a restarted
emulator still knows the Items (and access tokens) that the bridge holds.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

from .data import derived_id

PUBLIC_TOKEN_TTL = 30 * 60
LINK_TOKEN_TTL = 4 * 60 * 60
ENVIRONMENT = "sandbox"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    access_token TEXT UNIQUE NOT NULL,
    institution_id TEXT NOT NULL,
    products TEXT NOT NULL,
    webhook TEXT,
    error_code TEXT,
    removed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS public_tokens (
    token TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS link_tokens (
    token TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_states (
    state_id TEXT PRIMARY KEY,
    link_token TEXT NOT NULL,
    institution_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS link_sessions (
    link_session_id TEXT PRIMARY KEY,
    link_token TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    item_add_results TEXT NOT NULL DEFAULT '[]',
    exit TEXT
);
CREATE TABLE IF NOT EXISTS hosted_links (
    hosted_id TEXT PRIMARY KEY,
    link_token TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS synced_items (
    item_id TEXT PRIMARY KEY
);
"""


def new_token(kind: str) -> str:
    """``link-sandbox-<uuid4>``, ``public-sandbox-<uuid4>`` or ``access-sandbox-<uuid4>``."""
    return f"{kind}-{ENVIRONMENT}-{uuid.uuid4()}"


class LinkConfig(TypedDict, total=False):
    """What a link token was created with (stored as JSON; older files may lack keys)."""

    language: str | None
    country_codes: list[str] | None
    client_user_id: str | None
    products: list[str]
    redirect_uri: str | None
    webhook: str | None
    update_item_id: str | None  # update mode: the Item to log in to again
    client_name: str | None
    created_at: float
    hosted_link: bool
    completion_redirect_uri: str | None
    account_filters: dict[str, object]
    institution_data: dict[str, object]


class LinkSession(TypedDict):
    """A Link session of a link token, as ``/link/token/get`` reports it."""

    link_session_id: str
    started_at: float
    finished_at: float | None
    item_add_results: list[dict[str, object]]
    exit: dict[str, object] | None


class SigningKey(NamedTuple):
    """A webhook signing key (P-256)."""

    kid: str
    private_key_pem: str
    created_at: int


@dataclass(frozen=True)
class Item:
    item_id: str
    access_token: str
    institution_id: str
    products: tuple[str, ...]
    webhook: str | None
    error_code: str | None
    removed: bool
    created_at: float


class Store:
    """Thread-safe access to the emulator's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # the file holds access tokens: owner-only (SQLite gives -wal/-shm the same mode)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(link_sessions)")}
        if "exit" not in columns:  # a state file from before Link exits were recorded
            self._db.execute("ALTER TABLE link_sessions ADD COLUMN exit TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ link tokens

    def create_link_token(self, config: LinkConfig, now: float | None = None) -> tuple[str, float]:
        token = new_token("link")
        expires_at = (now or time.time()) + LINK_TOKEN_TTL
        with self._lock:
            self._db.execute(
                "INSERT INTO link_tokens VALUES (?, ?, ?)", (token, expires_at, json.dumps(config))
            )
        return token, expires_at

    def link_token(self, token: str, now: float | None = None) -> LinkConfig | None:
        """The configuration a link token was created with; None if unknown or expired."""
        with self._lock:
            row = self._db.execute(
                "SELECT expires_at, config FROM link_tokens WHERE token = ?", (token,)
            ).fetchone()
        if row is None or row[0] < (now or time.time()):
            return None
        config: LinkConfig = json.loads(row[1])
        return config

    # ------------------------------------------------------------------ OAuth states

    def create_oauth_state(self, link_token: str, institution_id: str) -> str:
        state_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute(
                "INSERT INTO oauth_states VALUES (?, ?, ?, ?)",
                (state_id, link_token, institution_id, time.time() + LINK_TOKEN_TTL),
            )
        return state_id

    def take_oauth_state(self, state_id: str, link_token: str) -> str | None:
        """The institution id of an OAuth redirect started by ``link_token``; single use."""
        with self._lock:
            row = self._db.execute(
                "SELECT institution_id, expires_at FROM oauth_states "
                "WHERE state_id = ? AND link_token = ?",
                (state_id, link_token),
            ).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM oauth_states WHERE state_id = ?", (state_id,))
        if row is None or row[1] < time.time():
            return None
        return str(row[0])

    # ------------------------------------------------------------------ webhook signing keys

    def signing_key(self, kid: str | None = None) -> SigningKey | None:
        """That key, or the newest; None if none."""
        sql = "SELECT kid, private_key, created_at FROM signing_keys"
        args: tuple[str, ...] = ()
        if kid is None:
            sql += " ORDER BY created_at DESC, kid LIMIT 1"
        else:
            sql, args = sql + " WHERE kid = ?", (kid,)
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return SigningKey(str(row[0]), str(row[1]), int(row[2])) if row else None

    def add_signing_key(self, key: SigningKey) -> None:
        with self._lock:
            self._db.execute("INSERT INTO signing_keys VALUES (?, ?, ?)", tuple(key))

    # ------------------------------------------------------------------ Link sessions

    def start_link_session(self, link_token: str, link_session_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO link_sessions (link_session_id, link_token, started_at) "
                "VALUES (?, ?, ?)",
                (link_session_id, link_token, time.time()),
            )

    def finish_link_session(
        self, link_token: str, link_session_id: str, item_add_result: dict[str, object]
    ) -> None:
        """Record a successful login of a Link session (started now if it was not before)."""
        self.start_link_session(link_token, link_session_id)
        with self._lock:
            row = self._db.execute(
                "SELECT item_add_results FROM link_sessions WHERE link_session_id = ? "
                "AND link_token = ?",
                (link_session_id, link_token),
            ).fetchone()
            if row is None:
                return
            results = [*json.loads(row[0]), item_add_result]
            self._db.execute(
                "UPDATE link_sessions SET finished_at = ?, item_add_results = ? "
                "WHERE link_session_id = ?",
                (time.time(), json.dumps(results), link_session_id),
            )

    def exit_link_session(
        self, link_token: str, link_session_id: str, exit_: dict[str, object]
    ) -> bool:
        """Record that the user left a Link session without finishing it (started now if it
        was not before); False if the session had already finished or is another token's."""
        self.start_link_session(link_token, link_session_id)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE link_sessions SET finished_at = ?, exit = ? WHERE link_session_id = ? "
                "AND link_token = ? AND finished_at IS NULL",
                (time.time(), json.dumps(exit_), link_session_id, link_token),
            )
        return cursor.rowcount == 1

    def link_sessions(self, link_token: str) -> list[LinkSession]:
        """The sessions of a link token, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT link_session_id, started_at, finished_at, item_add_results, exit "
                "FROM link_sessions WHERE link_token = ? ORDER BY started_at, link_session_id",
                (link_token,),
            ).fetchall()
        return [
            {"link_session_id": r[0], "started_at": r[1], "finished_at": r[2],
             "item_add_results": json.loads(r[3]), "exit": json.loads(r[4]) if r[4] else None}
            for r in rows
        ]  # fmt: skip

    def create_hosted_link(self, link_token: str) -> str:
        """An opaque id for the Hosted Link URL of ``link_token``."""
        hosted_id = secrets.token_urlsafe(24)
        with self._lock:
            self._db.execute("INSERT INTO hosted_links VALUES (?, ?)", (hosted_id, link_token))
        return hosted_id

    def hosted_link_token(self, hosted_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT link_token FROM hosted_links WHERE hosted_id = ?", (hosted_id,)
            ).fetchone()
        return str(row[0]) if row else None

    # ------------------------------------------------------------------ items and tokens

    def create_item(
        self, institution_id: str, products: list[str], webhook: str | None = None
    ) -> Item:
        access_token = new_token("access")
        item_id = derived_id("item", access_token)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO items (item_id, access_token, institution_id, products, webhook, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (item_id, access_token, institution_id, json.dumps(products), webhook, now),
            )
        return Item(item_id, access_token, institution_id, tuple(products), webhook, None, False,
                    now)  # fmt: skip

    def create_public_token(self, item_id: str, now: float | None = None) -> str:
        token = new_token("public")
        with self._lock:
            self._db.execute(
                "INSERT INTO public_tokens VALUES (?, ?, ?, 0)",
                (token, item_id, (now or time.time()) + PUBLIC_TOKEN_TTL),
            )
        return token

    def redeem_public_token(self, token: str, now: float | None = None) -> tuple[str, Item | None]:
        """Mark a public token used. Returns (status, item): status is ``ok``, ``unknown``,
        ``used`` or ``expired``."""
        with self._lock:
            row = self._db.execute(
                "SELECT item_id, expires_at, used FROM public_tokens WHERE token = ?", (token,)
            ).fetchone()
            if row is None:
                return "unknown", None
            if row[2]:
                return "used", None
            if row[1] < (now or time.time()):
                return "expired", None
            self._db.execute("UPDATE public_tokens SET used = 1 WHERE token = ?", (token,))
        return "ok", self.item(row[0])

    def item(self, item_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return _item(row)

    def item_by_access_token(self, access_token: str) -> Item | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM items WHERE access_token = ?", (access_token,)
            ).fetchone()
        return _item(row)

    def set_item_error(self, item_id: str, error_code: str | None) -> None:
        self._update(item_id, "UPDATE items SET error_code = ? WHERE item_id = ?", error_code)

    def set_item_webhook(self, item_id: str, webhook: str | None) -> None:
        self._update(item_id, "UPDATE items SET webhook = ? WHERE item_id = ?", webhook)

    def add_products(self, item_id: str, products: list[str]) -> None:
        item = self.item(item_id)
        if item is None:
            return
        merged = list(dict.fromkeys([*item.products, *products]))
        self._update(item_id, "UPDATE items SET products = ? WHERE item_id = ?", json.dumps(merged))

    def rotate_access_token(self, item_id: str) -> str:
        """Give the Item a new access token; the old one no longer finds it. The item_id
        (and so all its data) stays."""
        access_token = new_token("access")
        self._update(item_id, "UPDATE items SET access_token = ? WHERE item_id = ?", access_token)
        return access_token

    def mark_synced(self, item_id: str) -> bool:
        """Record that ``/transactions/sync`` was called for the Item; True the first time."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO synced_items VALUES (?)", (item_id,))
        return cursor.rowcount == 1

    def synced(self, item_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM synced_items WHERE item_id = ?", (item_id,)
            ).fetchone()
        return row is not None

    def remove_item(self, item_id: str) -> None:
        self._update(item_id, "UPDATE items SET removed = ? WHERE item_id = ?", 1)

    def _update(self, item_id: str, sql: str, value: object) -> None:
        with self._lock:
            self._db.execute(sql, (value, item_id))


def _item(row: Sequence[Any] | None) -> Item | None:
    if row is None:
        return None
    item_id, access_token, institution_id, products, webhook, error_code, removed, created = row
    return Item(item_id, access_token, institution_id, tuple(json.loads(products)), webhook,
                error_code, bool(removed), created)  # fmt: skip
