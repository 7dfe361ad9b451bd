"""A trainee's progress through the runbook: events recorded, checklist, board delivery.

Public API::

    record(settings, notebook, step, status, message="", fix="") -> Event | None
    checklist(settings) -> list[NotebookStatus]        # every notebook and step, in order
    standing(settings) -> str                          # one line: where the trainee stands
    reset(settings, clear=False) -> list[str]          # forget progress on request
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

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


HUB_TOKEN = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - a variable's name  # nosec B105
BOARD_AUTH = "KORE_PLAID_BOARD_AUTH"  # "hub": post with the Hub token (the Hub's config sets it)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HUB_URLS = ("JUPYTERHUB_API_URL", "JUPYTERHUB_PUBLIC_HUB_URL")  # the Hub's own hosts


def masked(settings: Settings, text: str) -> str:
    """``text`` with every configured secret (and the Hub's API token) replaced by its mask."""
    hub_token = os.environ.get(HUB_TOKEN, "").strip()
    for secret in (*settings.secret_values, *([hub_token] if hub_token else [])):
        text = text.replace(secret, mask(secret))
    return text


def hub_board_url(board_url: str | None, environ: Mapping[str, str]) -> bool:
    """Whether ``board_url`` is a board the Hub serves: a path under the Hub's
    ``<base>/services/``, on loopback or on the Hub's own host (JUPYTERHUB_API_URL's or
    JUPYTERHUB_PUBLIC_HUB_URL's; by that URL's scheme or https)."""
    if not board_url:
        return False
    try:
        parts = urlsplit(board_url)
        host = (parts.hostname or "").lower()
        hubs = [urlsplit(environ.get(name) or "") for name in HUB_URLS]
    except ValueError:
        return False
    base = "/" + (environ.get("JUPYTERHUB_BASE_URL") or "/").strip("/")
    services = base.rstrip("/") + "/services/"
    if not host or not (parts.path.rstrip("/") + "/").startswith(services):
        return False
    if host in LOOPBACK:
        return True
    return any(
        (hub.hostname or "").lower() == host and parts.scheme in ("https", hub.scheme)
        for hub in hubs
    )


def hub_token_refusal(board_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """'' when the trainee's Hub API token may go to ``board_url``, else why not. The Hub's
    configuration says so (KORE_PLAID_BOARD_AUTH=hub in the server's own environment, never
    from .env), and the board is one of the Hub's services."""
    environ = os.environ if environ is None else environ
    if (environ.get(BOARD_AUTH) or "").strip().lower() != "hub":
        return f"{BOARD_AUTH} is not 'hub' (the Hub's configuration sets it)"
    if not hub_board_url(board_url, environ):
        return (
            f"{board_url} is not one of the Hub's services (a /services/ path on this machine "
            "or on the Hub's own host: JUPYTERHUB_API_URL's or JUPYTERHUB_PUBLIC_HUB_URL's)"
        )
    return ""


def sender_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The token this trainee posts to the board with: their own
    (KORE_PLAID_BOARD_TRAINEE_TOKEN), else their Hub API token when the Hub's configuration
    asks for it and the board is the Hub's (:func:`hub_token_refusal`: that token lets its
    holder act as the trainee), else none. Never the trainer's KORE_PLAID_BOARD_TOKEN."""
    environ = os.environ if environ is None else environ
    if settings.board_trainee_token:
        return settings.board_trainee_token
    hub_token = (environ.get(HUB_TOKEN) or "").strip()
    if hub_token and not hub_token_refusal(settings.board_url, environ):
        return hub_token
    return ""


def record(
    settings: Settings,
    notebook_name: str,
    step: str,
    status: str,
    message: str = "",
    fix: str = "",
) -> Event | None:
    """Record one event in the state folder and send it (with any waiting ones) to the board
    when KORE_PLAID_BOARD_URL and the trainee's token (:func:`sender_token`) are set. Never
    raises: progress must not break a step. Returns the event, None when it could not be
    written."""
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
        token = sender_token(settings)
        if settings.board_url and token:
            # a board new to this trainee first gets everything recorded so far (ids make
            # events it already has harmless)
            known = outbox.knows(settings.home, settings.board_url)
            history = [event] if known else journal.read(settings.home)
            outbox.enqueue(settings.home, history)
            outbox.flush(settings.home, settings.board_url, token)
            if outbox.tell_token_refusal_once(settings.home):
                print(token_refusal_note(settings))
    except OSError:
        return None
    return event


def token_refusal_note(settings: Settings) -> str:
    """What a trainee whose token the board refuses reads (once), with the fix."""
    return (
        f"The trainer's board ({settings.board_url}) refused your token (HTTP 401), so the "
        "trainer cannot see your progress. What to do: ask the trainer for your own token "
        "(`kore-plaid board add-trainee NAME` prints it), set KORE_PLAID_BOARD_TRAINEE_TOKEN "
        "in your .env, and run the cell again: your steps wait and go then."
    )


def board_refuses_token(settings: Settings) -> bool:
    """True while the last delivery to the configured board was refused for the token."""
    status = outbox.last_status(settings.home) or {}
    return (
        bool(settings.board_url)
        and status.get("board_url") == settings.board_url
        and bool(status.get("denied"))
    )


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
    if not settings.board_url:
        return "Board: not configured (KORE_PLAID_BOARD_URL unset)."
    if not sender_token(settings):
        refusal = hub_token_refusal(settings.board_url)
        if os.environ.get(HUB_TOKEN, "").strip() and refusal:
            return f"Board {settings.board_url}: nothing is sent. " + _hub_token_note(refusal)
        if settings.board_token:
            return (
                f"Board {settings.board_url}: nothing is sent. KORE_PLAID_BOARD_TOKEN is the "
                "trainer's token (it opens the board); ask the trainer for your own (`kore-plaid "
                "board add-trainee NAME` prints it) and set KORE_PLAID_BOARD_TRAINEE_TOKEN."
            )
        return (
            f"Board {settings.board_url}: nothing is sent (KORE_PLAID_BOARD_TRAINEE_TOKEN "
            "unset); ask the trainer for your token."
        )
    with contextlib.suppress(OSError):
        return f"Board {settings.board_url}: {_outbox_note(settings)}"
    return f"Board {settings.board_url}: state folder not readable."


def _hub_token_note(refusal: str) -> str:
    """Why the trainee's Hub token is not sent, and what to do."""
    note = (
        f"Your Hub token (JUPYTERHUB_API_TOKEN) goes only to the Hub's own board, and {refusal}; "
    )
    if (os.environ.get(BOARD_AUTH) or "").strip().lower() != "hub":
        # a server started before the class's configuration was upgraded
        return note + (
            "restart your server so it gets the class's settings: File > Hub Control Panel > "
            "Stop My Server, then Start My Server (your files stay)."
        )
    return note + "ask the trainer for your own token (KORE_PLAID_BOARD_TRAINEE_TOKEN)."


def _outbox_note(settings: Settings) -> str:
    left = len(outbox.waiting(settings.home))
    status = outbox.last_status(settings.home) or {}
    error = status.get("error") or ""
    note = (
        f"{left} event(s) waiting; last try: {error or 'ok'}."
        if left or error
        else "every event delivered."
    )
    refused = len(outbox.rejected(settings.home))
    if refused:
        note += (
            f" {refused} event(s) the board refused ({status.get('rejected') or 'HTTP 400/413'}) "
            f"are set aside in {outbox.rejected_path(settings.home)}, not sent again."
        )
    return note


def reset(settings: Settings, clear: bool = False) -> list[str]:
    """Forget the recorded progress and waiting events when ``clear``; lines of what was done."""
    if not clear:
        return ["progress kept (`kore-plaid reset --clear-progress` forgets it)"]
    count = journal.clear(settings.home)
    with contextlib.suppress(OSError):
        outbox.outbox_path(settings.home).unlink(missing_ok=True)
        outbox.rejected_path(settings.home).unlink(missing_ok=True)
    return [f"forgot {count} progress event(s)"]
