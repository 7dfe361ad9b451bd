"""The bridge's own figures, read from its ``/metrics``: authorizations, token requests,
Plaid calls with their p95, webhooks.

A :class:`Figures` is one scrape's counters and histogram buckets; ``later.since(earlier)``
is what happened between two scrapes (a bridge restarted meanwhile counts from zero). A
p95 is shown as the bound of the histogram bucket it falls in (``≤ 0.25 s``), the most one
scrape can say without guessing inside a bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..errors import RunbookError, plain_reason
from .metrics import catalog

# (sample name, sorted label pairs)
SampleKey = tuple[str, tuple[tuple[str, str], ...]]

STARTED: Final = f"{catalog.PREFIX}_authorizations_started_total"
COMPLETED: Final = f"{catalog.PREFIX}_authorizations_completed_total"
FAILED: Final = f"{catalog.PREFIX}_authorizations_failed_total"
AUTHORIZATION_SECONDS: Final = f"{catalog.PREFIX}_authorization_seconds"
TOKEN_REQUESTS: Final = f"{catalog.PREFIX}_token_requests_total"
TOKEN_SECONDS: Final = f"{catalog.PREFIX}_token_request_seconds"
PLAID_REQUESTS: Final = f"{catalog.PREFIX}_plaid_requests_total"
PLAID_SECONDS: Final = f"{catalog.PREFIX}_plaid_request_seconds"
WEBHOOKS: Final = f"{catalog.PREFIX}_webhooks_total"
# Plaid calls whose answers the bridge caches: how many it makes depends on what it served
# before, not only on what happened since.
CACHED_CALLS: Final = frozenset({"/webhook_verification_key/get", "/institutions/get_by_id"})
QUANTILE: Final = 0.95
HEADERS: Final = ("figure", "what", "count", "p95 (bucket bound)")
NONE: Final = "-"


class FiguresUnavailable(RunbookError):
    """The bridge's metrics could not be read (the message says why, the fix what to do)."""


