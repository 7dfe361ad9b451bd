"""Request shapes reach the store off the request's path: :class:`RequestRecorder` queues them
and one writer thread per process stores whatever has queued up, in one transaction.

A request pays for building its shape and a queue put, not for a write that would contend
with the grants' own (measured, BENCHMARKS.md "Issue 22": storing each shape in its request's
thread-pool hop cost about 1.5 ms of CPU per authorization and a third of the refresh grant's
throughput on SQLite). When the writer is idle (no write in the last :data:`LINGER_SECONDS`),
it stores a shape at once, so that a reader in another process (notebook 06's next cell, a
``kore-plaid kore-requests`` beside a bridge service) sees it within milliseconds of its
answer. When busy, it lingers :data:`LINGER_SECONDS` for others and stores them all in one
transaction: at most some 20 writes a second under any load. A reader in the same process
flushes first (:func:`flush_all`), so what it lists is what was answered. The writer thread
starts with the first shape and stops after :data:`IDLE_SECONDS` without any, so an app that
is dropped leaves no thread behind; a forked child starts afresh (:func:`_reset_after_fork`).

A store that cannot take a batch costs one log line (how many shapes, never a value) and the
batch; at most :data:`MAX_PENDING` shapes wait, the newest are dropped beyond (counted, and
logged as a count once per batch).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref

from .request_shapes import RequestShape
from .store import BridgeStore, StoreUnavailable

log = logging.getLogger("kore_plaid_nb.bridge")

BATCH = 200
MAX_PENDING = 2000
IDLE_SECONDS = 5.0
LINGER_SECONDS = 0.05  # when busy, the writer waits this long after a first shape
FLUSH_SECONDS = 2.0

_recorders: weakref.WeakSet[RequestRecorder] = weakref.WeakSet()


class RequestRecorder:
    """Queues shapes for ``store``; thread-safe, never blocks a request, never raises."""

    def __init__(self, store: BridgeStore) -> None:
        self.store = store
        self._reset()
        _recorders.add(self)

    def _reset(self) -> None:
        """A fresh state: no thread, nothing queued (also in a forked child, where the
        parent's writer and lock holders do not exist)."""
        self._queue: queue.SimpleQueue[RequestShape] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending = 0
        self._dropped = 0  # since the last batch, beyond MAX_PENDING
        self._writer: threading.Thread | None = None
        self._hurry = threading.Event()  # a flush is waiting: no lingering
        self._last_write = float("-inf")  # time.monotonic() when the last write ended

    def submit(self, shape: RequestShape) -> None:
        """Queue ``shape``; the writer stores it shortly (dropped when too many wait)."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._dropped += 1
                return
            self._pending += 1
            self._queue.put(shape)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write, name="kore-requests-writer", daemon=True
                )
                self._writer.start()

    @property
    def writing(self) -> bool:
        """Whether this recorder's writer thread runs (it ends when idle)."""
        with self._lock:
            return self._writer is not None and self._writer.is_alive()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every queued shape is stored (or dropped); False on timeout."""
        hurry = self._hurry
        hurry.set()
        try:
            with self._lock:
                return self._lock.wait_for(lambda: self._pending == 0, timeout)
        finally:
            hurry.clear()

    def _write(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            try:
                self.store.record_requests(batch)
            except StoreUnavailable:
                log.warning("%d request shape(s) not recorded: the store cannot answer", len(batch))
            except Exception as exc:  # noqa: BLE001 - recording must never stop the writer
                log.warning("%d request shape(s) not recorded: %s", len(batch), type(exc).__name__)
            finally:
                self._written(len(batch))

    def _written(self, count: int) -> None:
        """A batch of ``count`` is done (stored or not): wake the flushes, log the drops."""
        with self._lock:
            self._last_write = time.monotonic()
            self._pending -= count
            dropped, self._dropped = self._dropped, 0
            self._lock.notify_all()
        if dropped:
            log.warning("%d request shape(s) dropped: too many waiting", dropped)

    def _busy(self) -> bool:
        return time.monotonic() - self._last_write < LINGER_SECONDS

    def _next_batch(self) -> list[RequestShape]:
        """The queued shapes (up to :data:`BATCH`); empty after :data:`IDLE_SECONDS` idle,
        when the thread then ends (the next :meth:`submit` starts another)."""
        try:
            batch = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._writer = None
                    return []
            return self._next_batch()
        if self._busy():  # a burst: wait for the others (a flush cuts it short)
            self._hurry.wait(LINGER_SECONDS)
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch


def flush_all(timeout: float = FLUSH_SECONDS) -> bool:
    """Store what every recorder of this process has queued (before a listing); False
    when some recorder could not within ``timeout``."""
    return all([recorder.flush(timeout) for recorder in list(_recorders)])


def _reset_after_fork() -> None:
    """In a forked child: every recorder starts afresh (the parent's writer thread is not
    there, and a lock it held would stay held)."""
    for recorder in list(_recorders):
        recorder._reset()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_reset_after_fork)
