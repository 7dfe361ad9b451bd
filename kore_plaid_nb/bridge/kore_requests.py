"""What Kore sent: the shapes of the latest requests to the bridge's Authorization URL and
Token URL, as the bridge recorded them in its store (issue 22; names and yes/no facts, never
a value: :mod:`.request_shapes`).

Public API::

    recent_requests(settings, limit=KEPT_SHAPES) -> list[RequestShape]   # newest first
    latest_from_kore(settings) -> (authorize shape | None, code-grant token shape | None)

Both open the store like ``kore-plaid items`` does and close it; a store that cannot be
opened or read is a :class:`..errors.RunbookError` that says what to do.
"""

from __future__ import annotations

from ..settings import Settings
from .request_shapes import KEPT_SHAPES, RequestShape, from_kore
from .store import open_existing_store

CODE_GRANTS = ("authorization_code", None)  # no grant_type with a code means the code grant


def recent_requests(settings: Settings, limit: int = KEPT_SHAPES) -> list[RequestShape]:
    """The newest ``limit`` shapes the bridge recorded, newest first; none when no bridge
    ran yet (a SQLite store that was never created)."""
    store = open_existing_store(settings, pool_size=1)
    if store is None:
        return []
    with store:
        return store.recent_requests(limit)


def latest_from_kore(settings: Settings) -> tuple[RequestShape | None, RequestShape | None]:
    """The newest authorization request and the newest code-grant token request that came
    from Kore (or its embedded stand-in), not from ``kore-plaid verify``: None for each not
    seen among the kept shapes. A ``GET /`` without any parameter (a probe, a visitor) is
    not Kore's: Kore always sends at least ``client_id``."""
    authorize: RequestShape | None = None
    token: RequestShape | None = None
    for shape in recent_requests(settings):
        if not from_kore(shape):
            continue
        if shape.endpoint == "authorize" and authorize is None and shape.params:
            authorize = shape
        elif shape.endpoint == "token" and token is None and shape.grant_type in CODE_GRANTS:
            token = shape
        if authorize is not None and token is not None:
            break
    return authorize, token
