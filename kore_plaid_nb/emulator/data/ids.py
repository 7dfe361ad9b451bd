"""Stable Plaid-looking ids, derived so that one Item always answers the same ids and two
Items never share one."""

from __future__ import annotations

import hashlib
from functools import lru_cache

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=65536)
def derived_id(*parts: str, length: int = 37) -> str:
    """A stable Plaid-looking id (base62) derived from ``parts``."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, rest = divmod(digest, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


def account_id(item_id: str, mask: str) -> str:
    return derived_id("account", item_id, mask)
