"""A trainee's progress through the runbook: events recorded, checklist, board delivery.

Public API::

    record(settings, notebook, step, status, message="", fix="") -> Event | None
    checklist(settings) -> list[NotebookStatus]        # every notebook and step, in order
    standing(settings) -> str                          # one line: where the trainee stands
    reset(settings, clear=False) -> list[str]          # forget progress on request
"""

from __future__ import annotations

import contextlib

from ..settings import Settings, mask
from . import journal, outbox
from .catalog import FINISH, NOTEBOOK_NAMES, RUNBOOK, START, next_notebook
from .checklist import NotebookStatus, StepStatus, last_seen, notebook_statuses
from .events import Event

__all__ = [
    "FINISH",
    "NOTEBOOK_NAMES",
    "RUNBOOK",
    "START",
    "Event",
    "NotebookStatus",
    "StepStatus",
    "checklist",
    "delivery_note",
    "last_seen",
    "masked",
    "next_notebook",
    "record",
    "reset",
    "standing",
]


def masked(settings: Settings, text: str) -> str:
    """``text`` with every configured secret replaced by its mask."""
    for secret in settings.secret_values:
        text = text.replace(secret, mask(secret))
    return text


def record(
    settings: Settings,
    notebook_name: str,
    step: str,
    status: str,
    message: str = "",
    fix: str = "",
) -> Event | None:
    """Record one event in the state folder and send it (with any waiting ones) to the board
    when KORE_PLAID_BOARD_URL and KORE_PLAID_BOARD_TOKEN are set. Never raises: progress must
    not break a step. Returns the event, None when it could not be written."""
    event = Event(
        settings.trainee,
        notebook_name,
        step,
        status,
        masked(settings, message),
        masked(settings, fix),
    )
    try:
        journal.record(settings.home, event)
        if settings.board_url and settings.board_token:
            # a board new to this trainee first gets everything recorded so far (ids make
            # events it already has harmless)
            known = outbox.knows(settings.home, settings.board_url)
            history = [event] if known else journal.read(settings.home)
            outbox.enqueue(settings.home, history)
            outbox.flush(settings.home, settings.board_url, settings.board_token)
    except OSError:
        return None
    return event


def checklist(settings: Settings) -> list[NotebookStatus]:
    return notebook_statuses(journal.read(settings.home))


def standing(settings: Settings) -> str:
    """Where the trainee stands, in one line (``Progress (name): …``)."""
    statuses = checklist(settings)
    done = [s.notebook[:2] for s in statuses if s.status == "pass"]
    failed = [s.notebook[:2] for s in statuses if s.status == "fail"]
    upcoming = next((s.notebook for s in statuses if s.status != "pass"), None)
    parts = [
        f"{len(done)} of {len(statuses)} notebooks done" + (f" ({' '.join(done)})" if done else "")
    ]
    if failed:
        parts.append(f"failed: {' '.join(failed)}")
    parts.append(f"next: {upcoming}" if upcoming else "all done")
    return f"Progress ({settings.trainee}): {', '.join(parts)}"


def delivery_note(settings: Settings) -> str:
    """Whether the board gets the events: configured, waiting ones, last error."""
    if not (settings.board_url and settings.board_token):
        return "Board: not configured (KORE_PLAID_BOARD_URL / KORE_PLAID_BOARD_TOKEN unset)."
    with contextlib.suppress(OSError):
        left = len(outbox.waiting(settings.home))
        status = outbox.last_status(settings.home) or {}
        error = status.get("error") or ""
        if left or error:
            return (
                f"Board {settings.board_url}: {left} event(s) waiting; last try: {error or 'ok'}."
            )
        return f"Board {settings.board_url}: every event delivered."
    return f"Board {settings.board_url}: state folder not readable."


def reset(settings: Settings, clear: bool = False) -> list[str]:
    """Forget the recorded progress and waiting events when ``clear``; lines of what was done."""
    if not clear:
        return ["progress kept (`kore-plaid reset --clear-progress` forgets it)"]
    count = journal.clear(settings.home)
    with contextlib.suppress(OSError):
        outbox.outbox_path(settings.home).unlink(missing_ok=True)
    return [f"forgot {count} progress event(s)"]
