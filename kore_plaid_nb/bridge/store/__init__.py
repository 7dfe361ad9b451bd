"""The bridge's store: one interface (:class:`BridgeStore`), two backends.

``BRIDGE_DB`` chooses: a ``postgresql://user:password@host:port/db`` URL puts the store on
PostgreSQL (several replicas, several hosts); a file path, or nothing, keeps SQLite
(``$KORE_PLAID_HOME/bridge.sqlite3``). The schema is versioned and migrated on open. The
secrets it must read back are sealed with the key of :func:`.key_file.store_keyring`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ...settings import POSTGRES_SCHEMES, Settings, load
from .bridge_store import BridgeStore
from .database import Backend, Clock
from .errors import StoreConfigError, StoreLocked, StoreUnavailable, StoreVersionError
from .key_file import store_keyring
from .records import (
    AuthorizationRow,
    CodeRecord,
    Health,
    HostedSession,
    ItemRecord,
    ItemStatus,
    LinkTokenGrant,
    RefreshRecord,
    RepairClaim,
    RepairItem,
    SessionClaim,
    SessionRecord,
    StoreProblem,
    digest,
    public_ref,
)
from .resealing import ResealCounts
from .sealed import Keyring, StoreKeyError

__all__ = [
    "AuthorizationRow",
    "BridgeStore",
    "Clock",
    "Health",
    "StoreProblem",
    "CodeRecord",
    "HostedSession",
    "ItemRecord",
    "ItemStatus",
    "LinkTokenGrant",
    "Keyring",
    "RefreshRecord",
    "RepairClaim",
    "RepairItem",
    "ResealCounts",
    "SessionClaim",
    "SessionRecord",
    "StoreConfigError",
    "StoreKeyError",
    "StoreLocked",
    "StoreUnavailable",
    "StoreVersionError",
    "digest",
    "is_postgres_url",
    "open_bridge_store",
    "open_existing_store",
    "open_store",
    "public_ref",
    "store_keyring",
]


def is_postgres_url(target: str | Path) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


def open_store(
    target: str | Path,
    pool_size: int | None = None,
    clock: Clock = time.time,
    keyring: Keyring | None = None,
) -> BridgeStore:
    """Open (and migrate) the store at ``target``: a ``postgresql://`` URL or a file path;
    ``with open_store(...) as store:`` closes it. ``clock``: seconds since the epoch;
    ``keyring``: default, the one the settings of this environment give (:func:`load`).
    Raises :class:`StoreConfigError` with one readable line when it cannot be opened."""
    return _open(target, pool_size, clock, lambda: keyring or store_keyring(load(), target))


def open_bridge_store(
    settings: Settings, pool_size: int | None = None, clock: Clock = time.time
) -> BridgeStore:
    """The store ``settings`` name, with their key (:func:`store_keyring`)."""
    return _open(settings.bridge_store, pool_size, clock, lambda: store_keyring(settings))


def _open(
    target: str | Path, pool_size: int | None, clock: Clock, keyring: Callable[[], Keyring]
) -> BridgeStore:
    backend: Backend
    if is_postgres_url(target):
        from .postgres import DEFAULT_POOL_SIZE, PostgresBackend

        backend = PostgresBackend(str(target), pool_size or DEFAULT_POOL_SIZE)
    else:
        from .sqlite import SQLiteBackend

        backend = SQLiteBackend(Path(target))
    try:  # after the backend: a wrong BRIDGE_DB is told first, and makes no key file
        keys = keyring()
    except BaseException:
        backend.close()
        raise
    return BridgeStore(backend, clock, keyring=keys)


def open_existing_store(
    settings: Settings, pool_size: int = 2, clock: Clock = time.time
) -> BridgeStore | None:
    """The bridge's store for a reader (the CLI, the notebooks), or None for a SQLite file
    that was never created (no bridge ran yet: nothing to list)."""
    if settings.bridge_db_url is None and not settings.bridge_db_path.exists():
        return None
    return open_bridge_store(settings, pool_size=pool_size, clock=clock)
