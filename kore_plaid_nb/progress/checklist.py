"""Where a trainee stands, computed from their events: every notebook and step of the
runbook, each ``pass``, ``fail`` or ``pending``. The CLI and the board share this."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .catalog import FINISH, RUNBOOK, START, Notebook
from .events import Event


@dataclass(frozen=True)
class StepStatus:
    step: str
    status: str  # pass | fail | pending
    message: str = ""
    fix: str = ""
    at: str | None = None


@dataclass(frozen=True)
class NotebookStatus:
    notebook: str
    title: str
    status: str  # pass | fail | pending
    message: str
    fix: str
    at: str | None
    steps: tuple[StepStatus, ...]

    @property
    def text(self) -> str:
        return f"{self.message}\nWhat to do: {self.fix}" if self.fix else self.message


def notebook_statuses(events: Iterable[Event], in_order: bool = False) -> list[NotebookStatus]:
    """Every notebook of the runbook, in order, from one trainee's events: sorted by their
    ``at``, or taken as given with ``in_order`` (the board: the order it received them).

    A notebook fails when its latest event is a failure; it passes when it finished (its last
    cell ran, no failure since) after it was last started; otherwise it is pending. Linear in
    the number of events.
    """
    ordered = list(events) if in_order else sorted(events, key=lambda e: e.at)
    by_notebook: dict[str, list[Event]] = {}
    for event in ordered:
        by_notebook.setdefault(event.notebook, []).append(event)
    return [_notebook_status(entry, by_notebook.get(entry.name, [])) for entry in RUNBOOK]


def _notebook_status(entry: Notebook, events: list[Event]) -> NotebookStatus:
    latest: dict[str, Event] = {}  # step -> its latest event, steps in first-seen order
    finished: Event | None = None  # the latest FINISH passed since the last START
    for event in events:
        latest[event.step] = event
        if event.step == START:
            finished = None
        elif event.step == FINISH and event.status == "pass":
            finished = event
    known = set(entry.steps)
    extra = [step for step in latest if step not in known and step != FINISH]
    # verification checks come after the cells
    steps = tuple(_step_status(step, latest.get(step)) for step in (*entry.steps, *extra))
    if not events:
        return NotebookStatus(entry.name, entry.title, "pending", "", "", None, steps)
    last = events[-1]
    if last.status == "fail":
        return NotebookStatus(
            entry.name, entry.title, "fail", last.message, last.fix, last.at, steps
        )
    if finished is not None:
        return NotebookStatus(entry.name, entry.title, "pass", "done", "", finished.at, steps)
    return NotebookStatus(
        entry.name,
        entry.title,
        "pending",
        f"in progress (last step: {last.step})",
        "",
        last.at,
        steps,
    )


def _step_status(step: str, last: Event | None) -> StepStatus:
    if last is None:
        return StepStatus(step, "pending")
    return StepStatus(step, last.status, last.message, last.fix, last.at)


def last_seen(events: Iterable[Event]) -> str | None:
    """The time of the trainee's latest event."""
    return max((e.at for e in events), default=None)
