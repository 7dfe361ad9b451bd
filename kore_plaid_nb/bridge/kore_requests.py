"""What Kore sent: the shapes of the latest requests to the bridge's Authorization URL and
Token URL, as the bridge recorded them in its store (issue 22; names and yes/no facts, never
a value: :mod:`.request_shapes`).

Public API::

    recent_requests(settings, limit=KEPT_SHAPES, kore_only=False) -> list[RequestShape]
    latest_from_kore(settings) -> (authorize shape | None, code-grant token shape | None)

``recent_requests`` lists newest first (``kore_only``: Kore's and its stand-in's alone).

Both open the store like ``kore-plaid items`` does and close it; a store that cannot be
opened or read is a :class:`..errors.RunbookError` that says what to do.
"""

from __future__ import annotations

import logging

from ..settings import Settings
from .request_recorder import flush_all
from .request_shapes import KEPT_SHAPES, RequestShape
from .store import open_existing_store

log = logging.getLogger("kore_plaid_nb.bridge")

CODE_GRANTS = ("authorization_code", None)  # no grant_type with a code means the code grant


def recent_requests(
    settings: Settings, limit: int = KEPT_SHAPES, kore_only: bool = False
) -> list[RequestShape]:
    """The newest ``limit`` shapes the bridge recorded, newest first (only those from Kore
    or its stand-in when ``kore_only``); none when no bridge ran yet (a SQLite store that
    was never created)."""
    if not flush_all():  # what a bridge of this process answered is listed
        log.warning("Some request shapes of this process were not stored in time: not listed.")
    store = open_existing_store(settings, pool_size=1)
    if store is None:
        return []
    with store:
        return store.recent_requests(limit, kore_only)


def latest_from_kore(settings: Settings) -> tuple[RequestShape | None, RequestShape | None]:
    """The newest authorization request and the newest code-grant token request that came
    from Kore (or its embedded stand-in), not from ``kore-plaid verify``: None for each not
    seen among Kore's kept shapes. An authorization request without ``client_id`` (a probe,
    a visitor, ``GET /``) is not Kore's: RFC 6749 §4.1.1 requires it, and Kore's profile
    form asks for the Client ID it sends (Kore's docs, OAuth v2 page)."""
    authorize: RequestShape | None = None
    token: RequestShape | None = None
    for shape in recent_requests(settings, kore_only=True):
        if shape.endpoint == "authorize":
            if authorize is None and "client_id" in shape.params:
                authorize = shape
        elif token is None and shape.grant_type in CODE_GRANTS:
            token = shape
        if authorize is not None and token is not None:
            break
    return authorize, token
