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

On SQLite, a serving bridge stores from its event loop instead (:meth:`RequestRecorder.attach`,
same timing: at once when idle, one batch per :data:`LINGER_SECONDS` when busy). The writer
thread shared the store's one connection and lock, and took the GIL back after every
statement: under load a batch held that lock for 4-50 ms, and every token request meanwhile
fell back to the thread pool behind it (the refresh grant's p99, BENCHMARKS.md "Issue 28").
On the loop a batch holds it for its own statements only; when a lock is held elsewhere the
batch goes to the writer thread, which waits for it as before.

A store that cannot take a batch costs one log line (how many shapes, never a value) and the
batch; at most :data:`MAX_PENDING` shapes wait, the newest are dropped beyond (counted, and
logged as a count once per batch).
"""

from __future__ import annotations

import asyncio
import contextlib
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
RETRY_SECONDS = 0.005  # on the loop, a batch that met a lock is tried again after this
LOOP_TRIES = 20  # ... this many times, then the writer thread waits for the lock
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
        self._loop: asyncio.AbstractEventLoop | None = None  # attached: writes from there
        self._loop_thread: int | None = None
        self._scheduled = False  # a write is scheduled on the loop
        self._carried: list[RequestShape] = []  # a batch the loop handed to the writer
        self._misses = 0  # loop writes in a row that met a lock

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Store from ``loop`` (this thread's running loop) until :meth:`detach`; for a
        SQLite store, whose writes are a few local statements."""
        with self._lock:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self._scheduled = False

    def detach(self) -> None:
        """Back to the writer thread (before the loop stops): it takes what is queued."""
        with self._lock:
            self._loop = self._loop_thread = None
            self._scheduled = False
            if self._pending:
                self._start_writer()

    def _thread_writing(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def _start_writer(self) -> None:
        """The writer thread, unless it runs (under the lock)."""
        if not self._thread_writing():
            self._writer = threading.Thread(
                target=self._write, name="kore-requests-writer", daemon=True
            )
            self._writer.start()

    def _schedule(self, delay: float | None = None) -> bool:
        """A write on the loop after ``delay``, by default at once, or after
        :data:`LINGER_SECONDS` when busy (under the lock); False when the loop is gone."""
        loop = self._loop
        if delay is None:
            delay = LINGER_SECONDS if self._busy() else 0.0
        if loop is None:
            return False
        try:
            if threading.get_ident() == self._loop_thread:
                loop.call_later(delay, self._write_on_loop)
            else:
                loop.call_soon_threadsafe(loop.call_later, delay, self._write_on_loop)
        except RuntimeError:  # the loop is closed
            return False
        self._scheduled = True
        return True

    def _write_on_loop(self) -> None:
        """One batch from the loop, never waiting for a lock: when one is held, the batch
        goes to the writer thread (which waits, and logs what it cannot store)."""
        with self._lock:
            self._scheduled = False
            if self._loop is None or self._thread_writing():  # the thread has it
                return
        batch = self._take(BATCH)
        if not batch:
            return
        try:
            with self.store.waiting_at_most(0):
                self.store.record_requests(batch)
        except StoreUnavailable:  # a lock held: try again shortly, then leave it to the thread
            with self._lock:
                self._carried = batch + self._carried
                self._misses += 1
                if self._misses >= LOOP_TRIES or not self._schedule(RETRY_SECONDS):
                    self._misses = 0
                    self._start_writer()
            return
        except Exception as exc:  # noqa: BLE001 - recording must never fail a request
            log.warning("%d request shape(s) not recorded: %s", len(batch), type(exc).__name__)
        self._misses = 0
        self._written(len(batch))
        with self._lock:
            if self._pending and not self._scheduled and not self._thread_writing():
                self._schedule()

    def _take(self, most: int) -> list[RequestShape]:
        """What the loop handed over first, then the queue's oldest, up to ``most``."""
        with self._lock:
            batch, self._carried = self._carried, []
        return self._topped_up(batch, most)

    def _topped_up(self, batch: list[RequestShape], most: int) -> list[RequestShape]:
        """``batch`` with the queue's oldest shapes added, up to ``most``, without waiting."""
        while len(batch) < most:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def submit(self, shape: RequestShape) -> None:
        """Queue ``shape``; the writer stores it shortly (dropped when too many wait)."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._dropped += 1
                return
            self._pending += 1
            self._queue.put(shape)
            if self._loop is not None and not self._thread_writing():
                if self._scheduled or self._schedule():
                    return
            self._start_writer()

    @property
    def writing(self) -> bool:
        """Whether this recorder's writer thread runs (it ends when idle)."""
        with self._lock:
            return self._thread_writing()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every queued shape is stored (or dropped); False on timeout."""
        loop = self._loop
        if loop is not None and threading.get_ident() == self._loop_thread:
            with self._lock:  # on the loop itself: nothing else may write meanwhile
                writing = self._thread_writing()
            while not writing and (batch := self._take(BATCH)):
                self._store(batch)
        elif loop is not None:  # no lingering on the loop either
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._write_on_loop)
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
            self._store(batch)

    def _store(self, batch: list[RequestShape]) -> None:
        """Store ``batch``, waiting for the store as long as it says; never raises."""
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
        with self._lock:
            carried, self._carried = self._carried, []
        if carried:  # the loop's batch, then what queued up behind it
            return carried + self._take(BATCH - len(carried))
        idle = IDLE_SECONDS if self._loop is None else LINGER_SECONDS  # attached: back to it
        try:
            batch = [self._queue.get(timeout=idle)]
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._writer = None
                    return []
            return self._next_batch()
        if self._busy():  # a burst: wait for the others (a flush cuts it short)
            self._hurry.wait(LINGER_SECONDS)
        return self._topped_up(batch, BATCH)


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
