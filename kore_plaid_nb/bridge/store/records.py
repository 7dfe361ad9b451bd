"""What the store hands out: plain frozen records, the one mapping from a row to a record,
and the digest that stands for a secret."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .database import Row

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def digest(secret: str) -> str:
    """The stored form of a session id, code, refresh token or public token."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def public_ref(item_id: str) -> str:
    """An Item's reference for people and notebooks: ``itm_`` + 12 hex digits of a digest
    of its Plaid item_id (neither the item_id nor the store's row number)."""
    return "itm_" + hashlib.sha256(f"kore-plaid item {item_id}".encode()).hexdigest()[:12]


def from_row(record: type[R], row: Row, **given: Any) -> R:
    """The ``record`` whose fields are the row's columns of the same names (the query says
    ``AS`` where a column is named otherwise); ``given``: fields that do not come from the row."""
    values = {name: row[name] for name in _field_names(record) if name not in given}
    return record(**values, **given)


@functools.cache  # a handful of record types
def _field_names(record: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record))


# An Item's health, stored as this text (see :mod:`..item_health` for what sets each).
Health = Literal[
    "healthy",
    "ITEM_LOGIN_REQUIRED",
    "PENDING_EXPIRATION",
    "PENDING_DISCONNECT",
    "USER_PERMISSION_REVOKED",
    "NEW_ACCOUNTS_AVAILABLE",
    "INVALID_ACCESS_TOKEN",
]


class StoreProblem(StrEnum):
    """Why the store would not hand out a session or a repair link."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    EXHAUSTED = "exhausted"  # no more Link tokens
    REMOVED = "removed"  # the Item is gone at Plaid
    NOT_STARTED = "not_started"  # a repair link never given a Link token


@dataclass(frozen=True)
class SessionRecord:
    client_id: str
    redirect_uri: str
    auth_query: str
    expires_at: float
    status: str


@dataclass(frozen=True)
class LinkTokenGrant:
    """Outcome of counting a Link token for a session: None or why not, and the session's
    language (None: not recorded)."""

    problem: StoreProblem | None
    language: str | None = None


@dataclass(frozen=True)
class SessionClaim:
    """Outcome of claiming a session: the record, or why there is none
    (``"unknown"``, ``"expired"`` or ``"used"``)."""

    record: SessionRecord | None
    problem: StoreProblem | None


@dataclass(frozen=True)
class ItemRecord:
    item_id: str
    access_token: str
    institution: str | None
    client_user_id: str


@dataclass(frozen=True)
class CodeRecord:
    digest: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    item_ref: int
    access_token: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True)
class RefreshRecord:
    client_id: str
    item_ref: int
    access_token: str
    revoked_at: float | None


@dataclass(frozen=True)
class AuthorizationRow:
    """One authorization (one Item) as the notebooks list it."""

    created_at: float
    client_id: str | None
    redirect_uri: str | None
    item_id: str
    access_token: str
    institution: str | None
    removed_at: float | None
    code_expires_at: float | None
    code_used_at: float | None
    issued: int
    revoked: int
    last_refresh: float | None


@dataclass(frozen=True)
class ItemStatus:
    """One Item's health, as ``kore-plaid items`` lists it."""

    ref: str
    institution: str | None
    health: Health
    health_detail: str | None
    health_at: float | None
    last_webhook: str | None
    last_webhook_at: float | None
    created_at: float
    access_token: str
    removed_at: float | None


@dataclass(frozen=True)
class RepairItem:
    """The Item a repair link sends its user to fix (Link in update mode needs its token)."""

    ref: str
    item_id: str
    access_token: str
    institution: str | None
    client_user_id: str
    language: str | None = None  # of the authorization that created the Item


@dataclass(frozen=True)
class RepairClaim:
    """Outcome of using a repair link: the Item, or why there is none (``"unknown"``,
    ``"expired"``, ``"used"``, ``"removed"``: the Item is gone at Plaid, ``"exhausted"``: no
    more Link tokens, ``"not_started"``: no Link token yet); ``link_tokens``: how many Link
    tokens the link was given."""

    item: RepairItem | None
    problem: StoreProblem | None
    link_tokens: int = 0


@dataclass(frozen=True)
class HostedSession:
    """A Hosted Link session (LINK_MODE=hosted) as its return id finds it: the salt that
    makes the session id out of the return id, the Link token, the session's status, and what
    Plaid's SESSION_FINISHED webhook reported (``hosted_status``, the public token) if it came."""

    salt: str
    link_token: str
    auth_query: str
    client_id: str
    redirect_uri: str
    expires_at: float
    status: str
    hosted_status: str | None
    public_token: str | None
    language: str | None = None
