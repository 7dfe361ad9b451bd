"""Parts of Plaid's answers that several endpoints share: the ``Item`` object, the accounts a
request selects, a dated page's bounds, and Plaid's timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from . import data, fields
from .core import Body
from .errors import item_error
from .store import Item


def item_json(item: Item) -> Body:
    institution = data.institution(item.institution_id)
    return {
        "item_id": item.item_id,
        "institution_id": item.institution_id,
        "institution_name": institution["name"] if institution else None,
        "webhook": item.webhook or "",
        "error": item_error(item.error_code) if item.error_code else None,
        # every product of the bank not billed yet, as in the spec's ins_117650 example
        "available_products": [
            p for p in (institution["products"] if institution else []) if p not in item.products
        ],
        "billed_products": list(item.products),
        "products": list(item.products),
        "consented_products": list(item.products),
        "consent_expiration_time": None,
        "update_type": "background",
    }


def created_on(item: Item) -> date:
    """The day the Item was created (UTC): the Sandbox data is dated back from it."""
    return datetime.fromtimestamp(item.created_at, UTC).date()


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_accounts(item: Item) -> list[Body]:
    """The Item's accounts, as its bank's country has them."""
    return data.accounts(item.item_id, data.country(item.institution_id))


def item_transactions(item: Item) -> list[Body]:
    """The Item's transactions, oldest first, in its bank's currency."""
    currency = data.currency(data.country(item.institution_id))
    return data.transactions(item.item_id, created_on(item), currency)


def selected_accounts(item: Item, body: Body, types: tuple[str, ...] | None = None) -> list[Body]:
    """The Item's accounts, narrowed to ``options.account_ids`` (all known) and ``types``."""
    accounts = item_accounts(item)
    wanted = fields.strings(fields.obj(body, "options"), "account_ids", required=False)
    if wanted is not None:
        known = {a["account_id"] for a in accounts}
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise fields.invalid("options.account_ids", "contains ids not in this Item")
        accounts = [a for a in accounts if a["account_id"] in wanted]
    if types is not None:
        accounts = [a for a in accounts if a["type"] in types]
    return accounts


@dataclass(frozen=True)
class DatedPage:
    """``start_date`` / ``end_date`` (in order) and ``options`` with its ``count`` /
    ``offset``."""

    start: date
    end: date
    options: Body
    count: int
    offset: int

    def covers(self, day: object) -> bool:
        """Whether an ISO date (``YYYY-MM-DD``) lies within ``start`` .. ``end``."""
        return self.start.isoformat() <= str(day) <= self.end.isoformat()


def dated_page(body: Body) -> DatedPage:
    start = fields.day(body, "start_date")
    end = fields.day(body, "end_date")
    if end < start:
        raise fields.invalid("end_date", "must not be before start_date")
    options = fields.obj(body, "options")
    count = fields.integer(options, "count", default=100, minimum=1, maximum=500)
    offset = fields.integer(options, "offset", default=0, minimum=0)
    return DatedPage(start, end, options, count, offset)
