"""Kore's Callback Link: the URLs Kore's docs show, by region, and a warning for any other.

Kore's form shows its Callback Link read-only; the bridge sends the user back to
PLAID_REDIRECT_URI only, compared character by character, so the two must be the same string.
Kore's docs show four (source: Kore's docs, the OAuth v2 page and the integration guides). A
URL that is none of them is saved, since Kore may have more hosts than its docs show, but
warned about. The Kore simulator's loopback callback is never warned about.
"""

from __future__ import annotations

from ..settings import Settings
from ..settings.model import KORE_CALLBACK_REGIONS
from ..tables import format_table

COPY_YOURS = "Copy yours from Kore's form (its Callback Link); it must match exactly."
SOURCE = "Source: Kore's docs (the OAuth v2 page and the integration guides)."
YOURS = "yours (PLAID_REDIRECT_URI)"


def documented_callbacks() -> list[tuple[str, str]]:
    """(region or host, Callback Link) for each callback URL Kore's docs show."""
    return [(region, url) for url, region in KORE_CALLBACK_REGIONS.items()]


def _loosely(url: str) -> str:
    return url.strip().rstrip("/").lower()


def callback_warning(url: str, current: Settings) -> str:
    """A warning when ``url`` is none of Kore's documented callbacks; empty otherwise.

    Never for the simulator's loopback callback (``kore-plaid verify`` receives it)."""
    if url in KORE_CALLBACK_REGIONS or url == current.simulator_callback:
        return ""
    near = [known for known in KORE_CALLBACK_REGIONS if _loosely(known) == _loosely(url)]
    if near:
        return (
            f"Warning: {url} differs from {near[0]}, which Kore's docs show, only in letter "
            "case, spaces or the final '/'. The bridge compares the Callback Link character by "
            f"character. {COPY_YOURS}"
        )
    hosts = ", ".join(region for region, _ in documented_callbacks())
    return (
        f"Warning: {url} is none of the Callback Links Kore's docs show ({hosts}). That is "
        "allowed: keep it if Kore's form shows exactly this URL; otherwise copy the Callback "
        "Link from Kore's form. It must match exactly, or the bridge will not send users back "
        "to Kore."
    )


def describe_callbacks(current: Settings) -> str:
    """The documented callbacks (the configured one marked), what to do, and any warning."""
    rows = [
        (region, url, "yes" if url == current.plaid_redirect_uri else "")
        for region, url in documented_callbacks()
    ]
    lines = [
        format_table(("region", "Callback Link", YOURS), rows),
        SOURCE,
        "",
        COPY_YOURS,
        f"PLAID_REDIRECT_URI now: {current.plaid_redirect_uri}",
    ]
    warning = callback_warning(current.plaid_redirect_uri, current)
    if warning:
        lines.append(warning)
    return "\n".join(lines)
