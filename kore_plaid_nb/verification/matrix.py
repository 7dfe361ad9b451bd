"""``kore-plaid verify --matrix``: the whole chain once for every way Kore may call the bridge.

No public source says how Kore's OAuth v2 client sends the client credentials, which body it
posts, or whether it sends ``state`` or PKCE (``docs/kore-contract.md``). So the matrix plays
all 24 combinations of :class:`~..kore.behaviour.KoreBehaviour`, each through the whole
chain: authorization request, the user in Link, the redirect, code -> token, refresh, and
every Plaid action. One simulator and one callback server serve every row; the common
checks (products, tenant, bridge, callbacks) run once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..kore.simulator import KoreBehaviour, KoreSimulator
from ..settings import Settings
from ..tables import format_table, yes_no
from .checks import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    Runner,
    VerificationReport,
    authorization_chain,
    checked_url,
    common_checks,
    no_bridge_report,
)

AUTHORIZE_LEG = ("authorize", "public_token", "set_access_token", "redirect")
HEADERS = ("credentials", "body", "state", "PKCE", "authorize", "token", "refresh", "Plaid")


@dataclass(frozen=True)
class MatrixRow:
    """One behaviour's chain: its checks by key, in order."""

    behaviour: KoreBehaviour
    results: dict[str, CheckResult]
    seconds: float = 0.0

    def leg(self, keys: tuple[str, ...]) -> str:
        """``pass`` when every check of ``keys`` passed, else ``FAIL`` or ``skip``."""
        found = [self.results[key].result for key in keys if key in self.results]
        if len(found) == len(keys) and all(r == PASS for r in found):
            return PASS
        return FAIL if FAIL in found else SKIP

    @property
    def plaid(self) -> tuple[int, int]:
        """(passed, total) Plaid calls."""
        calls = [r for key, r in self.results.items() if key.startswith("plaid:")]
        return sum(r.result == PASS for r in calls), len(calls)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.result == PASS for r in self.results.values())

    @property
    def failure(self) -> CheckResult | None:
        """The first check that failed (else the first skipped by itself), None when ok."""
        results = list(self.results.values())
        failed = [r for r in results if r.result == FAIL]
        skipped = [r for r in results if r.result == SKIP and not r.detail.startswith("needs:")]
        first = failed or skipped
        return first[0] if first else None

    @property
    def result(self) -> str:
        if self.ok:
            return PASS
        failure = self.failure
        if failure is None:
            return "skip (a common check failed)"
        return f"{failure.result} (step {failure.step})" if failure.step else failure.result

    def cells(self) -> tuple[str, ...]:
        b = self.behaviour
        passed, total = self.plaid
        return (
            b.credentials,
            b.body,
            yes_no(b.state),
            yes_no(b.pkce),
            self.leg(AUTHORIZE_LEG),
            self.leg(("token",)),
            self.leg(("refresh",)),
            f"{passed}/{total}",
            self.result,
        )

    def as_json(self) -> dict[str, object]:
        failure = self.failure
        passed, total = self.plaid
        return {
            "credentials": self.behaviour.credentials,
            "body": self.behaviour.body,
            "state": self.behaviour.state,
            "pkce": self.behaviour.pkce,
            "authorize": self.leg(AUTHORIZE_LEG),
            "token": self.leg(("token",)),
            "refresh": self.leg(("refresh",)),
            "plaid_passed": passed,
            "plaid_total": total,
            "ok": self.ok,
            "failed_check": failure.name if failure else None,
            "detail": failure.detail if failure else None,
            "step": failure.step if failure else None,
            "fix": failure.fix if failure else None,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class MatrixReport:
    """The common checks, then one row per behaviour."""

    url: str
    common: VerificationReport
    rows: list[MatrixRow] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(row.ok for row in self.rows)

    @property
    def total(self) -> int:
        return len(KoreBehaviour.every())

    @property
    def ok(self) -> bool:
        return self.common.ok and self.passed == self.total == len(self.rows)

    def table(self) -> str:
        return format_table((*HEADERS, "result"), [row.cells() for row in self.rows])

    def summary_lines(self) -> list[str]:
        lines = [f"{self.passed}/{self.total} combinations passed against {self.url}"]
        if not self.common.ok:
            lines[0] += "; a check every combination needs failed:"
        for check in self.common.failures:
            step = f" (procedure step {check.step})" if check.step else ""
            lines.append(f"FAIL {check.name}: {check.detail}{step}")
            if check.fix:
                lines.append(f"     What to do: {check.fix}")
        fix = ""
        for row in self.rows:
            failure = row.failure
            if failure is None or row.ok:
                continue
            step = f" (procedure step {failure.step})" if failure.step else ""
            label = f"{failure.result} {row.behaviour.label}: {failure.name}"
            lines.append(f"{label}: {failure.detail}{step}")
            if failure.fix and failure.fix != fix:  # said once for rows failing alike
                lines.append(f"     What to do: {failure.fix}")
            fix = failure.fix
        return lines

    def to_text(self) -> str:
        first = "The first row is the default Kore (what `kore-plaid verify` plays)."
        return "\n".join([self.table(), "", first, *self.summary_lines()])

    def to_markdown(self) -> str:
        head = "| " + " | ".join((*HEADERS, "result")) + " |"
        lines = [head, "|" + "---|" * (len(HEADERS) + 1)]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in self.rows]
        return "\n".join([*lines, "", *self.summary_lines()])

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "ok": self.ok,
            "passed": self.passed,
            "total": self.total,
            "common": [
                {"check": r.name, "result": r.result, "step": r.step, "fix": r.fix}
                for r in self.common.results
            ],
            "rows": [row.as_json() for row in self.rows],
        }


def run_matrix(
    settings: Settings,
    url: str,
    tenant: str | None = None,
    on_row: Callable[[MatrixRow], None] | None = None,
) -> MatrixReport:
    """Every behaviour's chain against the bridge at ``url``, the default first."""
    report = MatrixReport(url.rstrip("/"), VerificationReport(url=url.rstrip("/")))
    common = Runner(report.common, lambda result: None)
    with KoreSimulator(settings, url, tenant=tenant) as sim:
        common_checks(common, sim, settings)
        for behaviour in KoreBehaviour.every():
            sim.behaviour = behaviour
            run = Runner(VerificationReport(url=report.url), lambda r: None, common.passed)
            authorization_chain(run, sim, settings)
            seconds = sum(r.seconds for r in run.report.results)
            row = MatrixRow(behaviour, dict(run.by_key), seconds)
            report.rows.append(row)
            if on_row is not None:
                on_row(row)
    return report


def verify_matrix(
    settings: Settings,
    url: str | None = None,
    tenant: str | None = None,
    on_row: Callable[[MatrixRow], None] | None = None,
) -> MatrixReport:
    """:func:`run_matrix` against ``url``, else the bridge :func:`.checks.target_url` finds;
    when there is none, a report whose common checks hold that one failure."""
    found = checked_url(settings, url)
    if found is None:
        return MatrixReport("(no bridge)", no_bridge_report())
    return run_matrix(settings, found, tenant=tenant, on_row=on_row)
