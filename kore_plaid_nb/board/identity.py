"""Who is calling the board: the trainer, or which trainee.

- The trainer's token (``KORE_PLAID_BOARD_TRAINER_TOKEN``, or ``trainer.token`` in the state
  folder): reads the board and may post events for any trainee.
- A trainee's token (``kore-plaid board add-trainee NAME`` prints it once; the store keeps its
  SHA-256 only): posts as NAME, whatever name the events carry, and cannot read the board.
- Under JupyterHub, a Hub API token (the trainee's ``JUPYTERHUB_API_TOKEN``): the Hub names its
  owner (:mod:`.hub`); members of the trainers' group read the board, others post as
  themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from .store import BoardStore

TRAINER, TRAINEE = "trainer", "trainee"
TRAINEE_TOKEN_PREFIX = "kpt_"  # noqa: S105 - a prefix, not a token  # nosec B105
MAX_NAME = 200


@dataclass(frozen=True)
class Caller:
    """An authenticated sender: its name (the trainee's, or who the trainer is) and role."""

    name: str
    role: str

    @property
    def is_trainer(self) -> bool:
        return self.role == TRAINER


class HubLookup(Protocol):
    async def caller(self, token: str) -> Caller | None: ...


def token_digest(token: str) -> str:
    """What the store keeps of a trainee's token (a random 256-bit token: SHA-256 suffices)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_trainee_token() -> str:
    return TRAINEE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def trainee_name(name: str) -> str:
    """``name`` stripped, or ValueError saying why it cannot name a trainee."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"a trainee's name is 1 to {MAX_NAME} printable characters")
    return name


class Identities:
    """Token -> :class:`Caller` (None: nobody the board knows)."""

    def __init__(self, store: BoardStore, trainer_token: str, hub: HubLookup | None = None):
        if not trainer_token:
            raise ValueError("the board needs a trainer's token")
        self.store = store
        self.trainer_secret = trainer_token.encode("utf-8")
        self.hub = hub

    def is_trainer_token(self, token: str) -> bool:
        return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self.trainer_secret)

    async def caller(self, token: str) -> Caller | None:
        if not token:
            return None
        if self.is_trainer_token(token):
            return Caller(TRAINER, TRAINER)
        name = await run_in_threadpool(self.store.trainee_for_digest, token_digest(token))
        if name is not None:
            return Caller(name, TRAINEE)
        if self.hub is not None and not token.startswith(TRAINEE_TOKEN_PREFIX):
            return await self.hub.caller(token)
        return None
