"""The shapes of the latest requests to the Authorization URL and the Token URL (issue 22):
names and yes/no facts only (:class:`..request_shapes.RequestShape`), the newest
:data:`..request_shapes.KEPT_SHAPES` kept, shared by every replica because they live in the
store."""

from __future__ import annotations

import itertools

from ..request_shapes import KEPT_SHAPES, RequestShape
from .database import Database

TRIM_EVERY = 20  # inserts (per process) between two trims; a listing LIMITs anyway


class KoreRequests:
    """The ``kore_requests`` table: one row per request (``shape`` is
    :meth:`RequestShape.to_record`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._inserts = itertools.count()

    def record(self, shape: RequestShape) -> None:
        """Add one shape; every :data:`TRIM_EVERY` th call also deletes all but the newest
        :data:`KEPT_SHAPES` (one walk of the primary key's index)."""
        trim = next(self._inserts) % TRIM_EVERY == 0
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO kore_requests (at, endpoint, shape) VALUES (?, ?, ?)",
                (shape.at, shape.endpoint, shape.to_record()),
            )
            if trim:
                tx.execute(
                    "DELETE FROM kore_requests WHERE id < (SELECT id FROM kore_requests"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (KEPT_SHAPES - 1,),
                )

    def recent(self, limit: int = KEPT_SHAPES) -> list[RequestShape]:
        """The newest ``limit`` shapes (at most :data:`KEPT_SHAPES`), newest first."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT shape FROM kore_requests ORDER BY id DESC LIMIT ?",
                (max(0, min(limit, KEPT_SHAPES)),),
            ).fetchall()
        return [RequestShape.from_record(row["shape"]) for row in rows]
