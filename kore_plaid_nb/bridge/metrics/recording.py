"""Recording the bridge's metrics (:mod:`.catalog`) where things happen: one call per event,
so a route says what happened (``authorization_completed(seconds)``) and this module turns it
into bounded label values.

Label children are looked up once per label set (the sets are small and closed, so the
caches are bounded); the series a rule or a dashboard selects are created at import, at 0, so
``rate()`` and ``increase()`` see their first event (:func:`precreate`). Nothing here reads a
token, a code or a session id into a label: the failures counted once per session keep
SHA-256 digests of the sessions, in memory, bounded (:class:`SessionFailures`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from . import catalog

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from prometheus_client import Counter, Histogram

T = TypeVar("T")
log = logging.getLogger("kore_plaid_nb.bridge")

CONNECTION_ERROR: Final = "CONNECTION_ERROR"
UNKNOWN: Final = "unknown"
WEBHOOK_CODE: Final = re.compile(r"[A-Z_]{1,40}")
PLAID_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_COUNTED_FAILURES: Final = 10_000


# -- authorizations


def authorization_started() -> None:
    """A session was opened by the Authorization URL (page, JSON or Hosted Link)."""
    catalog.AUTHORIZATIONS_STARTED.inc()


def authorization_completed(seconds: float) -> None:
    """The code was issued, ``seconds`` after the session was opened."""
    catalog.AUTHORIZATIONS_COMPLETED.inc()
    catalog.AUTHORIZATION_SECONDS.observe(max(seconds, 0.0))


def authorization_failed(reason: str, session_id: str | None = None) -> None:
    """A user met a failure (:data:`.catalog.FAILURE_REASONS`): counted once per session
    and reason (:data:`SESSION_FAILURES`); before any session (``session_id`` None), once."""
    if session_id is None:
        _failed(catalog.bounded(reason, catalog.FAILURE_REASONS)).inc()
    else:
        SESSION_FAILURES.count(session_id, reason)


def authorization_refused(error: str, session_id: str | None = None) -> None:
    """A refusal on the authorization path: counted when Plaid's (``plaid_error``)."""
    if error == "plaid_error":
        authorization_failed("plaid_error", session_id)


def session_rate_limited() -> None:
    catalog.SESSIONS_RATE_LIMITED.inc()


@cache
def _failed(reason: str) -> Counter:
    return catalog.AUTHORIZATIONS_FAILED.labels(reason)


def exit_reason(error: bool) -> str:
    """The failure a Link exit is: ``link_error`` when Link reported one, else ``user_left``."""
    return "link_error" if error else "user_left"


