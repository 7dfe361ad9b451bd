"""Audit writes held back while a request's store calls may not wait for a lock.

An inline SQLite refresh runs on the event loop under ``waiting_at_most(0)``: an audit
record written there would be lost (:func:`.audit.record_audit` logs and drops it) whenever
another program holds the write lock for a moment. Inside :func:`holding_audits`,
:func:`audit_later` keeps the write; the caller runs it (:func:`write_held`) once outside
that scope, in the thread pool. Outside such a scope :func:`audit_later` writes at once.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .store import StoreUnavailable

log = logging.getLogger("kore_plaid_nb.bridge")
AuditWrite = Callable[[], None]

_held: contextvars.ContextVar[list[AuditWrite] | None] = contextvars.ContextVar(
    "held_audit_writes", default=None
)


@contextmanager
def holding_audits() -> Iterator[list[AuditWrite]]:
    """Audit writes made inside are kept in the list yielded, not run."""
    held: list[AuditWrite] = []
    reset = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(reset)


def audit_later(write: AuditWrite) -> None:
    """Run ``write`` now, or keep it when inside :func:`holding_audits`."""
    held = _held.get()
    if held is None:
        write()
    else:
        held.append(write)


def write_held(held: list[AuditWrite]) -> None:
    """Run the writes kept by :func:`holding_audits`; a store that cannot answer costs one
    log line, as in :func:`.audit.record_audit`."""
    for write in held:
        try:
            write()
        except StoreUnavailable as exc:
            log.warning("audit record not stored: %s", exc.message)
