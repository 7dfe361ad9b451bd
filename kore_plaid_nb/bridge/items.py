"""The end users' Items as people see them (``kore-plaid items``, the notebooks): health,
last webhook, and a repair link for each Item that needs its user.

Public API::

    list_items(settings, lookup=True, repair_links=True) -> list[ItemEntry]
                                                       # masked; mints missing repair links
    repair_link(settings, item_ref) -> str | None      # a fresh repair link for one Item
    new_repair_link(settings, item_ref) -> ItemEntry   # the same, or a readable error
    item_health(settings, item_ref) -> str | None      # one Item's health; mints nothing
    mark_item_healthy(settings, item_ref) -> bool      # after a repair (Link update mode)
    rotate_access_token(settings, item_ref) -> ItemEntry
                                                       # new access token; the masked entry
    repair_url(settings, token) -> str                 # <bridge public URL>/repair/<token>

An Item is named by its ``item_ref`` (``itm_`` + 12 hex digits), never by Plaid's item_id
or the store's row number. A repair link is ``<bridge public URL>/repair/<token>``: the token
is random (``BridgeStore.issue_repair_link``), stored as a digest only, single use, valid
24 h; the page behind it spends it with ``BridgeStore.complete_repair(token)``. An Item has
one live link at most: a listing mints one only for an Item without one (the link already
sent keeps working, and is shown as sent, not again: only its digest is kept); a fresh link
(:func:`new_repair_link`) spends the older one.
"""

from __future__ import annotations

import time
from typing import Final, Literal, TypedDict

from ..errors import RunbookError
from ..settings import Settings, mask
from ..tables import utc_time
from . import rotation
from .audit import AuditEvent, record_audit
from .institution_names import institution_names
from .item_health import NEEDS_REPAIR, ItemHealth
from .plaid_link import PlaidLink, RetryPolicy
from .public_url import configured_urls
from .store import (
    BridgeStore,
    Clock,
    Health,
    ItemStatus,
    StoreUnavailable,
    open_existing_store,
)

REPAIR_PATH = "/repair/"
REMOVED: Final = "removed"
ShownHealth = Health | Literal["removed"]  # an Item removed at Plaid shows "removed"


class ItemEntry(TypedDict):
    """One Item as :func:`list_items` shows it (access token masked)."""

    item_ref: str
    institution: str | None
    institution_name: str | None  # the bank's name, when Plaid gives it
    health: ShownHealth
    health_detail: str | None
    last_webhook: str | None
    last_webhook_at: str | None
    authorized_at: str | None
    access_token: str
    repair_url: str | None  # a link just made (shown this once), else None
    repair_link_sent_at: str | None  # the Item's live repair link: made at (UTC)
    repair_link_valid_until: str | None  # ... and valid until (UTC)


def bridge_base_url(settings: Settings) -> str:
    """The bridge's public URL (BRIDGE_PUBLIC_URL, the tunnel, ...), else its local one."""
    return next(iter(configured_urls(settings)), None) or f"http://127.0.0.1:{settings.app_port}"


def repair_url(settings: Settings, token: str) -> str:
    return bridge_base_url(settings) + REPAIR_PATH + token


def fill_institutions(settings: Settings, store: BridgeStore) -> None:
    """Ask Plaid (``/item/get``) for the institutions the bridge did not look up while the
    user waited (display only: a failure leaves them unknown until next time; Plaid
    reporting an Item in error updates its health on the way)."""
    if settings.embedded and not settings.plaid_api_url:
        return  # no emulator to ask: not started for a listing
    missing = store.items_without_institution()
    if not missing:
        return
    health = ItemHealth(store)
    link = PlaidLink(
        settings,
        retry=RetryPolicy(attempts=1),
        timeout=5.0,
        spent=store,
        item_errors=health.plaid_error,
    )
    for item_ref, access_token in missing:
        institution = link.institution(access_token)
        if institution:
            store.set_institution(item_ref, institution)


def list_items(
    settings: Settings, lookup: bool = True, repair_links: bool = True, clock: Clock = time.time
) -> list[ItemEntry]:
    """Every Item of the bridge's store, oldest first: ``item_ref``, ``institution``,
    ``health`` (``removed`` for an Item removed at Plaid), ``health_detail``,
    ``last_webhook`` (``"ITEM ERROR"``), ``last_webhook_at``, ``authorized_at``,
    ``access_token`` (masked), ``repair_url``, ``repair_link_sent_at`` and
    ``repair_link_valid_until``. With ``repair_links``, an Item whose user must log in again
    (ITEM_LOGIN_REQUIRED, PENDING_EXPIRATION, PENDING_DISCONNECT) gets a single-use link
    (``repair_url``) if it has no live one; one that has keeps it (``repair_url`` None, its
    times shown). Without, nothing is minted nor shown. ``lookup``: ask Plaid for
    institutions not known yet. ``clock``: the store's (the bridge's) time."""
    store = open_existing_store(settings, clock=clock)
    if store is None:
        return []
    with store:
        if lookup:
            fill_institutions(settings, store)
        items = [_describe(settings, store, item, repair_links) for item in store.item_statuses()]
    names = institution_names(settings, (i["institution"] for i in items)) if lookup else {}
    for item in items:
        item["institution_name"] = names.get(item["institution"] or "")
    return items


