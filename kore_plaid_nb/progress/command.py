"""``kore-plaid progress [--json]`` (the trainee's checklist) and ``kore-plaid reset``."""

from __future__ import annotations

import argparse
import json

from .. import settings as settings_module
from ..settings import Settings
from ..tables import format_table
from . import NotebookStatus, checklist, delivery_note, last_seen, standing
from .catalog import step_words
from .journal import read

SHOWN = {"pass": "done", "fail": "FAILED", "pending": "not yet"}  # words  # nosec B105


def configure_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checklist as JSON")


def run_progress(args: argparse.Namespace) -> int:
    current = settings_module.load_as_is()
    statuses = checklist(current)
    if args.json:
        print(json.dumps(_as_json(current, statuses), indent=2, ensure_ascii=False))
        return 0
    print(f"Trainee {current.trainee} (state folder {current.home})")
    print(standing(current))
    rows: list[tuple[str, str, str]] = []
    for notebook in statuses:
        rows.append((notebook.notebook, SHOWN[notebook.status], _when(notebook.at)))
        for step in notebook.steps:
            rows.append((f"  {step_words(step.step)}", SHOWN[step.status], _when(step.at)))
    print(format_table(("notebook / step", "status", "at"), rows))
    for notebook in statuses:
        if notebook.status == "fail":
            print(f"\n{notebook.notebook} failed: {notebook.text}")
    print(f"\n{delivery_note(current)}")
    return 0


def _when(at: str | None) -> str:
    return at.replace("T", " ")[:19] if at else "-"


def _as_json(current: Settings, statuses: list[NotebookStatus]) -> dict[str, object]:
    return {
        "trainee": current.trainee,
        "last_seen": last_seen(read(current.home)),
        "notebooks": [
            {
                "notebook": n.notebook,
                "title": n.title,
                "status": n.status,
                "message": n.text,
                "fix": n.fix,
                "at": n.at,
                "steps": [
                    {
                        "step": s.step,
                        "status": s.status,
                        "message": s.message,
                        "fix": s.fix,
                        "at": s.at,
                    }
                    for s in n.steps
                ],
            }
            for n in statuses
        ],
    }


def configure_reset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clear-progress",
        action="store_true",
        help="also forget the progress recorded here (the trainer's board keeps its copy)",
    )


def run_reset(args: argparse.Namespace) -> int:
    from .. import stack  # the services are only needed here

    current = settings_module.load_as_is()
    for line in stack.reset(current, clear_progress=args.clear_progress):
        print(line)
    print("Start over with notebook 00_start_here (or `kore-plaid run`).")
    return 0
