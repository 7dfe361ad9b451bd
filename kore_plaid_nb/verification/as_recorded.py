"""``kore-plaid verify --as-recorded``: play Kore the way the bridge last saw Kore call it.

The bridge records the shape of every request to its Authorization URL and Token URL
(``kore-plaid kore-requests``). The newest ones from Kore (not from ``verify``) say how this
Kore sends the client credentials, which body it posts, and whether it sends ``state`` and
PKCE: :meth:`~..kore.behaviour.KoreBehaviour.from_shapes` turns them into the behaviour the
simulator then plays.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bridge.kore_requests import latest_from_kore
from ..bridge.request_shapes import RequestShape, iso8601
from ..errors import RunbookError
from ..kore.procedure import STEP_SECRET, STEP_TOKEN_URL
from ..kore.simulator import KoreBehaviour
from ..settings import Settings
from ..tables import yes_no

NOTHING_RECORDED_FIX = (
    "In Kore, open the authorization profile, click Authorize and finish Plaid Link "
    "(notebook 06); then run `kore-plaid verify --as-recorded` again. "
    "`kore-plaid kore-requests` lists what the bridge recorded."
)


@dataclass(frozen=True)
class RecordedKore:
    """The behaviour recorded requests show, and the requests it comes from."""

    behaviour: KoreBehaviour
    authorize: RequestShape | None
    token: RequestShape

    def describe(self) -> str:
        """Which behaviour is played, and from which recorded requests (times, no values)."""
        token = self.token
        lines = [
            f"Playing Kore as the bridge recorded it: {self.behaviour.label}.",
            f"  from Kore's token request at {iso8601(token.at)}: credentials "
            f"{token.client_auth}, body {token.content_type or '(none)'}, grant_type "
            f"{token.grant_type or '(none)'}, PKCE {yes_no(token.pkce)}, answered HTTP "
            f"{token.status}",
        ]
        if self.authorize is not None:
            lines.append(
                f"  and its authorization request at {iso8601(self.authorize.at)}: state "
                f"{yes_no(self.authorize.state)}, PKCE {yes_no(self.authorize.pkce)}, answered "
                f"HTTP {self.authorize.status}"
            )
        else:
            lines.append(
                "  no authorization request from Kore is recorded: a state is assumed, PKCE "
                "as the token request shows"
            )
        if token.grant_type is None:
            lines.append(
                "  Kore sent no grant_type; the simulator sends grant_type=authorization_code "
                "(the bridge reads a code without one the same way)."
            )
        if token.status >= 400:
            lines.append(
                f"  The bridge refused that request (HTTP {token.status}); the checks below "
                "show whether this shape passes now."
            )
        return "\n".join(lines)


def recorded_kore(settings: Settings) -> RecordedKore:
    """The behaviour of Kore's newest recorded requests; :class:`RunbookError` (with what to
    do) when nothing is recorded or the token request carried no client credentials."""
    authorize, token = latest_from_kore(settings)
    if token is None and authorize is None:
        raise RunbookError(
            "Nothing from Kore is recorded yet: the bridge has seen no authorization or token "
            "request from Kore.",
            fix=NOTHING_RECORDED_FIX,
        )
    if token is None:
        when = iso8601(authorize.at) if authorize is not None else "?"
        raise RunbookError(
            f"Kore's authorization request (at {when}) is recorded, but no token request "
            "from Kore: the credentials and the body it sends are unknown.",
            fix="Finish Plaid Link in the window Kore opened, so that Kore calls the Token "
            "Request URL (<public URL>/api/send_the_access_token_AUTH); then run this again.",
            step=STEP_TOKEN_URL,
        )
    if token.client_auth == "none":
        raise RunbookError(
            f"Kore's token request at {iso8601(token.at)} carried no client credentials "
            "(neither HTTP Basic nor client_secret in the body), and the bridge requires "
            "client authentication (RFC 6749 2.3), so there is nothing to replay.",
            fix="Fill Client ID and Client Secret Key in Kore's profile (`kore-plaid profile` "
            "shows them), save, and click Authorize again.",
            step=STEP_SECRET,
        )
    return RecordedKore(KoreBehaviour.from_shapes(authorize, token), authorize, token)
