"""The recorder stores request shapes off the request's path (issue 22): in order, in
batches, never raising, never holding a thread when idle, never growing without bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from kore_plaid_nb.bridge import request_recorder
from kore_plaid_nb.bridge.request_recorder import RequestRecorder, flush_all
from kore_plaid_nb.bridge.request_shapes import RequestShape, shape_of
from kore_plaid_nb.bridge.store import StoreUnavailable


def a_shape(n: int) -> RequestShape:
    return shape_of(
        "token",
        params=[("grant_type", "refresh_token")],
        header_names=["user-agent"],
        authorizations=[],
        content_type=None,
        user_agent=f"ua-{n}",
        callbacks=(),
        status=200,
        at=float(n),
    )


class FakeStore:
    """What the recorder needs of a store; ``gate`` holds every write until set."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[RequestShape]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def record_requests(self, shapes: Sequence[RequestShape]) -> None:
        self.gate.wait(10)
        if self.fail:
            raise StoreUnavailable("The database is restarting.", fix="Retry.")
        self.batches.append(list(shapes))

    @property
    def stored(self) -> list[str | None]:
        return [shape.user_agent for batch in self.batches for shape in batch]


def test_shapes_are_stored_in_order_in_batches() -> None:
    store = FakeStore()
    store.gate.clear()  # the first write waits: the others queue up behind it
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    for n in range(50):
        recorder.submit(a_shape(n))
    store.gate.set()
    assert recorder.flush()
    assert store.stored == [f"ua-{n}" for n in range(50)]
    assert len(store.batches) < 50  # queued ones went in together


def test_flush_all_stores_what_every_recorder_queued() -> None:
    stores = [FakeStore(), FakeStore()]
    recorders = [RequestRecorder(store) for store in stores]  # type: ignore[arg-type]
    for n, recorder in enumerate(recorders):
        recorder.submit(a_shape(n))
    flush_all()
    assert [store.stored for store in stores] == [["ua-0"], ["ua-1"]]


def test_the_writer_ends_when_idle_and_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_recorder, "IDLE_SECONDS", 0.05)
    store = FakeStore()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    recorder.submit(a_shape(1))
    assert recorder.flush()
    deadline = time.monotonic() + 5
    while recorder.writing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not recorder.writing
    recorder.submit(a_shape(2))
    assert recorder.writing
    assert recorder.flush()
    assert store.stored == ["ua-1", "ua-2"]


def test_a_store_that_cannot_answer_costs_a_log_line_and_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(fail=True)
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="kore_plaid_nb.bridge"):
        recorder.submit(a_shape(1))
        assert recorder.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "1 request shape(s) not recorded: the store cannot answer"
    ]
    store.fail = False
    recorder.submit(a_shape(2))
    assert recorder.flush()
    assert store.stored == ["ua-2"]


def test_at_most_max_pending_shapes_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_recorder, "MAX_PENDING", 10)
    store = FakeStore()
    store.gate.clear()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    for n in range(25):
        recorder.submit(a_shape(n))
    assert not recorder.flush(timeout=0.05)  # the store holds the first write
    store.gate.set()
    assert recorder.flush()
    assert store.stored == [f"ua-{n}" for n in range(10)]


