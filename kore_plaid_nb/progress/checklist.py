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


def notebook_statuses(events: Iterable[Event]) -> list[NotebookStatus]:
    """Every notebook of the runbook, in order, from one trainee's events (in time order).

    A notebook fails when its latest event is a failure; it passes when it finished (its last
    cell ran, no failure since) after it was last started; otherwise it is pending.
    """
    by_notebook: dict[str, list[Event]] = {}
    for event in sorted(events, key=lambda e: e.at):
        by_notebook.setdefault(event.notebook, []).append(event)
    return [_notebook_status(entry, by_notebook.get(entry.name, [])) for entry in RUNBOOK]


def _notebook_status(entry: Notebook, events: list[Event]) -> NotebookStatus:
    extra = [e.step for e in events if e.step not in entry.steps and e.step != FINISH]
    names = [*entry.steps, *dict.fromkeys(extra)]  # verification checks come after the cells
    steps = tuple(_step_status(step, events) for step in names)
    if not events:
        return NotebookStatus(entry.name, entry.title, "pending", "", "", None, steps)
    last = events[-1]
    if last.status == "fail":
        return NotebookStatus(
            entry.name, entry.title, "fail", last.message, last.fix, last.at, steps
        )
    last_start = max((e.at for e in events if e.step == START), default="")
    finished = [e for e in events if e.step == FINISH and e.status == "pass" and e.at >= last_start]
    if finished:
        return NotebookStatus(entry.name, entry.title, "pass", "done", "", finished[-1].at, steps)
    return NotebookStatus(
        entry.name,
        entry.title,
        "pending",
        f"in progress (last step: {last.step})",
        "",
        last.at,
        steps,
    )


def _step_status(step: str, events: list[Event]) -> StepStatus:
    mine = [e for e in events if e.step == step]
    if not mine:
        return StepStatus(step, "pending")
    last = mine[-1]
    return StepStatus(step, last.status, last.message, last.fix, last.at)


def last_seen(events: Iterable[Event]) -> str | None:
    """The time of the trainee's latest event."""
    return max((e.at for e in events), default=None)
