"""The answer of ``GET /api/progress``: every trainee with every notebook of the runbook, in the
catalog's order, stuck trainees first (then by name).

A trainee is stuck when a notebook failed, or when the board has received nothing from them for
``stuck_after`` seconds while they have not finished (the board's clock, not the trainee's:
laptops' clocks drift). ``message`` of a failed notebook is the failure and its fix
(``NotebookStatus.text``); ``problem`` and ``fix`` carry them apart for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..progress.catalog import FINISH, step_words
from ..progress.checklist import NotebookStatus, last_seen, notebook_statuses
from .store import TraineeEvents


@dataclass(frozen=True)
class TraineeProgress:
    name: str
    last_seen: str | None
    notebooks: tuple[NotebookStatus, ...]
    finished: bool
    stuck: bool
    stuck_reason: str
    idle_seconds: int


def seconds(iso: str) -> float:
    """An ISO 8601 time as a POSIX timestamp (``Z`` or an offset)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _duration(idle: float) -> str:
    if idle < 120:
        return f"{int(idle)} s"
    if idle < 7200:
        return f"{int(idle // 60)} min"
    return f"{idle / 3600:.1f} h"


Memo = dict[str, tuple[int, tuple[NotebookStatus, ...]]]


def statuses(row: TraineeEvents, memo: Memo | None = None) -> tuple[NotebookStatus, ...]:
    """The trainee's notebooks, computed again only when they have new events (``memo``)."""
    known = memo.get(row.trainee) if memo is not None else None
    if known is not None and known[0] == len(row.events):
        return known[1]
    notebooks = tuple(notebook_statuses(row.events, in_order=True))
    if memo is not None:
        memo[row.trainee] = (len(row.events), notebooks)
    return notebooks


def trainee_progress(
    row: TraineeEvents, now: float, stuck_after: float, memo: Memo | None = None
) -> TraineeProgress:
    notebooks = statuses(row, memo)
    idle = max(0.0, now - seconds(row.last_received))
    finished = all(nb.status == "pass" for nb in notebooks)
    failed = [nb for nb in notebooks if nb.status == "fail"]
    reason = ""
    if failed:
        latest = max(failed, key=lambda nb: nb.at or "")
        first_line = latest.message.splitlines()[0] if latest.message else "no message"
        reason = f"Failed at {latest.notebook}: {first_line}"
    elif not finished and idle >= stuck_after:
        last = row.events[-1]
        done = (
            f"{last.notebook} finished"
            if last.step == FINISH
            else f"{last.notebook} / {step_words(last.step)}"
        )
        reason = f"No progress for {_duration(idle)} (last step: {done})"
    return TraineeProgress(
        name=row.trainee,
        last_seen=last_seen(row.events),
        notebooks=notebooks,
        finished=finished,
        stuck=bool(reason),
        stuck_reason=reason,
        idle_seconds=int(idle),
    )


def board_progress(
    rows: list[TraineeEvents], now: float, stuck_after: float, memo: Memo | None = None
) -> list[TraineeProgress]:
    """Every trainee's progress: stuck ones first, then by name (linear in the events)."""
    trainees = [trainee_progress(row, now, stuck_after, memo) for row in rows]
    return sorted(trainees, key=lambda t: (not t.stuck, t.name.casefold(), t.name))


def notebook_json(nb: NotebookStatus) -> dict[str, object]:
    failed = nb.status == "fail"
    return {
        "notebook": nb.notebook,
        "status": nb.status,
        "message": nb.text if failed else nb.message,
        "at": nb.at,
        "title": nb.title,
        "problem": nb.message if failed else "",
        "fix": nb.fix if failed else "",
        "steps": [
            {
                "step": s.step,
                "label": step_words(s.step),
                "status": s.status,
                "message": s.message,
                "fix": s.fix,
                "at": s.at,
            }
            for s in nb.steps
        ],
    }


def progress_json(trainees: list[TraineeProgress]) -> dict[str, object]:
    """The contract: ``{"trainees": [{"name", "last_seen", "notebooks": [...]}]}`` (with
    extra keys ``stuck``, ``stuck_reason``, ``finished``, ``idle_seconds``)."""
    return {
        "trainees": [
            {
                "name": t.name,
                "last_seen": t.last_seen,
                "notebooks": [notebook_json(nb) for nb in t.notebooks],
                "stuck": t.stuck,
                "stuck_reason": t.stuck_reason,
                "finished": t.finished,
                "idle_seconds": t.idle_seconds,
            }
            for t in trainees
        ]
    }
