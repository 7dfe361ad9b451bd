"""The bridge's own figures for one notebook: its ``/metrics`` read when the notebook starts
(:func:`remember_start`) and again when a cell shows them (:func:`show_figures`), so the
table counts only what happened in between, whatever ran before."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .. import services, stack
from ..bridge import SERVICE_NAME, metrics_url
from ..bridge.figures import (
    CACHED_CALLS,
    HEADERS,
    RESTART_FIX,
    Figures,
    FiguresUnavailable,
    figure_rows,
    read_figures,
)
from ..emulator.webhooks import wait_for_deliveries
from ..errors import RunbookError
from ..settings import Settings
from ..tables import format_table

START_TIMEOUT = 2.0  # a notebook's first cell waits no longer for a baseline


@dataclass(frozen=True)
class Baseline:
    """The bridge's figures when the notebook started (``bridge``: its pid and start time;
    None when no bridge ran, so everything a bridge counts later is the notebook's)."""

    bridge: tuple[int, float] | None
    figures: Figures | None


_baseline: list[Baseline] = []  # the running notebook's, set by remember_start


def remember_start(settings: Settings) -> None:
    """At a notebook's start: what the running bridge has counted so far. Never fails: an
    unreadable bridge is told when the figures are shown."""
    _baseline.clear()
    record = services.read(settings.home, SERVICE_NAME)
    if record is None:
        _baseline.append(Baseline(None, None))
        return
    url = metrics_url(settings)
    wait_for_webhooks(settings)  # the previous notebook's count before, not during, this one
    try:
        figures = read_figures(url, timeout=START_TIMEOUT) if url else None
    except FiguresUnavailable:
        figures = None
    _baseline.append(Baseline((record.pid, record.started_at), figures))


def show_figures(settings: Settings) -> None:
    """The table of what the bridge counted since this notebook started; one line saying
    why and what to do when its metrics cannot be read."""
    record = services.read(settings.home, SERVICE_NAME)
    url = metrics_url(settings)
    if record is None:
        print(f"The bridge's figures cannot be shown: the runbook's bridge is not running. "
              f"What to do: {RERUN}")  # fmt: skip
        return
    if url is None:
        print("The bridge's figures cannot be shown: it was started without a metrics port. "
              f"What to do: {RESTART_FIX}.")  # fmt: skip
        return
    wait_for_webhooks(settings)
    try:
        now = read_figures(url)
    except FiguresUnavailable as exc:
        print(f"The bridge's figures cannot be shown: {exc.message}. What to do: {exc.fix}.")
        return
    since, note = _since_start(record.pid, record.started_at)
    print(f"What the bridge counted {note} (its /metrics, as Prometheus would scrape it):")
    print(format_table(HEADERS, figure_rows(now.since(since), leave_out=CACHED_CALLS)))
    print(f"Not shown: {', '.join(sorted(CACHED_CALLS))} (the bridge caches their answers).")


RERUN = (
    "run this notebook from its first cell (it starts the bridge, which serves its metrics "
    "on a loopback port of its own)."
)


def wait_for_webhooks(settings: Settings) -> None:
    """Embedded mode: wait until the emulator has sent the webhooks it queued, so the
    bridge has counted and recorded them (no wait when no emulator runs)."""
    if not settings.embedded:
        return
    try:
        plaid = stack.plaid_settings(settings, start=False)
        # returns once the outbox is empty; 30 s (the emulator's cap) for a loaded machine
        wait_for_deliveries(plaid.plaid_api_url or "", plaid.client_id, plaid.secret, 30.0)
    except (RunbookError, httpx.HTTPError, ValueError):
        pass  # the figures are shown as they are


def _since_start(pid: int, started_at: float) -> tuple[Figures | None, str]:
    """The figures to subtract, and what the table then counts."""
    if not _baseline:
        return None, "since it started (run this notebook from its first cell for its own)"
    baseline = _baseline[0]
    if baseline.bridge is None or baseline.bridge != (pid, started_at):
        return None, "during this notebook"  # it started (again) after the notebook did
    if baseline.figures is None:
        return None, "since it started (its metrics could not be read when this notebook did)"
    return baseline.figures, "during this notebook"
