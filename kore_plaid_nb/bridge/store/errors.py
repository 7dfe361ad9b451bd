"""The store's failures, as the runbook shows them: what went wrong and what to do."""

from __future__ import annotations

from ...errors import RunbookError, SettingsError


class StoreConfigError(SettingsError):
    """BRIDGE_DB names a store the bridge cannot open (wrong URL, password, database)."""


class StoreUnavailable(RunbookError):
    """The database cannot answer right now (down, restarting, overloaded): HTTP 503 with
    ``Retry-After``; nothing was half-written, and the client may simply retry."""

    retry_after = 5


class StoreLocked(StoreUnavailable):
    """A lock another thread, process or program holds: the same call, made again shortly,
    will most likely succeed (a 503 like any other when it is not waited for)."""


class StoreVersionError(SettingsError):
    """The store was migrated by a newer bridge than this one."""