class SessionFailures:
    """The (session, reason) pairs counted, as digests: at most
    :data:`MAX_COUNTED_FAILURES` (the oldest forgotten first), so a user who retries counts
    each reason once per session in this process."""

    def __init__(self, limit: int = MAX_COUNTED_FAILURES) -> None:
        self.limit = limit
        self._counted: dict[bytes, None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(session_id: str, reason: str) -> bytes:
        pair = f"{reason}\n{session_id}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(pair).digest()

    def counted(self, session_id: str, reason: str) -> bool:
        return self.key(session_id, reason) in self._counted

    def count(self, session_id: str, reason: str) -> bool:
        """Count ``reason`` for ``session_id`` unless counted already; True when counted
        now."""
        reason = catalog.bounded(reason, catalog.FAILURE_REASONS)
        key = self.key(session_id, reason)
        with self._lock:
            if key in self._counted:
                return False
            if len(self._counted) >= self.limit:
                del self._counted[next(iter(self._counted))]
            self._counted[key] = None
        _failed(reason).inc()
        return True


SESSION_FAILURES: Final = SessionFailures()


# -- the token endpoint


def token_grant_type(params: Sequence[tuple[str, str]]) -> str:
    """The request's grant_type as a label: as the token endpoint reads it (a ``code``
    without ``grant_type`` is ``authorization_code``), else ``other``."""
    names = dict(params)
    grant_type = names.get("grant_type")
    if grant_type is None and "code" in names:
        grant_type = "authorization_code"
    return catalog.bounded(grant_type, catalog.GRANT_TYPES)


def token_request(grant_type: str, status: int, error: object, started: float) -> None:
    """A token request answered ``status`` (``error``: the RFC 6749 error of a non-200),
    ``started`` at :func:`time.perf_counter`."""
    outcome = "ok" if status == 200 else catalog.bounded(str(error), catalog.TOKEN_OUTCOMES)
    seconds = time.perf_counter() - started
    _token_count(grant_type, outcome).inc()
    _token_seconds(grant_type).observe(seconds)


@cache
def _token_count(grant_type: str, outcome: str) -> Counter:
    return catalog.TOKEN_REQUESTS.labels(grant_type, outcome)


@cache
def _token_seconds(grant_type: str) -> Histogram:
    return catalog.TOKEN_REQUEST_SECONDS.labels(grant_type)


# -- Plaid


def plaid_outcome(error_type: str, error_code: str) -> str:
    """A failed Plaid call's outcome label: ``CONNECTION_ERROR`` when Plaid was not reached,
    else Plaid's ``error_code`` (``other`` outside :data:`.catalog.PLAID_OUTCOMES`)."""
    if error_type == CONNECTION_ERROR:
        return CONNECTION_ERROR
    return catalog.bounded(error_code, catalog.PLAID_OUTCOMES)


def plaid_call(endpoint: str, outcome: str, seconds: float, request_id: object) -> None:
    """One attempt of a Plaid call: counted, timed, and logged (one INFO line, with Plaid's
    ``request_id`` when it looks like one)."""
    endpoint = catalog.bounded(endpoint, catalog.PLAID_ENDPOINTS)
    _plaid_count(endpoint, outcome).inc()
    _plaid_seconds(endpoint).observe(seconds)
    rid = (
        request_id
        if isinstance(request_id, str) and PLAID_REQUEST_ID.fullmatch(request_id)
        else None
    )
    duration_ms = round(seconds * 1000, 1)
    log.info(
        "plaid %s %s %.1f ms request_id=%s",
        endpoint,
        outcome,
        duration_ms,
        rid or "-",
        extra={
            "event": "plaid_call",
            "plaid_endpoint": endpoint,
            "outcome": outcome,
            "duration_ms": duration_ms,
            "plaid_request_id": rid,
        },
    )


@cache
def _plaid_count(endpoint: str, outcome: str) -> Counter:
    return catalog.PLAID_REQUESTS.labels(endpoint, outcome)


@cache
def _plaid_seconds(endpoint: str) -> Histogram:
    return catalog.PLAID_REQUEST_SECONDS.labels(endpoint)


# -- webhooks


def webhook_verified(webhook_type: str, webhook_code: str) -> None:
    """A verified webhook (type and code from its body; ``unknown`` when it had none)."""
    kind = catalog.bounded(webhook_type, catalog.WEBHOOK_TYPES) if webhook_type else UNKNOWN
    code = webhook_code if WEBHOOK_CODE.fullmatch(webhook_code) else catalog.OTHER
    _webhooks(kind, code if webhook_code else UNKNOWN, "verified", "")


def webhook_refused(reason: str) -> None:
    """A webhook refused before its body was read (:data:`.catalog.WEBHOOK_REFUSALS`)."""
    _webhooks(UNKNOWN, UNKNOWN, "refused", catalog.bounded(reason, catalog.WEBHOOK_REFUSALS))


def _webhooks(kind: str, code: str, verdict: str, reason: str) -> None:
    catalog.WEBHOOKS.labels(kind, code, verdict, reason).inc()


# -- the store, repair links


class TimedTransaction(Generic[T]):
    """A store transaction (or read) whose time, commit included, is observed in
    :data:`.catalog.STORE_TRANSACTION_SECONDS`."""

    __slots__ = ("_inner", "_started")

    def __init__(self, inner: AbstractContextManager[T]) -> None:
        self._inner = inner
        self._started = 0.0

    def __enter__(self) -> T:
        self._started = time.perf_counter()
        return self._inner.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        try:
            return self._inner.__exit__(exc_type, exc, traceback)
        finally:
            catalog.STORE_TRANSACTION_SECONDS.observe(time.perf_counter() - self._started)


def store_transaction(inner: AbstractContextManager[T]) -> TimedTransaction[T]:
    return TimedTransaction(inner)


def store_unavailable() -> None:
    """A 503 answered because the store could not answer."""
    catalog.STORE_UNAVAILABLE.inc()


def repair_link_used() -> None:
    catalog.REPAIR_LINKS_USED.inc()


# -- the series shown from the first scrape


def precreate() -> None:
    """Create, at 0, every series the alert rules and the dashboard select, so the first
    event is a change ``rate()`` and ``increase()`` see (a series born at 1 is not)."""
    for reason in catalog.FAILURE_REASONS:
        _failed(reason)
    for grant_type in catalog.GRANT_TYPES:
        _token_seconds(grant_type)
        for outcome in catalog.TOKEN_OUTCOMES_SHOWN:
            _token_count(grant_type, outcome)
    for endpoint in catalog.PLAID_ENDPOINTS:
        _plaid_count(endpoint, "ok")
        _plaid_seconds(endpoint)
    for reason in catalog.WEBHOOK_REFUSALS:
        catalog.WEBHOOKS.labels(UNKNOWN, UNKNOWN, "refused", reason)


precreate()
