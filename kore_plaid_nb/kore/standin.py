"""Embedded mode's stand-in for Kore: one authorization, sent the way a Kore other than the
simulator's default might send it, so that notebook 06's "What Kore sent" has something real
to compare (issue 22).

The stand-in identifies itself (``STANDIN_USER_AGENT``): the bridge records its requests as
Kore's, unlike those of ``kore-plaid verify``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bridge.request_shapes import STANDIN_USER_AGENT
from ..settings import Settings
from .behaviour import KoreBehaviour
from .simulator import KoreSimulator

# Credentials both ways, a JSON body, no state: three of the four open questions answered
# otherwise than the default simulator does (docs/kore-contract.md).
STANDIN_BEHAVIOUR = KoreBehaviour(credentials="both", body="json", state=False, pkce=False)


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
    redirect, the code at the Token Request URL. Raises :class:`.procedure.KoreFlowError`."""
    with KoreSimulator(
        settings, base_url, behaviour=behaviour, user_agent=STANDIN_USER_AGENT
    ) as kore:
        request, code = kore.authorize()
        answer = kore.exchange_code(request, code)
    return StandinRun(behaviour, answer.status)
