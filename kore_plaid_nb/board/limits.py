"""What the board accepts from one sender: the caps and the clock rule.

==============================  =======  ==========================================
``MAX_EVENTS_PER_TRAINEE``      5,000    events stored per trainee (413 past it); a
                                         whole runbook is about 100
``MAX_STEPS_PER_NOTEBOOK``      100      different steps per trainee and notebook
                                         (413); a notebook has at most ~20
``MAX_POSTS_PER_MINUTE``        240      ``POST /api/events`` per sender and minute
                                         (429 with ``Retry-After``); a trainee running
                                         every notebook headless sends ~100
``MAX_FUTURE_SECONDS``          120      an event's ``at`` may lie this far past the
                                         board's clock (400 beyond: a wrong clock)
==============================  =======  ==========================================

The caps bound the board's work per request: ``/api/progress`` is linear in the stored events.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from .store import Caps

MAX_EVENTS_PER_TRAINEE = 5000
MAX_STEPS_PER_NOTEBOOK = 100
MAX_POSTS_PER_MINUTE = 240
MAX_FUTURE_SECONDS = 120
CAPS = Caps(MAX_EVENTS_PER_TRAINEE, MAX_STEPS_PER_NOTEBOOK)
WINDOW_SECONDS = 60.0


class PostBudget:
    """At most ``per_minute`` posts per sender in any 60 seconds (senders are authenticated:
    the memory held is bounded by the class's size)."""

    def __init__(self, per_minute: int = MAX_POSTS_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, sender: str, now: float) -> int:
        """0 when ``sender`` may post now (the post is counted), else seconds to wait."""
        with self._lock:
            times = self._times.setdefault(sender, deque())
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            if len(times) >= self.per_minute:
                return max(1, math.ceil(times[0] + WINDOW_SECONDS - now))
            times.append(now)
            return 0
