"""A sample class for screenshots and tests: one trainee finished, one mid-way, one failing at
``01_plaid_keys`` (``PLAID_ENV=development``, with the runbook's own message and fix) and one
stuck with no progress for 25 minutes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .. import settings as settings_module
from ..errors import SettingsError
from ..progress.catalog import FINISH, RUNBOOK
from ..progress.events import Event
from .store import BoardStore

FINISHED, MIDWAY, FAILING, STUCK = "Amara Okafor", "Ben Carter", "Chen Wei", "Dana Kowalski"


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def development_error() -> tuple[str, str]:
    """The message and fix a trainee sees with ``PLAID_ENV=development`` (from settings)."""
    try:
        settings_module.Settings().with_values(plaid_env="development")
    except SettingsError as exc:
        return exc.message, exc.fix
    raise AssertionError("PLAID_ENV=development was accepted")


def _notebooks(trainee: str, count: int, start: float, step_seconds: float = 20) -> list[Event]:
    """Events of ``trainee`` passing the first ``count`` notebooks, from ``start`` on."""
    events, moment = [], start
    for entry in RUNBOOK[:count]:
        for step in (*entry.steps, FINISH):
            events.append(Event(trainee, entry.name, step, "pass", at=iso(moment)))
            moment += step_seconds
    return events


def _steps(trainee: str, index: int, count: int, start: float) -> list[Event]:
    """The first ``count`` steps of notebook ``index`` passed, a second apart from ``start``."""
    entry = RUNBOOK[index]
    return [
        Event(trainee, entry.name, step, "pass", at=iso(start + n))
        for n, step in enumerate(entry.steps[:count])
    ]


def class_events(now: float | None = None) -> list[tuple[Event, str]]:
    """``(event, received_at)`` for the four sample trainees."""
    now = time.time() if now is None else now
    events = _notebooks(FINISHED, len(RUNBOOK), now - 2700, step_seconds=60)  # done 2 min ago
    events += _notebooks(MIDWAY, 4, now - 900, step_seconds=45)
    events += _steps(MIDWAY, 4, 2, now - 30)  # 04_tunnel under way
    events += _notebooks(FAILING, 1, now - 600)
    events += _steps(FAILING, 1, 2, now - 200)
    message, fix = development_error()
    keys = RUNBOOK[1]
    events.append(Event(FAILING, keys.name, keys.steps[2], "fail", message, fix, iso(now - 120)))
    quiet = now - 1500  # nothing from this trainee for 25 minutes
    events += _notebooks(STUCK, 3, quiet - 900)
    events += _steps(STUCK, 3, 2, quiet - 60)
    return [(e, iso(quiet) if e.trainee == STUCK else e.at) for e in events]


def seed(store: BoardStore, now: float | None = None) -> list[str]:
    """Store the sample class; returns the trainees' names."""
    by_time: dict[str, list[Event]] = {}
    for event, received_at in class_events(now):
        by_time.setdefault(received_at, []).append(event)
    for received_at, events in sorted(by_time.items()):
        store.add(events, received_at=received_at)
    return [FINISHED, MIDWAY, FAILING, STUCK]
