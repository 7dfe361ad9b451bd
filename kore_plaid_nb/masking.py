"""Secrets shown without being given away: ``abcd…wxyz``.

A leaf module: it imports nothing from the project, so anything may use it.
"""

from __future__ import annotations


def mask(value: str | None) -> str:
    """Show a secret as ``abcd…wxyz`` (short values become ``…``); empty stays empty."""
    if not value:
        return ""
    if len(value) < 12:
        return "…"
    return f"{value[:4]}…{value[-4:]}"
