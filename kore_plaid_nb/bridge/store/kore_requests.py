"""The shapes of the latest requests to the Authorization URL and the Token URL (issue 22):
names and yes/no facts only (:class:`..request_shapes.RequestShape`), shared by every replica
because they live in the store. Each origin (Kore's requests, ``kore-plaid verify``'s) keeps
its newest :data:`..request_shapes.KEPT_SHAPES` rows, so that a few ``verify --matrix`` runs
never push Kore's out.

A row is one request, or a run of requests that came one after the other in one batch, in the
same whole second, with equal shapes but for ``at``: under load most are (a refresh grant's
are all alike). Such a run is one row, its record's ``"repeats"`` the run's length (absent
for one request, so that an older bridge still reads it), its ``at`` the newest's. A listing
expands each row that many times: the same entries, in the same order, as one row each would
give (the listing's ``at`` is in whole seconds). So the newest KEPT_SHAPES rows kept hold at
least KEPT_SHAPES requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..request_shapes import KEPT_SHAPES, RequestShape, from_kore
from .database import Database, Transaction

TRIM_EVERY = 20  # rows of one origin (per process) between two trims; a listing LIMITs anyway
Origin = Literal["kore", "verify"]
ORIGINS: tuple[Origin, ...] = ("kore", "verify")


def origin_of(shape: RequestShape) -> Origin:
    """Who sent the request: Kore (or its embedded stand-in), or ``kore-plaid verify``."""
    return "kore" if from_kore(shape) else "verify"


def runs(shapes: Sequence[RequestShape]) -> list[tuple[RequestShape, int]]:
    """``shapes`` (oldest first) as (the newest of a run, its length), oldest first: a run
    is consecutive shapes equal but for ``at``, all in the same whole second."""
    found: list[tuple[RequestShape, int]] = []
    last = shapes[0]
    second, count = int(last.at), 1
    for shape in shapes[1:]:
        if int(shape.at) == second and shape.same_but_at(last):
            count += 1
        else:
            found.append((last, count))
            second, count = int(shape.at), 1
        last = shape
    found.append((last, count))
    return found


class KoreRequests:
    """The ``kore_requests`` table: one row per request, or per run of equal requests
    (``shape`` is :meth:`RequestShape.to_record` with the run's length, ``origin`` is
    :func:`origin_of`; see the module's docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._inserted = dict.fromkeys(ORIGINS, 0)  # by this process

    def record(self, shapes: Sequence[RequestShape]) -> None:
        """Add ``shapes`` (oldest first) in one transaction, one row per run of equal shapes
        (:func:`runs`); once every :data:`TRIM_EVERY` rows of an origin, also delete all but
        that origin's newest :data:`KEPT_SHAPES` rows (one walk of the ``(origin, id)``
        index)."""
        if not shapes:
            return
        found = runs(shapes)
        origins = [origin_of(shape) for shape, _ in found]
        trims = [origin for origin in ORIGINS if self._trim_due(origin, origins.count(origin))]
        with self.db.transaction() as tx:
            for (shape, repeats), origin in zip(found, origins, strict=True):
                tx.execute(
                    "INSERT INTO kore_requests (at, endpoint, origin, shape) VALUES (?, ?, ?, ?)",
                    (shape.at, shape.endpoint, origin, shape.to_record(repeats)),
                )
            for origin in trims:
                trim(tx, origin)

    def _trim_due(self, origin: Origin, added: int) -> bool:
        """Count ``added`` rows of ``origin``; whether a trim is due (the first insert, or
        one more :data:`TRIM_EVERY` passed)."""
        if not added:
            return False
        before = self._inserted[origin]
        self._inserted[origin] = before + added
        return before == 0 or before // TRIM_EVERY != (before + added) // TRIM_EVERY

    def recent(self, limit: int = KEPT_SHAPES, kore_only: bool = False) -> list[RequestShape]:
        """The newest ``limit`` shapes (at most :data:`KEPT_SHAPES`), newest first, a row
        of ``repeats`` listed that many times; only Kore's when ``kore_only``. ``limit``
        rows hold at least ``limit`` shapes."""
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
        shapes: list[RequestShape] = []
        for row in rows:
            shape, repeats = RequestShape.repeated_from_record(row["shape"])
            shapes += [shape] * min(repeats, limit - len(shapes))
            if len(shapes) >= limit:
                break
        return shapes


def trim(tx: Transaction, origin: Origin) -> None:
    """Delete all but the newest :data:`KEPT_SHAPES` rows of ``origin`` (at least as many
    shapes)."""
    tx.execute(
        "DELETE FROM kore_requests WHERE origin = ? AND id < (SELECT id FROM kore_requests"
        " WHERE origin = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (origin, origin, KEPT_SHAPES - 1),
    )
