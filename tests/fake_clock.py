"""A clock for the bridge's store that a test moves forward (``open_store(..., clock=clock)``),
instead of rewriting expiry times in the database."""

from __future__ import annotations

import time


class FakeClock:
    """Seconds since the epoch: the real time plus how far the test moved it on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Time passes: ``seconds`` later, at once."""
        self.offset += seconds
