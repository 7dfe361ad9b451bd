"""How fast authorization sessions may be opened: token buckets per client address and for
the whole process.

Each new session (each ``GET /`` that passes validation) takes one token from the client's
bucket (an IPv4 address, an IPv6 /64: :func:`.client_address.budget_key`) and one from the
overall bucket; a bucket holds ``per_minute`` tokens and refills at ``per_minute`` a minute.
An empty bucket means 429 with ``Retry-After``. Loopback clients (this machine: the Kore
simulator, ``kore-plaid verify``, a local proxy that is not trusted) only count against the
overall bucket. Buckets live in the process: with N workers or
replicas, the bridge as a whole allows N times as much.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable

from .client_address import budget_key

MAX_TRACKED_ADDRESSES = 10_000


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class SessionLimiter:
    """Token buckets: ``per_address`` and ``overall`` sessions a minute (0: no limit)."""

    def __init__(
        self,
        per_address: int,
        overall: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address = per_address
        self.overall = overall
        self._clock = clock
        self._lock = threading.Lock()
        self._all = _Bucket(float(overall), clock())
        self._by_address: dict[str, _Bucket] = {}

    @staticmethod
    def _refill(bucket: _Bucket, per_minute: int, now: float) -> None:
        bucket.tokens = min(per_minute, bucket.tokens + (now - bucket.updated) * per_minute / 60)
        bucket.updated = now

    @staticmethod
    def _wait(bucket: _Bucket, per_minute: int) -> float:
        return (1 - bucket.tokens) * 60 / per_minute

    def _forget_full_buckets(self, now: float) -> None:
        for address, bucket in list(self._by_address.items()):
            self._refill(bucket, self.per_address, now)
            if bucket.tokens >= self.per_address:
                del self._by_address[address]

    def acquire(self, address: str) -> int | None:
        """Take a token for a session from ``address``: None when allowed, else the
        seconds to wait (``Retry-After``)."""
        now = self._clock()
        key = budget_key(address)  # an IPv6 /64 is one client
        with self._lock:
            waits = []
            per_address = None
            if self.per_address and not (is_loopback(address) or is_loopback(key)):
                per_address = self._by_address.get(key)
                if per_address is None:
                    if len(self._by_address) >= MAX_TRACKED_ADDRESSES:
                        self._forget_full_buckets(now)
                    per_address = self._by_address[key] = _Bucket(self.per_address, now)
                self._refill(per_address, self.per_address, now)
                if per_address.tokens < 1:
                    waits.append(self._wait(per_address, self.per_address))
            if self.overall:
                self._refill(self._all, self.overall, now)
                if self._all.tokens < 1:
                    waits.append(self._wait(self._all, self.overall))
            if waits:
                return max(1, math.ceil(max(waits)))
            if per_address is not None:
                per_address.tokens -= 1
            if self.overall:
                self._all.tokens -= 1
            return None
