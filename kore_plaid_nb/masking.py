"""Secrets shown without being given away: ``abcd…wxyz`` and URLs with their password hidden.

A leaf module: it imports nothing from the project, so anything may use it.
"""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"^([a-z]+://[^:/@]*):([^@]*)@")


def mask(value: str | None) -> str:
    """Show a secret as ``abcd…wxyz`` (short values become ``…``); empty stays empty."""
    if not value:
        return ""
    if len(value) < 12:
        return "…"
    return f"{value[:4]}…{value[-4:]}"


def mask_url_password(url: str) -> str:
    """A URL with its password masked: ``postgresql://user:…@host:port/db``."""
    return _URL_PASSWORD.sub(r"\1:…@", url)


def url_password(url: str) -> str:
    """The password inside ``scheme://user:password@host`` (empty when there is none)."""
    match = _URL_PASSWORD.match(url)
    return match.group(2) if match else ""
