"""Embedded mode's stand-in for Kore: one authorization, sent the way a Kore other than the
simulator's default might send it, so that notebook 06's "What Kore sent" has something real
to compare (issue 22).

The stand-in identifies itself (``STANDIN_USER_AGENT``): the bridge records its requests as
Kore's, unlike those of ``kore-plaid verify``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..bridge.kore_requests import latest_from_kore
from ..bridge.request_shapes import STANDIN_USER_AGENT
from ..settings import Settings
from .behaviour import KoreBehaviour
from .procedure import KoreFlowError
from .simulator import KoreSimulator

# Credentials both ways, a JSON body, no state: three of the four open questions answered
# otherwise than the default simulator does (docs/kore-contract.md).
STANDIN_BEHAVIOUR = KoreBehaviour(credentials="both", body="json", state=False, pkce=False)
RECORDED_WITHIN_SECONDS = 3.0  # the bridge stores a lone shape within milliseconds
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class StandinRun:
    """What the stand-in did (no value: the token is never kept)."""

    behaviour: KoreBehaviour
    token_status: int

    def __str__(self) -> str:
        return (
            f"The stand-in Kore authorized once ({self.behaviour.label}); the Token Request URL "
            f"answered {self.token_status}."
        )


def play_kore(
    settings: Settings, base_url: str, behaviour: KoreBehaviour = STANDIN_BEHAVIOUR
) -> StandinRun:
    """Authorize once as the stand-in Kore: the authorization request, the user in Link, the
    redirect, the code at the Token Request URL; then wait until the bridge's store shows
    that token request (the bridge may be another process). Raises
    :class:`.procedure.KoreFlowError`."""
    started = time.time() - 1.0  # the store's clock may round; a second of slack
    with KoreSimulator(
        settings, base_url, behaviour=behaviour, user_agent=STANDIN_USER_AGENT
    ) as kore:
        request, code = kore.authorize()
        answer = kore.exchange_code(request, code)
    wait_until_recorded(settings, started)
    return StandinRun(behaviour, answer.status)


def wait_until_recorded(settings: Settings, since: float) -> None:
    """Return once the store holds a code-grant token request of the stand-in made at
    ``since`` or later; poll for :data:`RECORDED_WITHIN_SECONDS` at most."""
    deadline = time.monotonic() + RECORDED_WITHIN_SECONDS
    while True:
        _authorize, token = latest_from_kore(settings)
        if token is not None and token.user_agent == STANDIN_USER_AGENT and token.at >= since:
            return
        if time.monotonic() >= deadline:
            raise KoreFlowError(
                f"The stand-in Kore authorized, but the bridge's store did not show its token "
                f'request within {RECORDED_WITHIN_SECONDS:g} s: "What Kore sent" would show '
                "an older request, or none.",
                fix="Read the bridge's log (`kore-plaid status` shows where it is) for a line "
                "about request shapes not recorded, then run this cell again.",
            )
        time.sleep(POLL_SECONDS)
