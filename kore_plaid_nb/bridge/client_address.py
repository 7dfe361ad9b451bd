"""Whose budget a client address spends, for the bridge's per-client limits (new sessions,
webhook key lookups): an IPv4 address its own, an IPv6 one its /64's."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

KEYS_KEPT = 4096  # addresses whose key is remembered (parsing one is most of its cost)


@lru_cache(maxsize=KEYS_KEPT)
def budget_key(address: str) -> str:
    """Whose budget ``address`` spends: an IPv4 address its own, an IPv6 one its /64's
    (one host holds a whole /64: a new address per request must not buy a new budget), an
    IPv4-mapped IPv6 address its IPv4 one's; anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)
