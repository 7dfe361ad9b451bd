"""The bridge's store: one interface (:class:`BridgeStore`), two backends.

``BRIDGE_DB`` chooses: a ``postgresql://user:password@host:port/db`` URL puts the store on
PostgreSQL (several replicas, several hosts); a file path, or nothing, keeps SQLite
(``$KORE_PLAID_HOME/bridge.sqlite3``). The schema is versioned and migrated on open.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...settings import POSTGRES_SCHEMES, Settings
from .bridge_store import BridgeStore
from .database import Clock
from .errors import StoreConfigError, StoreUnavailable, StoreVersionError
from .records import (
    AuthorizationRow,
    CodeRecord,
    Health,
    HostedSession,
    ItemRecord,
    ItemStatus,
    RefreshRecord,
    RepairClaim,
    RepairItem,
    SessionClaim,
    SessionRecord,
    StoreProblem,
    digest,
    public_ref,
)

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
    "RefreshRecord",
    "RepairClaim",
    "RepairItem",
    "SessionClaim",
    "SessionRecord",
    "StoreConfigError",
    "StoreUnavailable",
    "StoreVersionError",
    "digest",
    "is_postgres_url",
    "open_existing_store",
    "open_store",
    "public_ref",
]


def is_postgres_url(target: str | Path) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


def open_store(
    target: str | Path, pool_size: int | None = None, clock: Clock = time.time
) -> BridgeStore:
    """Open (and migrate) the store at ``target``: a ``postgresql://`` URL or a file path;
    ``with open_store(...) as store:`` closes it. ``clock``: seconds since the epoch.
    Raises :class:`StoreConfigError` with one readable line when it cannot be opened."""
    if is_postgres_url(target):
        from .postgres import DEFAULT_POOL_SIZE, PostgresBackend

        return BridgeStore(PostgresBackend(str(target), pool_size or DEFAULT_POOL_SIZE), clock)
    from .sqlite import SQLiteBackend

    return BridgeStore(SQLiteBackend(Path(target)), clock)


def open_existing_store(
    settings: Settings, pool_size: int = 2, clock: Clock = time.time
) -> BridgeStore | None:
    """The bridge's store for a reader (the CLI, the notebooks), or None for a SQLite file
    that was never created (no bridge ran yet: nothing to list)."""
    if settings.bridge_db_url is None and not settings.bridge_db_path.exists():
        return None
    return open_store(settings.bridge_store, pool_size=pool_size, clock=clock)
