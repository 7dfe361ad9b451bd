"""The runbook's notebooks and the steps each one calls, in order.

The board and ``kore-plaid progress`` list every notebook and step from here, so a trainee who
has not started yet still shows the whole runbook. ``tests/test_progress.py`` checks that this
matches the notebooks' cells.
"""

from __future__ import annotations

from dataclasses import dataclass

START = "start"  # recorded when a notebook's first cell runs
FINISH = "notebook"  # recorded when its last cell runs (or by `kore-plaid run` on a failure)


@dataclass(frozen=True)
class Notebook:
    name: str
    title: str
    steps: tuple[str, ...]


RUNBOOK: tuple[Notebook, ...] = (
    Notebook("00_start_here", "Start here", ("start", "prerequisites", "show_settings")),
    Notebook(
        "01_plaid_keys",
        "Plaid keys",
        (
            "start",
            "plaid_keys_form",
            "check_plaid_keys",
            "show_wrong_secret",
            "explain_environment",
        ),
    ),
    Notebook(
        "02_redirect_uri",
        "Redirect URIs",
        ("start", "kore_callbacks", "callback_form", "check_redirect_uris"),
    ),
    Notebook("03_bridge", "The bridge", ("start", "show_settings", "start_bridge", "check_bridge")),
    Notebook("04_tunnel", "The tunnel", ("start", "ngrok_form", "open_tunnel", "check_tunnel")),
    Notebook("05_kore_profile", "Kore profile", ("start", "show_profile", "check_redirect_uris")),
    Notebook("06_authorize", "Authorize", ("start", "verify", "wait_for_kore", "what_kore_sent")),
    Notebook(
        "07_end_users",
        "End users",
        (
            "start",
            "authorize_end_users",
            "show_authorizations",
            "walk_item_repair",
            "show_items",
            "show_bridge_figures",
        ),
    ),
    Notebook("08_teardown", "Teardown", ("start", "teardown", "wipe_secrets_form", "go_live")),
)
NOTEBOOK_NAMES: tuple[str, ...] = tuple(n.name for n in RUNBOOK)
# What each step does, in the words a trainer reads on the board (the steps' own names are
# the runbook's functions).
STEP_WORDS: dict[str, str] = {
    START: "notebook opened",
    "prerequisites": "prerequisites checked",
    "show_settings": "settings shown",
    "plaid_keys_form": "Plaid keys form",
    "check_plaid_keys": "Plaid keys checked",
    "show_wrong_secret": "a wrong secret shown",  # words, not a secret  # nosec B105
    "explain_environment": "environments explained",
    "kore_callbacks": "Kore callbacks listed",
    "callback_form": "callback form",
    "check_redirect_uris": "redirect URIs checked",
    "start_bridge": "bridge started",
    "check_bridge": "bridge checked",
    "ngrok_form": "ngrok form",
    "open_tunnel": "tunnel opened",
    "check_tunnel": "tunnel checked",
    "show_profile": "Kore profile shown",
    "verify": "chain verified as Kore",
    "wait_for_kore": "waited for Kore's token call",
    "what_kore_sent": "what Kore sent shown",
    "authorize_end_users": "end users authorized",
    "show_authorizations": "authorizations listed",
    "walk_item_repair": "Item repair walked",
    "show_items": "Items listed",
    "show_bridge_figures": "bridge figures shown",
    "teardown": "services stopped",
    "wipe_secrets_form": "secrets removal offered",
    "go_live": "go-live checklist shown",
    FINISH: "notebook finished",
}


def step_words(step: str) -> str:
    """A step in words (an unknown step, e.g. from a newer runbook, as its name)."""
    return STEP_WORDS.get(step, step.replace("_", " "))


def next_notebook(name: str) -> Notebook | None:
    """The notebook after ``name``, None after the last one."""
    names = list(NOTEBOOK_NAMES)
    if name not in names:
        return None
    index = names.index(name) + 1
    return RUNBOOK[index] if index < len(RUNBOOK) else None