@dataclass(frozen=True)
class Figures:
    """One scrape's counter and histogram samples (``_created`` times and gauges left out)."""

    values: Mapping[SampleKey, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Figures:
        """Prometheus' text format, as the bridge's ``/metrics`` answers it."""
        values: dict[SampleKey, float] = {}
        for family in text_string_to_metric_families(text):
            if family.type not in ("counter", "histogram"):
                continue
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return cls(values)

    def since(self, earlier: Figures | None) -> Figures:
        """What was counted after ``earlier``; all of it when a value fell (the bridge
        restarted in between) or when there is no ``earlier``."""
        if earlier is None or any(
            self.values.get(key, 0.0) < value for key, value in earlier.values.items()
        ):
            return self
        return Figures({k: v - earlier.values.get(k, 0.0) for k, v in self.values.items()})

    def count(self, name: str, **labels: str) -> int:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        return round(sum(value for _, value in self._matching(name, labels)))

    def by(self, name: str, *label_names: str) -> dict[tuple[str, ...], int]:
        """``name``'s non-zero counts, summed by the values of ``label_names``, sorted."""
        found: dict[tuple[str, ...], float] = {}
        for labels, value in self._matching(name, {}):
            key = tuple(labels.get(label, "") for label in label_names)
            found[key] = found.get(key, 0.0) + value
        return {key: round(found[key]) for key in sorted(found) if round(found[key])}

    def p95_bound(self, histogram: str, **labels: str) -> float | None:
        """The upper bound of the bucket holding the histogram's 95th percentile
        (``math.inf`` past its last bucket); None when nothing was observed."""
        cumulative: dict[float, float] = {}
        for sample_labels, value in self._matching(f"{histogram}_bucket", labels):
            bound = float(sample_labels["le"])
            cumulative[bound] = cumulative.get(bound, 0.0) + value
        total = cumulative.get(math.inf, 0.0)
        if total <= 0:
            return None
        return next(b for b in sorted(cumulative) if cumulative[b] >= QUANTILE * total)

    def _matching(
        self, name: str, labels: Mapping[str, str]
    ) -> Iterable[tuple[dict[str, str], float]]:
        for (sample_name, pairs), value in self.values.items():
            sample_labels = dict(pairs)
            if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
                yield sample_labels, value


def shown_bound(bound: float | None, last_finite: float) -> str:
    """A p95 bucket bound as a table shows it: ``≤ 0.25 s``, ``> 30 s`` or ``-``."""
    if bound is None:
        return NONE
    if math.isinf(bound):
        return f"> {last_finite:g} s"
    return f"≤ {bound:g} s"


def figure_rows(
    figures: Figures, leave_out: frozenset[str] = frozenset()
) -> list[tuple[str, str, int, str]]:
    """The table's rows: authorizations, token requests, Plaid calls (but those to the
    endpoints in ``leave_out``), webhooks."""
    return [
        *_authorization_rows(figures),
        *_token_rows(figures),
        *_plaid_rows(figures, leave_out),
        *_webhook_rows(figures),
    ]


def _authorization_rows(figures: Figures) -> list[tuple[str, str, int, str]]:
    seconds = figures.p95_bound(AUTHORIZATION_SECONDS)
    last = catalog.AUTHORIZATION_BUCKETS[-1]
    rows = [
        ("authorizations", "started", figures.count(STARTED), NONE),
        ("authorizations", "completed", figures.count(COMPLETED), shown_bound(seconds, last)),
    ]
    failed = figures.by(FAILED, "reason")
    rows.extend(("authorizations", f"failed: {reason}", n, NONE) for (reason,), n in failed.items())
    if not failed:
        rows.append(("authorizations", "failed", 0, NONE))
    return rows


def _token_rows(figures: Figures) -> list[tuple[str, str, int, str]]:
    counts = figures.by(TOKEN_REQUESTS, "grant_type", "outcome")
    last = catalog.TOKEN_BUCKETS[-1]
    rows = [
        ("token requests", f"{grant}: {outcome}", n,
         shown_bound(figures.p95_bound(TOKEN_SECONDS, grant_type=grant), last))
        for (grant, outcome), n in counts.items()
    ]  # fmt: skip
    return rows or [("token requests", "none", 0, NONE)]


def _plaid_rows(figures: Figures, leave_out: frozenset[str]) -> list[tuple[str, str, int, str]]:
    counts = figures.by(PLAID_REQUESTS, "endpoint", "outcome")
    counts = {key: n for key, n in counts.items() if key[0] not in leave_out}
    last = catalog.PLAID_BUCKETS[-1]
    rows = [
        ("Plaid calls", f"{endpoint}: {outcome}", n,
         shown_bound(figures.p95_bound(PLAID_SECONDS, endpoint=endpoint), last))
        for (endpoint, outcome), n in counts.items()
    ]  # fmt: skip
    return rows or [("Plaid calls", "none", 0, NONE)]


def _webhook_rows(figures: Figures) -> list[tuple[str, str, int, str]]:
    counts = figures.by(WEBHOOKS, "webhook_type", "webhook_code", "verdict", "reason")
    rows = [
        ("webhooks", f"{kind} {code}: {verdict}" + (f" ({reason})" if reason else ""), n, NONE)
        for (kind, code, verdict, reason), n in counts.items()
    ]
    return rows or [("webhooks", "none", 0, NONE)]


def read_figures(url: str, token: str | None = None, timeout: float = 5.0) -> Figures:
    """Scrape ``url`` (a metrics listener, or the main port's ``/metrics`` with ``token``).
    Raises :class:`FiguresUnavailable` saying why."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise FiguresUnavailable(
            f"the bridge's metrics at {url} did not answer: {plain_reason(exc)}",
            fix=RESTART_FIX,
        ) from None
    if answer.status_code != 200:
        raise FiguresUnavailable(
            f"the bridge's metrics at {url} answered HTTP {answer.status_code}", fix=RESTART_FIX
        )
    try:
        return Figures.parse(answer.text)
    except ValueError:
        raise FiguresUnavailable(
            f"{url} did not answer in Prometheus' text format", fix=RESTART_FIX
        ) from None


RESTART_FIX = (
    "restart the bridge so it serves its metrics (`kore-plaid stop bridge`, then rerun "
    "notebook 03), then rerun this notebook"
)
