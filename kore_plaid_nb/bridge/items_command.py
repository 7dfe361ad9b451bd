"""``kore-plaid items [--json]``: every end user's Item the bridge holds, with its health,
its last Plaid webhook and, for an Item whose user must log in again, a single-use repair
link (valid 24 h). Access tokens are masked. An Item has one live repair link: a listing
shows a new link once; later listings say when it was made and until when it is valid (the
bridge keeps only its digest) and leave it working.

``kore-plaid items --new-repair-link ITEM_REF [--json]``: a fresh repair link for that Item
(lost, or sent to the wrong person); the one made before stops working.

``kore-plaid items --rotate ITEM_REF [--json]``: rotate that Item's Plaid access token (the
old one stops working; Kore gets the new one with its next refresh) and show the Item."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .. import settings as settings_module
from ..tables import format_table

if TYPE_CHECKING:
    from .items import ItemEntry

HEADERS = ("item", "institution", "health", "last webhook", "authorized at", "access token")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument(
        "--all", action="store_true", help="also list the Items removed at Plaid (hidden)"
    )
    one_item = parser.add_mutually_exclusive_group()
    one_item.add_argument(
        "--rotate",
        metavar="ITEM_REF",
        help="rotate this Item's Plaid access token (itm_...; --json: print its one object)",
    )
    one_item.add_argument(
        "--new-repair-link",
        metavar="ITEM_REF",
        help="make a fresh repair link for this Item (itm_...); the one made before stops "
        "working. A listing shows a link once, then only when it was made",
    )


def run(args: argparse.Namespace) -> int:
    from .items import REMOVED, list_items

    settings = settings_module.load()
    if args.rotate is not None:
        return _rotate(settings, args.rotate, args.json)
    if args.new_repair_link is not None:
        return _new_repair_link(settings, args.new_repair_link, args.json)
    every = list_items(settings)
    items = every if args.all else [item for item in every if item["health"] != REMOVED]
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    hidden = len(every) - len(items)
    if not items:
        print(
            f"No Item yet: the bridge's store ({settings.bridge_store_shown}) holds none."
            if not hidden
            else f"No Item in use: {_removed(hidden)}."
        )
        return 0
    rows = [
        (
            item["item_ref"],
            item["institution_name"] or item["institution"] or "unknown",
            item["health"],
            _last_webhook(item),
            item["authorized_at"],
            item["access_token"],
        )
        for item in items
    ]
    print(format_table(HEADERS, rows))
    if hidden:
        print(f"({_removed(hidden)}.)")
    repairs = [item for item in items if item["repair_url"]]
    if repairs:
        print("\nSend each of these users their repair link (single use, valid 24 h, shown once):")
        for item in repairs:
            print(f"  {item['item_ref']} ({item['health']}): {item['repair_url']}")
    sent = [item for item in items if item["repair_link_sent_at"] and not item["repair_url"]]
    if sent:
        print("\nRepair links made before (still valid; the bridge keeps only their digest):")
        for item in sent:
            print(f"  {item['item_ref']} ({item['health']}): {_sent(item)}")
        print("A user who lost theirs: `kore-plaid items --new-repair-link ITEM_REF`.")
    return 0


def _removed(count: int) -> str:
    items = "Item" if count == 1 else "Items"
    return f"{count} {items} removed at Plaid not shown: `kore-plaid items --all` lists them"


def _sent(item: ItemEntry) -> str:
    return (
        f"repair link sent {item['repair_link_sent_at']}, valid until "
        f"{item['repair_link_valid_until']}"
    )


def _new_repair_link(settings: settings_module.Settings, item_ref: str, as_json: bool) -> int:
    from .items import new_repair_link

    item = new_repair_link(settings, item_ref)
    if as_json:
        print(json.dumps(item, indent=2))
        return 0
    print(
        f"New repair link for Item {item['item_ref']} ({item['health']}; single use, valid "
        f"until {item['repair_link_valid_until']}; the one made before no longer works):\n"
        f"  {item['repair_url']}"
    )
    return 0


def _last_webhook(item: ItemEntry) -> str:
    if not item["last_webhook"]:
        return "none"
    return f"{item['last_webhook']} at {item['last_webhook_at']}"


def _rotate(settings: settings_module.Settings, item_ref: str, as_json: bool) -> int:
    from .items import rotate_access_token

    item = rotate_access_token(settings, item_ref)
    if as_json:
        print(json.dumps(item, indent=2))
        return 0
    print(
        f"Rotated the access token of Item {item['item_ref']}: the old one no longer works at "
        f"Plaid; the bridge holds the new one ({item['access_token']}) and Kore gets it with "
        "its next token refresh."
    )
    return 0