def repair_link(settings: Settings, item_ref: str) -> str | None:
    """A fresh single-use repair link for the Item ``item_ref`` if its user must log in
    again (its older link stops working), else None (an unknown, removed or otherwise
    healthy Item)."""
    store = open_existing_store(settings)
    if store is None:
        return None
    with store:
        item = store.find_item(item_ref)
        if item is None:
            return None
        return _describe(settings, store, item, fresh_link=True)["repair_url"]


def new_repair_link(settings: Settings, item_ref: str) -> ItemEntry:
    """``kore-plaid items --new-repair-link``: a fresh repair link for the Item (the one sent
    before stops working); its entry, with ``repair_url``. :class:`RunbookError` for an
    unknown or removed Item, or one whose user has nothing to repair."""
    store = open_existing_store(settings)
    if store is None:
        raise RunbookError(
            f"No Item yet: the bridge's store ({settings.bridge_store_shown}) holds none.",
            fix="Authorize an end user first (notebook 06, or Kore), then run `kore-plaid items`.",
        )
    with store:
        item = rotation.find_live_item(settings, store, item_ref)
        entry = _describe(settings, store, item, fresh_link=True)
    if entry["repair_url"] is None:
        raise RunbookError(
            f"Item {item.ref} is {entry['health']}: its user has nothing to repair, so it "
            "gets no repair link.",
            fix="Run `kore-plaid items`: a repair link is offered for ITEM_LOGIN_REQUIRED, "
            "PENDING_EXPIRATION and PENDING_DISCONNECT Items only.",
        )
    return entry


def _describe(
    settings: Settings,
    store: BridgeStore,
    item: ItemStatus,
    repair_links: bool = True,
    fresh_link: bool = False,
) -> ItemEntry:
    """The Item's entry; with ``repair_links``, the live repair link of an Item that needs
    one, made if missing (``fresh_link``: made anew, spending the older one)."""
    health: ShownHealth = REMOVED if item.removed_at is not None else item.health
    issued = None
    if repair_links and health in NEEDS_REPAIR:
        issued = store.issue_repair_link(item.ref, replace=fresh_link)
    return {
        "item_ref": item.ref,
        "institution": item.institution,
        "institution_name": None,  # list_items names it
        "health": health,
        "health_detail": item.health_detail,
        "last_webhook": item.last_webhook,
        "last_webhook_at": utc_time(item.last_webhook_at),
        "authorized_at": utc_time(item.created_at),
        "access_token": mask(item.access_token),
        "repair_url": repair_url(settings, issued.token) if issued and issued.token else None,
        "repair_link_sent_at": utc_time(issued.created_at) if issued else None,
        "repair_link_valid_until": utc_time(issued.expires_at) if issued else None,
    }


def item_health(settings: Settings, item_ref: str) -> ShownHealth | None:
    """The health of one Item (``removed`` for a removed one), None for an unknown one;
    mints no repair link (safe to poll)."""
    store = open_existing_store(settings)
    if store is None:
        return None
    with store:
        item = store.find_item(item_ref)
    if item is None:
        return None
    return REMOVED if item.removed_at is not None else item.health


def mark_item_healthy(settings: Settings, item_ref: str) -> bool:
    """Record that the Item's user repaired it; False for an unknown or removed Item."""
    store = open_existing_store(settings)
    if store is None:
        return False
    with store:
        repaired = store.mark_item_healthy(item_ref)
        if repaired:
            record_audit(store, AuditEvent.ITEM_REPAIRED, item_ref, "marked healthy")
        return repaired


def rotate_access_token(settings: Settings, item_ref: str) -> ItemEntry:
    """Rotate the Item's access token at Plaid (``/item/access_token/invalidate``) and store
    the new one: the old token stops working, Kore gets the new one on its next refresh.
    Returns the Item's :func:`list_items` entry afterwards (token masked). An unknown or
    removed Item, or a rotation that could not finish: :class:`RunbookError` saying what
    happened and what to do (see :mod:`.rotation`)."""
    store = open_existing_store(settings)
    if store is None:
        raise RunbookError(
            f"No Item to rotate: the bridge's store ({settings.bridge_store_shown}) "
            "holds none yet.",
            fix="Authorize an end user first (notebook 06, or Kore), then run `kore-plaid items`.",
        )
    with store:
        rotation.rotate(settings, store, item_ref)
        try:
            item = rotation.find_live_item(settings, store, item_ref)
            return _describe(settings, store, item, repair_links=False)
        except StoreUnavailable as exc:
            raise RunbookError(
                f"The access token of Item {item_ref} was rotated and stored; reading the "
                f"Item back failed: {exc.message}",
                fix="Nothing to redo: run `kore-plaid items` later to see it.",
            ) from None
