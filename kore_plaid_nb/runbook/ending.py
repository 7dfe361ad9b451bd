"""How a run ends: what was proven, and the checklist to go live (notebook 08, ``make run``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..settings import Settings

KORE_OAUTH_V2_GUIDE = (
    "https://developer.kore.ai/docs/bots/advanced-topics/authorization/"
    "setting-up-authorization-using-oauth-v2"
)


@dataclass(frozen=True)
class ChecklistItem:
    done: bool
    text: str

    def line(self) -> str:
        return f"[{'x' if self.done else ' '}] {self.text}"


def go_live_items(settings: Settings) -> list[ChecklistItem]:
    """What stands between this setup and a Kore bot using real Plaid data, in order; an item
    is ticked only when the settings already show it done."""
    live_keys = not settings.embedded
    return [
        ChecklistItem(
            live_keys,
            "Plaid keys: notebook 01 (client_id and the Sandbox secret from "
            "dashboard.plaid.com > Developers > Keys), PLAID_ENV=sandbox",
        ),
        ChecklistItem(
            False,  # only Plaid's dashboard knows; notebook 02 checks it in live mode
            "Plaid dashboard > Developers > API > Allowed redirect URIs: add the URIs of "
            "notebook 02",
        ),
        ChecklistItem(
            bool(settings.ngrok_authtoken),
            "ngrok authtoken (and a reserved domain, so the URLs stay the same): notebook 04",
        ),
        ChecklistItem(
            False,
            "Run notebooks 03-05 again, then type the values of notebook 05 into Kore's "
            "OAuth v2 - Custom profile",
        ),
        ChecklistItem(
            False,
            "In Kore: Pre-authorize the Integration, then run notebook 06 (it verifies every "
            "product as Kore calls it)",
        ),
        ChecklistItem(
            settings.bridge_db_url is not None,
            "Allow Users to Authorize at scale: BRIDGE_DB=postgresql://... and the bridge "
            "behind your own HTTPS (README, 'Running the bridge for real')",
        ),
    ]


def _unfinished(statuses: Mapping[str, str]) -> str:
    """``""`` when every notebook before the teardown passed, else what is missing."""
    failed = [name for name, status in statuses.items() if status == "fail"]
    pending = [name for name, status in statuses.items() if status == "pending"]
    parts = []
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    if pending:
        parts.append(f"not done: {', '.join(pending)}")
    return "; ".join(parts)


def closing_text(settings: Settings, statuses: Mapping[str, str] | None = None) -> str:
    """The closing lines: what this run proved, then the go-live checklist. ``statuses``
    (notebook -> pass | fail | pending, from the progress record) turns the first line into
    what is left when the runbook did not pass as a whole."""
    missing = _unfinished(statuses or {})
    if missing:
        head = f"Not done yet ({missing}): run those notebooks again; each says what to do."
    elif settings.embedded:
        head = (
            "Done in embedded mode: every step ran against the built-in Plaid Sandbox emulator, "
            "Link stand-in and local tunnel (no Plaid account, no internet)."
        )
    else:
        head = f"Done in live mode (Plaid {settings.plaid_env})."
    items = go_live_items(settings)
    left = sum(not item.done for item in items)
    lines = [head, f"To go live ({left} of {len(items)} left):"]
    lines += [f"  {item.line()}" for item in items]
    lines.append(f"Kore's guide to OAuth v2 profiles: {KORE_OAUTH_V2_GUIDE}")
    return "\n".join(lines)