def wait_for(condition: object, seconds: float) -> bool:
    """Whether ``condition()`` became true within ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_lone_shape_is_stored_at_once_and_a_burst_lingers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(request_recorder, "LINGER_SECONDS", 3.0)  # a linger would show
    store = FakeStore()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    recorder.submit(a_shape(1))  # idle: no write for a long time
    assert wait_for(lambda: store.stored == ["ua-1"], 1.0), "a lone shape lingered"
    recorder.submit(a_shape(2))  # busy: a write just ended, so the writer waits for others
    recorder.submit(a_shape(3))
    time.sleep(0.2)
    assert store.stored == ["ua-1"]
    started = time.monotonic()
    assert recorder.flush()  # a flush cuts the linger short
    assert time.monotonic() - started < 1.0
    assert store.batches == [[a_shape(1)], [a_shape(2), a_shape(3)]]


def test_shapes_dropped_beyond_max_pending_are_counted_in_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(request_recorder, "MAX_PENDING", 10)
    store = FakeStore()
    store.gate.clear()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="kore_plaid_nb.bridge"):
        for n in range(25):
            recorder.submit(a_shape(n))
        store.gate.set()
        assert recorder.flush()
        recorder.submit(a_shape(99))  # room again: nothing dropped, no line
        assert recorder.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "15 request shape(s) dropped: too many waiting"
    ]
    assert "ua-" not in caplog.text  # counts only


def test_flush_all_says_whether_everything_was_stored() -> None:
    store = FakeStore()
    store.gate.clear()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    recorder.submit(a_shape(1))
    assert flush_all(timeout=0.05) is False
    store.gate.set()
    assert flush_all() is True
    assert store.stored == ["ua-1"]


def test_a_writer_that_died_is_replaced() -> None:
    store = FakeStore()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    recorder._writer = dead  # as if the writer had ended without saying so
    recorder.submit(a_shape(1))
    assert recorder.writing
    assert recorder.flush()
    assert store.stored == ["ua-1"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_records_with_its_own_writer() -> None:
    store = FakeStore()
    store.gate.clear()  # the parent's writer holds a batch in the store
    recorder = RequestRecorder(store)  # type: ignore[arg-type]
    recorder.submit(a_shape(1))
    assert wait_for(lambda: recorder.writing, 1.0)
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # a thread of the parent holds the recorder's lock at fork
        with recorder._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 when its own shape is stored, else 1 (or SIGALRM)
        code = 1
        try:
            signal.alarm(10)  # a lock held forever kills the child, not the test
            child_store = FakeStore()
            recorder.store = child_store  # type: ignore[assignment]
            recorder.submit(a_shape(2))
            if recorder.flush(timeout=5) and child_store.stored == ["ua-2"]:
                code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.gate.set()
    assert recorder.flush()
    assert store.stored == ["ua-1"]  # the parent's batch, untouched by the child


class LoopStore(FakeStore):
    """A SQLite-like store: ``locked`` refuses writes that may not wait (the loop's) and
    holds the others at ``gate``; each batch's thread is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.locked = False
        self.no_wait = False
        self.threads: list[str] = []

    @contextlib.contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        self.no_wait = seconds == 0
        try:
            yield
        finally:
            self.no_wait = False

    def record_requests(self, shapes: Sequence[RequestShape]) -> None:
        if self.locked and self.no_wait:
            raise StoreUnavailable("database is locked", fix="Retry.")
        self.threads.append(threading.current_thread().name)
        super().record_requests(shapes)


def test_attached_to_a_loop_shapes_are_stored_from_it_in_order() -> None:
    """A serving SQLite bridge stores from its event loop (no writer thread to hand the
    GIL and the store's lock to), shapes from its thread pool included."""
    store = LoopStore()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]

    async def serve() -> bool:
        recorder.attach(asyncio.get_running_loop())
        for n in range(30):
            if n % 3:
                recorder.submit(a_shape(n))
            else:  # from the thread pool
                await asyncio.to_thread(recorder.submit, a_shape(n))
        for _ in range(100):
            if len(store.stored) == 30:
                break
            await asyncio.sleep(0.01)
        writing = recorder.writing
        recorder.detach()
        return writing

    assert asyncio.run(serve()) is False  # no writer thread was needed
    assert store.stored == [f"ua-{n}" for n in range(30)]
    assert set(store.threads) == {threading.main_thread().name}
    assert recorder.flush(1.0)


def test_attached_a_lock_held_elsewhere_loses_nothing() -> None:
    """On the loop a write never waits: while another holds the lock the batch is tried
    again, then the writer thread waits for the lock and stores it, in order."""
    store = LoopStore()
    store.locked = True
    store.gate.clear()  # the thread's write waits for the lock too
    recorder = RequestRecorder(store)  # type: ignore[arg-type]

    async def serve() -> None:
        recorder.attach(asyncio.get_running_loop())
        for n in range(5):
            recorder.submit(a_shape(n))
        await asyncio.sleep(0.3)  # every retry on the loop met the lock
        assert store.stored == []
        assert recorder.writing  # the writer thread waits for the lock
        recorder.submit(a_shape(5))
        store.locked = False
        store.gate.set()
        for _ in range(100):
            if len(store.stored) == 6:
                break
            await asyncio.sleep(0.01)
        recorder.detach()

    asyncio.run(serve())
    assert store.stored == [f"ua-{n}" for n in range(6)]
    assert "kore-requests-writer" in store.threads
    assert recorder.flush(1.0)


def test_detached_what_is_queued_is_stored_by_the_thread() -> None:
    """A bridge that stops (its lifespan detaches the loop) keeps what was queued."""
    store = LoopStore()
    recorder = RequestRecorder(store)  # type: ignore[arg-type]

    async def serve() -> None:
        recorder.attach(asyncio.get_running_loop())
        for n in range(4):
            recorder.submit(a_shape(n))
        recorder.detach()  # before the loop ran its write

    asyncio.run(serve())
    assert recorder.flush(2.0)
    assert store.stored == [f"ua-{n}" for n in range(4)]
