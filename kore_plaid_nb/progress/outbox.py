"""Events on their way to the trainer's board: ``<state folder>/progress/outbox.jsonl``.

Every event goes into the outbox first; :func:`flush` sends all waiting events in one
request and removes them once the board stored them. The board being down, slow or refusing
never fails a step and costs at most ~1 s: the events wait for the next flush that gets
through (ids make a re-sent event harmless). The board's ``error`` code decides the rest:

* ``clock_ahead`` (this computer's clock is ahead): the events wait, sent once it is right;
* ``request_too_large`` (or a proxy's 413): the batch is halved and sent again at once;
* ``too_many_events`` (the trainee's cap), a refusal naming one event (``"event": i``) or any
  other 400: what the board refused (only event ``i`` when named) moves to
  ``rejected.jsonl`` (0600) beside the outbox for good, so the next events go.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..private_files import write_private
from ..tls import client_context
from .events import Event
from .journal import append, locked, progress_dir, read_lines

OUTBOX = "outbox.jsonl"
REJECTED = "rejected.jsonl"
STATUS = "board-status.json"
WAIT_CODES = ("clock_ahead",)  # 400s that pass once the trainee fixes something
TIMEOUT = httpx.Timeout(0.45)  # connect and read: at most ~0.9 s in all
MAX_BATCH = 1000  # the board's own limit per request


@dataclass(frozen=True)
class Delivery:
    sent: int
    waiting: int
    error: str = ""
    rejected: int = 0
    token_refused: bool = False  # the board answered 401: the trainer sees nothing


@dataclass(frozen=True)
class Answer:
    """The board's answer to one batch: '' or why not, whether re-sending is pointless (then
    ``event``: the one event at fault, if the board named it), whether a smaller batch may go."""

    error: str = ""
    for_good: bool = False
    event: int | None = None
    too_large: bool = False
    token_refused: bool = False


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
        batch, answer = _send(board_url, token, events[:MAX_BATCH])
        refused = _refused(batch, answer)
        if refused:
            append(rejected_path(home), refused)
        if not answer.error or refused == batch:
            _rewrite(path, events[len(batch) :])
        elif refused:
            _rewrite(path, [e for e in events if e.id != refused[0].id])
    _write_status(home, board_url, answer)
    sent = 0 if answer.error else len(batch)
    left = len(events) - sent - len(refused)
    return Delivery(sent, left, answer.error, len(refused), answer.token_refused)


def _send(board_url: str, token: str, batch: list[Event]) -> tuple[list[Event], Answer]:
    """Post ``batch``, halving it while the board finds it too large; the part last sent."""
    answer = _post(board_url, token, batch)
    while answer.too_large and len(batch) > 1:
        batch = batch[: len(batch) // 2]
        answer = _post(board_url, token, batch)
    return batch, answer


def _refused(batch: list[Event], answer: Answer) -> list[Event]:
    """The events of ``batch`` the board refused for good (only the one it named, if any)."""
    if not (answer.for_good or answer.too_large):
        return []
    if answer.event is not None and 0 <= answer.event < len(batch):
        return [batch[answer.event]]
    return batch


def _post(board_url: str, token: str, batch: list[Event]) -> Answer:
    """The board's answer to ``batch`` (its error text holds no secret)."""
    body = {"events": [e.as_dict() for e in batch]}
    try:
        answer = httpx.post(
            f"{board_url}/api/events",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            verify=client_context(),
        )
    except httpx.HTTPError as exc:
        return Answer(f"the board at {board_url} did not answer ({type(exc).__name__})")
    if answer.status_code == 401:
        return Answer(
            "the board refused the token (401): check KORE_PLAID_BOARD_TRAINEE_TOKEN",
            token_refused=True,
        )
    if answer.status_code >= 300:
        return _refusal(answer)
    return Answer()


def _refusal(answer: httpx.Response) -> Answer:
    """What a 3xx-5xx answer means for the batch, by the board's ``error`` code."""
    body = _json(answer)
    description = body.get("error_description")
    reason = f": {description[:300]}" if isinstance(description, str) and description else ""
    error = f"the board answered HTTP {answer.status_code}{reason}"
    code, event = body.get("error"), body.get("event")
    index = event if isinstance(event, int) and not isinstance(event, bool) else None
    if answer.status_code == 413 and code != "too_many_events":
        return Answer(error, too_large=True)
    if answer.status_code == 413 or (answer.status_code == 400 and code not in WAIT_CODES):
        return Answer(error, True, index)
    return Answer(error)


def _json(answer: httpx.Response) -> dict[str, object]:
    """The board's JSON error (its text: never a secret), or {}."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
    set_aside = answer.for_good or answer.too_large
    status = {
        "at": time.time(),
        "board_url": board_url,
        "error": "" if set_aside else answer.error,
        "rejected": answer.error if set_aside else previous.get("rejected", ""),
        "denied": answer.token_refused,
        # told once per refusal: kept while the board keeps refusing
        "denial_told": answer.token_refused and bool(previous.get("denial_told")),
    }
    write_private(progress_dir(home) / STATUS, json.dumps(status))


def tell_token_refusal_once(home: Path) -> bool:
    """True the first time since the board began refusing the token (then recorded)."""
    status = last_status(home) or {}
    if not status.get("denied") or status.get("denial_told"):
        return False
    write_private(progress_dir(home) / STATUS, json.dumps({**status, "denial_told": True}))
    return True


def last_status(home: Path) -> dict[str, object] | None:
    """The last flush: ``{"at": epoch seconds, "board_url": ..., "error": "" or why,
    "rejected": "" or why the board last refused a batch for good}``."""
    try:
        data = json.loads((progress_dir(home) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
