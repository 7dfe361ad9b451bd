"""Plain-text tables: stable, aligned output for notebooks, the CLI and nbval."""

from __future__ import annotations

import time
from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render rows under headers with columns padded to the widest cell."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def yes_no(flag: bool) -> str:
    """``yes`` or ``no``, as the tables show a flag."""
    return "yes" if flag else "no"


def utc_time(timestamp: float | None) -> str | None:
    """``2026-12-01 12:00:00 UTC`` for a Unix time; None for None."""
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
