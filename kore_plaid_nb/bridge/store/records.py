"""What the store hands out: plain frozen records, and the digest that stands for a secret."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def digest(secret: str) -> str:
    """The stored form of a session id, code, refresh token or public token."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    client_id: str
    redirect_uri: str
    auth_query: str
    expires_at: float
    status: str


@dataclass(frozen=True)
class SessionClaim:
    """Outcome of claiming a session: the record, or why there is none
    (``"unknown"``, ``"expired"`` or ``"used"``)."""

    record: SessionRecord | None
    problem: str | None


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
