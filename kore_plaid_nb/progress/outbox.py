"""Events on their way to the trainer's board: ``<state folder>/progress/outbox.jsonl``.

Every event goes into the outbox first; :func:`flush` sends all waiting events in one
request and removes them once the board stored them. The board being down, slow or refusing
never fails a step and costs at most ~1 s: the events wait for the next flush that gets
through (ids make a re-sent event harmless). A batch the board refuses for good (400, 413: it
would be refused again) moves to ``rejected.jsonl`` (0600) beside it, so the next events go.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..private_files import write_private
from .events import Event
from .journal import append, locked, progress_dir, read_lines

OUTBOX = "outbox.jsonl"
REJECTED = "rejected.jsonl"
STATUS = "board-status.json"
REFUSED_FOR_GOOD = (400, 413)  # not 401/403 (a token to fix), 429 or 5xx (later)
TIMEOUT = httpx.Timeout(0.45)  # connect and read: at most ~0.9 s in all
MAX_BATCH = 1000  # the board's own limit per request


@dataclass(frozen=True)
class Delivery:
    sent: int
    waiting: int
    error: str = ""
    rejected: int = 0


@dataclass(frozen=True)
class Answer:
    """The board's answer to one batch: '' or why not, and whether re-sending is pointless."""

    error: str = ""
    for_good: bool = False


def outbox_path(home: Path) -> Path:
    return progress_dir(home) / OUTBOX


def rejected_path(home: Path) -> Path:
    return progress_dir(home) / REJECTED


def rejected(home: Path) -> list[Event]:
    """The events the board refused for good (kept, never re-sent)."""
    return read_lines(rejected_path(home))


def enqueue(home: Path, events: list[Event]) -> None:
    append(outbox_path(home), events)


def knows(home: Path, board_url: str) -> bool:
    """True once a flush to ``board_url`` was tried (a new board first gets the history)."""
    status = last_status(home) or {}
    return status.get("board_url") == board_url


def waiting(home: Path) -> list[Event]:
    return read_lines(outbox_path(home))


def flush(home: Path, board_url: str, token: str) -> Delivery:
    """Send the waiting events (oldest first, up to 1000) to ``board_url``; never raises."""
    path = outbox_path(home)
    with locked(path):
        events = read_lines(path)
        if not events:
            return Delivery(0, 0)
        batch = events[:MAX_BATCH]
        answer = _post(board_url, token, batch)
        if answer.for_good:
            append(rejected_path(home), batch)
        if answer.for_good or not answer.error:
            _rewrite(path, events[len(batch) :])
    gone = not answer.error or answer.for_good
    left = len(events) - (len(batch) if gone else 0)
    _write_status(home, board_url, answer)
    sent = 0 if answer.error else len(batch)
    return Delivery(sent, left, answer.error, len(batch) if answer.for_good else 0)


def _post(board_url: str, token: str, batch: list[Event]) -> Answer:
    """The board's answer to ``batch`` (its error text holds no secret)."""
    body = {"events": [e.as_dict() for e in batch]}
    try:
        answer = httpx.post(
            f"{board_url}/api/events",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        return Answer(f"the board at {board_url} did not answer ({type(exc).__name__})")
    if answer.status_code == 401:
        return Answer("the board refused the token (401): check KORE_PLAID_BOARD_TRAINEE_TOKEN")
    if answer.status_code >= 300:
        error = f"the board answered HTTP {answer.status_code}{_reason(answer)}"
        return Answer(error, answer.status_code in REFUSED_FOR_GOOD)
    return Answer()


def _reason(answer: httpx.Response) -> str:
    """The board's own explanation of a refusal (its text: never a secret), if any."""
    try:
        description = answer.json().get("error_description")
    except (ValueError, AttributeError):
        return ""
    return f": {description[:300]}" if isinstance(description, str) and description else ""


def _rewrite(path: Path, events: list[Event]) -> None:
    """Replace the outbox's content (the caller holds its lock)."""
    data = "".join(e.to_json() + "\n" for e in events).encode()
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, data)
    finally:
        os.close(fd)


def _write_status(home: Path, board_url: str, answer: Answer) -> None:
    """The last flush's outcome; the last refusal for good is kept until another replaces it."""
    previous = last_status(home) or {}
    status = {
        "at": time.time(),
        "board_url": board_url,
        "error": "" if answer.for_good else answer.error,
        "rejected": answer.error if answer.for_good else previous.get("rejected", ""),
    }
    write_private(progress_dir(home) / STATUS, json.dumps(status))


def last_status(home: Path) -> dict[str, object] | None:
    """The last flush: ``{"at": epoch seconds, "board_url": ..., "error": "" or why,
    "rejected": "" or why the board last refused a batch for good}``."""
    try:
        data = json.loads((progress_dir(home) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
