"""``kore-plaid audit [--json] [--since ISO]``: the bridge's audit trail (:mod:`.audit`),
oldest first: when, what, which Item (``itm_...``), from which client address, under which
request id, and why. Never a secret. ``--json`` prints ``{"records": [...]}``, each with
``at`` in ISO 8601 (UTC); ``--since`` takes the same form (a date, or a date and time; UTC
unless it names its offset)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import settings as settings_module
from ..errors import RunbookError
from ..tables import format_table, utc_time

if TYPE_CHECKING:
    from .store.audit import AuditRecord

HEADERS = ("at", "event", "item", "client", "request id", "detail")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"records": [...]}')
    parser.add_argument(
        "--since",
        metavar="ISO",
        help="only records from this time on (2026-12-01 or 2026-12-01T09:30:00Z; UTC)",
    )


def parse_since(text: str) -> float:
    """A Unix time from an ISO 8601 date or date and time (UTC unless an offset is given)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RunbookError(
            f"--since {text!r} is not an ISO 8601 date or time.",
            fix="Pass a date such as 2026-12-01, or a date and time such as "
            "2026-12-01T09:30:00Z (UTC unless it names its offset).",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def as_json(record: AuditRecord) -> dict[str, object]:
    return {
        "at": iso_time(record.at),
        "event": record.event,
        "item_ref": record.item,
        "client": record.client,
        "request_id": record.request_id,
        "detail": record.detail,
    }


def read_trail(settings: settings_module.Settings, since: float | None) -> list[AuditRecord]:
    from .store import open_existing_store

    store = open_existing_store(settings)
    if store is None:
        return []
    with store:
        return store.audit_since(since)


def run(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    since = None if args.since is None else parse_since(args.since)
    records = read_trail(settings, since)
    if args.json:
        print(json.dumps({"records": [as_json(record) for record in records]}, indent=2))
        return 0
    if not records:
        print(
            f"No audit record{' since ' + args.since if args.since else ''}: the bridge's "
            f"store ({settings.bridge_store_shown}) holds none."
        )
        return 0
    rows = [
        (
            utc_time(r.at) or "",
            r.event,
            str(r.item or "-"),
            r.client or "-",
            r.request_id or "-",
            r.detail or "",
        )
        for r in records
    ]
    print(format_table(HEADERS, rows))
    return 0
