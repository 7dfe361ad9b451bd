"""Repair links: the routes are :mod:`.routes.repair`; this module keeps the old import path."""

from __future__ import annotations

from .problems import LINK_TOKENS_PER_REPAIR_LINK
from .routes.repair import REPAIR_PREFIX, TOKEN_SHAPE, repair_routes

__all__ = ["LINK_TOKENS_PER_REPAIR_LINK", "REPAIR_PREFIX", "TOKEN_SHAPE", "repair_routes"]
