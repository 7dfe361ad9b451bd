""" "What Kore sent": the newest recorded requests from Kore, compared with the simulator's
assumptions, as text or markdown (issue 22; notebook 06)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from ..bridge.request_shapes import RequestShape, iso8601
from ..tables import format_table
from .behaviour import DEFAULT_BEHAVIOUR, KoreBehaviour
from .compare import AS_RECORDED, Finding, compare
from .contract import CONTRACT_DOC

TEXT_WIDTH = 100  # the paragraphs under the table, as a terminal or a notebook shows them

NOTHING_RECORDED = (
    "Nothing recorded yet: the bridge has seen no authorization or token request from Kore. "
    "Press Authorize in Kore's authorization profile (procedure step 11) and log in through "
    "Plaid Link, then look again (or run `kore-plaid kore-requests`). Requests made by "
    "`kore-plaid verify` are not Kore's and are not shown."
)
HEADERS = ("assumption", "simulator assumed", "Kore sent", "same?")


def _request_line(name: str, shape: RequestShape | None) -> str:
    if shape is None:
        return f"{name}: not recorded yet"
    agent = shape.user_agent or "none"
    return f"{name}: {iso8601(shape.at)}, answered {shape.status}, User-Agent: {agent}"


@dataclass(frozen=True)
class WhatKoreSent:
    """The newest recorded requests from Kore, compared with the simulator's assumptions."""

    authorize: RequestShape | None
    token: RequestShape | None
    assumed: KoreBehaviour = DEFAULT_BEHAVIOUR
    findings: tuple[Finding, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = tuple(compare(self.authorize, self.token, self.assumed))
        object.__setattr__(self, "findings", found)

    @property
    def differences(self) -> tuple[Finding, ...]:
        """The findings where Kore differs from the assumption (refusals included)."""
        return tuple(finding for finding in self.findings if finding.differs)

    def _title(self) -> str:
        whose = "default " if self.assumed == DEFAULT_BEHAVIOUR else ""
        return f"What Kore sent, compared with the {whose}simulated Kore ({self.assumed.label})"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [(f.assumption.label, f.expected, f.observed, f.verdict) for f in self.findings]

    def _closing(self) -> list[str]:
        if self.authorize is None and self.token is None:
            return [NOTHING_RECORDED]
        count = len(self.differences)
        if not count:
            return [f"No difference. Sources: {CONTRACT_DOC}."]
        noun = "difference" if count == 1 else "differences"
        return [
            f"{count} {noun}. To run the whole chain the way Kore sent it: `{AS_RECORDED}`. "
            f"Sources: {CONTRACT_DOC}."
        ]

    def to_text(self) -> str:
        """Plain text: the two requests, the table, one paragraph per difference."""
        lines = [
            self._title(),
            _request_line("Authorization request", self.authorize),
            _request_line("Token request", self.token),
            "",
            format_table(HEADERS, self._rows()),
        ]
        for finding in self.differences:
            paragraph = f"Difference ({finding.assumption.label}): {finding.explanation}"
            lines += ["", textwrap.fill(paragraph, width=TEXT_WIDTH, break_on_hyphens=False)]
        return "\n".join([*lines, "", *self._closing()])

    def _repr_markdown_(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        table = [
            "| " + " | ".join(HEADERS) + " |",
            "|" + "---|" * len(HEADERS),
            *("| " + " | ".join(cell(c) for c in row) + " |" for row in self._rows()),
        ]
        requests = [
            cell(_request_line("Authorization request", self.authorize)),
            cell(_request_line("Token request", self.token)),
        ]
        differences = [
            f"- **{f.assumption.label}**: {cell(f.explanation)}" for f in self.differences
        ]
        parts = [f"**{self._title()}**", "  \n".join(requests), "\n".join(table)]
        if differences:
            parts.append("\n".join(differences))
        return "\n\n".join([*parts, *self._closing()])
