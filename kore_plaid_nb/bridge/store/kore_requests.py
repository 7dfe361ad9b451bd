"""The shapes of the latest requests to the Authorization URL and the Token URL (issue 22):
names and yes/no facts only (:class:`..request_shapes.RequestShape`), shared by every replica
because they live in the store. Each origin (Kore's requests, ``kore-plaid verify``'s) keeps
its newest :data:`..request_shapes.KEPT_SHAPES`, so that a few ``verify --matrix`` runs never
push Kore's out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..request_shapes import KEPT_SHAPES, RequestShape, from_kore
from .database import Database, Transaction

TRIM_EVERY = 20  # inserts of one origin (per process) between two trims; a listing LIMITs anyway
Origin = Literal["kore", "verify"]
ORIGINS: tuple[Origin, ...] = ("kore", "verify")


def origin_of(shape: RequestShape) -> Origin:
    """Who sent the request: Kore (or its embedded stand-in), or ``kore-plaid verify``."""
    return "kore" if from_kore(shape) else "verify"


class KoreRequests:
    """The ``kore_requests`` table: one row per request (``shape`` is
    :meth:`RequestShape.to_record`, ``origin`` is :func:`origin_of`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._inserted = dict.fromkeys(ORIGINS, 0)  # by this process

    def record(self, shapes: Sequence[RequestShape]) -> None:
        """Add ``shapes`` (oldest first) in one transaction; once every :data:`TRIM_EVERY`
        shapes of an origin, also delete all but that origin's newest :data:`KEPT_SHAPES`
        (one walk of the ``(origin, id)`` index)."""
        if not shapes:
            return
        origins = [origin_of(shape) for shape in shapes]
        trims = [origin for origin in ORIGINS if self._trim_due(origin, origins.count(origin))]
        with self.db.transaction() as tx:
            for shape, origin in zip(shapes, origins, strict=True):
                tx.execute(
                    "INSERT INTO kore_requests (at, endpoint, origin, shape) VALUES (?, ?, ?, ?)",
                    (shape.at, shape.endpoint, origin, shape.to_record()),
                )
            for origin in trims:
                trim(tx, origin)

    def _trim_due(self, origin: Origin, added: int) -> bool:
        """Count ``added`` shapes of ``origin``; whether a trim is due (the first insert, or
        one more :data:`TRIM_EVERY` passed)."""
        if not added:
            return False
        before = self._inserted[origin]
        self._inserted[origin] = before + added
        return before == 0 or before // TRIM_EVERY != (before + added) // TRIM_EVERY

    def recent(self, limit: int = KEPT_SHAPES, kore_only: bool = False) -> list[RequestShape]:
        """The newest ``limit`` shapes (at most :data:`KEPT_SHAPES`), newest first; only
        Kore's when ``kore_only``."""
        limit = max(0, min(limit, KEPT_SHAPES))
        with self.db.read() as tx:
            if kore_only:
                rows = tx.execute(
                    "SELECT shape FROM kore_requests WHERE origin = ? ORDER BY id DESC LIMIT ?",
                    ("kore", limit),
                ).fetchall()
            else:
                rows = tx.execute(
                    "SELECT shape FROM kore_requests ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
        return [RequestShape.from_record(row["shape"]) for row in rows]


def trim(tx: Transaction, origin: Origin) -> None:
    """Delete all but the newest :data:`KEPT_SHAPES` shapes of ``origin``."""
    tx.execute(
        "DELETE FROM kore_requests WHERE origin = ? AND id < (SELECT id FROM kore_requests"
        " WHERE origin = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (origin, origin, KEPT_SHAPES - 1),
    )
