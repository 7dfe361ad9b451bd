"""Fault injection for tests: off by default.

A fault makes the next ``count`` calls of one endpoint (or of every Plaid endpoint, ``"*"``)
fail with a Plaid error and/or answer only after a delay::

    from kore_plaid_nb.emulator import faults
    faults.inject(url, "/accounts/get", error_code="RATE_LIMIT")          # 429 once
    faults.inject(url, "/item/get", error_code="INSTITUTION_DOWN", count=3)
    faults.inject(url, "/transactions/sync", delay=2.5)                   # slow, then normal
    faults.clear(url)

Over HTTP (a non-Plaid prefix; the same credentials as the Plaid endpoints, in the
``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers or the body):

- ``POST /_emulator/faults`` ``{"endpoint": "/accounts/get", "count": 1, "error_code":
  "RATE_LIMIT", "status": 429, "error_type": "RATE_LIMIT_EXCEEDED", "delay": 0}``
  (``error_code`` optional: without it the call only waits ``delay`` seconds, then answers
  normally; ``status`` / ``error_type`` default to the code's usual ones);
- ``GET /_emulator/faults`` lists the pending faults; ``DELETE /_emulator/faults`` clears them.

A ``POST`` must be ``Content-Type: application/json`` (415 otherwise: a web page cannot send
one without the browser asking first) with ``count`` 1-1000, ``delay`` 0-30 seconds,
``status`` 400-599 and codes in capitals; at most 100 faults are pending at once.

A fault is consumed when a call of its endpoint arrives, before credentials are checked.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from dataclasses import asdict, dataclass
from types import ModuleType

from ..settings import Settings
from ..settings import load as load_settings
from ..tls import client_context
from . import fields
from .errors import PlaidAPIError

ANY_ENDPOINT = "*"
MAX_DELAY = 30.0
MAX_COUNT = 1000
MAX_PENDING = 100
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


@dataclass
class Fault:
    endpoint: str
    count: int = 1
    error_code: str | None = None
    status: int | None = None
    error_type: str | None = None
    delay: float = 0.0


class FaultPlan:
    """Pending faults of one emulator (in memory: a restart clears them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            if len(self._faults) >= MAX_PENDING:
                raise PlaidAPIError(
                    "INVALID_FIELD",
                    f"{MAX_PENDING} faults are already pending; DELETE /_emulator/faults first",
                )
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, endpoint: str) -> Fault | None:
        """The first fault for ``endpoint`` (counting one use), or None."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in (endpoint, ANY_ENDPOINT):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    async def apply_delay(self, fault: Fault | None) -> None:
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(min(fault.delay, MAX_DELAY))


def _code(body: dict[str, object], name: str) -> str | None:
    value = fields.text(body, name, required=False)
    if value is not None and not _CODE.fullmatch(value):
        raise fields.invalid(name, "must be a Plaid code in capitals, e.g. RATE_LIMIT")
    return value


def parse_fault(body: dict[str, object], endpoints: frozenset[str] | set[str]) -> Fault:
    """The fault a ``POST /_emulator/faults`` body describes (a Plaid error when invalid)."""
    endpoint = fields.text(body, "endpoint") or ""
    if endpoint != ANY_ENDPOINT and endpoint not in endpoints:
        raise fields.invalid("endpoint", f"is not an emulated endpoint: {endpoint[:100]}")
    delay = body.get("delay") or 0
    if (
        isinstance(delay, bool)
        or not isinstance(delay, int | float)
        or not math.isfinite(delay)
        or not 0 <= delay <= MAX_DELAY
    ):
        raise fields.invalid("delay", f"must be a number of seconds from 0 to {MAX_DELAY:g}")
    status = body.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise fields.invalid("status", "must be an HTTP error status (400-599)")
    return Fault(
        endpoint=endpoint,
        count=fields.integer(body, "count", default=1, minimum=1, maximum=MAX_COUNT),
        error_code=_code(body, "error_code"),
        status=status,
        error_type=_code(body, "error_type"),
        delay=float(delay),
    )


def _http() -> (
    ModuleType
):  # imported on use: the emulator process itself never needs an HTTP client
    import httpx

    return httpx


def _headers(settings: Settings | None) -> dict[str, str]:
    settings = settings or load_settings()
    return {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}


def inject(
    base_url: str,
    endpoint: str,
    *,
    error_code: str | None = None,
    count: int = 1,
    status: int | None = None,
    error_type: str | None = None,
    delay: float = 0.0,
    settings: Settings | None = None,
) -> None:
    """Make the next ``count`` calls of ``endpoint`` on the emulator at ``base_url`` fail
    with ``error_code`` (and/or wait ``delay`` seconds)."""
    body = {
        "endpoint": endpoint,
        "count": count,
        "error_code": error_code,
        "status": status,
        "error_type": error_type,
        "delay": delay,
    }
    response = _http().post(
        f"{base_url}/_emulator/faults",
        json=body,
        headers=_headers(settings),
        verify=client_context(),
    )
    response.raise_for_status()


def clear(base_url: str, *, settings: Settings | None = None) -> None:
    """Remove every pending fault of the emulator at ``base_url``."""
    _http().delete(
        f"{base_url}/_emulator/faults", headers=_headers(settings), verify=client_context()
    ).raise_for_status()


def pending(base_url: str, *, settings: Settings | None = None) -> list[dict[str, object]]:
    response = _http().get(
        f"{base_url}/_emulator/faults", headers=_headers(settings), verify=client_context()
    )
    response.raise_for_status()
    return list(response.json()["faults"])
