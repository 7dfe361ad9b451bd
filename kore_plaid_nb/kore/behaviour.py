"""How a Kore plays its part: the four choices no public source settles (issue 22).

How Kore's OAuth v2 client sends the client credentials, which body it posts, and whether it
sends ``state`` or PKCE is not documented (``docs/kore-contract.md`` gives the sources). The
simulator plays any of the 24 combinations; the default is the plainest client: a form body,
HTTP Basic, a ``state``, no PKCE.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, get_args

from ..bridge.request_shapes import RequestShape, body_kind

Credentials = Literal["basic", "body", "both"]
Body = Literal["form", "json"]
CREDENTIALS: tuple[Credentials, ...] = get_args(Credentials)
BODIES: tuple[Body, ...] = get_args(Body)


@dataclass(frozen=True)
class KoreBehaviour:
    """One way Kore may call the bridge."""

    credentials: Credentials = "basic"
    body: Body = "form"
    state: bool = True
    pkce: bool = False

    @property
    def label(self) -> str:
        """``basic, form, state, no PKCE``."""
        state = "state" if self.state else "no state"
        pkce = "PKCE" if self.pkce else "no PKCE"
        return f"{self.credentials}, {self.body}, {state}, {pkce}"

    def __str__(self) -> str:
        return self.label

    @classmethod
    def every(cls) -> tuple[KoreBehaviour, ...]:
        """All 24 combinations, the default first."""
        combos = itertools.product(CREDENTIALS, BODIES, (True, False), (False, True))
        return tuple(cls(c, b, s, p) for c, b, s, p in combos)

    @classmethod
    def from_shapes(cls, authorize: RequestShape | None, token: RequestShape) -> KoreBehaviour:
        """The behaviour recorded requests show: the credentials and the body from the token
        request (json when the bridge reads its body as JSON: :func:`body_kind`, e.g.
        ``text/json`` or ``application/vnd.api+json``; else a form); state and PKCE from
        the authorization request (without one: a state, and the token request's PKCE).
        Raises ValueError when the token request carried no client credentials."""
        if token.client_auth == "none":
            raise ValueError("the token request carried no client credentials")
        body: Body = "json" if body_kind(token.content_type) == "json" else "form"
        state = authorize.state if authorize is not None else cls().state
        pkce = authorize.pkce if authorize is not None else token.pkce
        return cls(token.client_auth, body, state, pkce)


DEFAULT_BEHAVIOUR = KoreBehaviour()
