"""Live mode: checks against the real Kore and the real Plaid dashboard.

* :func:`wait_for_kore_token` - after the developer clicks *Authorize* in Kore, show that
  Kore's token call reached the bridge (read from the bridge's store, masked).
* :func:`check_redirect_uri_registered` - the dashboard step (4.v-vi) for real: Plaid's
  ``/link/token/create`` refuses a ``redirect_uri`` that is not in the allowed list.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import plaid_client
from ..errors import RunbookError
from ..plaid_errors import REDIRECT_URIS_PAGE, emulator_redirect_uris_fix
from ..settings import Settings

if TYPE_CHECKING:
    from ..bridge import AuthorizationEntry

KORE_TOKEN_STATUSES = frozenset({"active", "revoked"})


@dataclass(frozen=True)
class KoreTokenSeen:
    """An authorization whose code Kore exchanged at the Token Request URL (masked)."""

    authorization: AuthorizationEntry
    waited_seconds: float

    def __str__(self) -> str:
        a = self.authorization
        return (
            f"Kore's token call arrived: {a.get('status')} authorization for "
            f"{a.get('redirect_uri')} (access token {a.get('access_token')}, "
            f"item {a.get('item_id')}, {a.get('when')})"
        )


def _epoch(when: str | None) -> float | None:
    if not when:
        return None
    try:
        return float(calendar.timegm(time.strptime(when, "%Y-%m-%d %H:%M:%S UTC")))
    except ValueError:
        return None


def _list_authorizations(settings: Settings) -> list[AuthorizationEntry]:
    try:
        from ..bridge import list_authorizations
    except ImportError as exc:
        raise RunbookError(
            f"The bridge part is not installed ({exc}).", fix="Update the runbook package."
        ) from None
    return list_authorizations(settings)


def wait_for_kore_token(
    settings: Settings,
    since: float,
    timeout: float = 300.0,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> KoreTokenSeen:
    """Wait until an authorization created at or after ``since`` (epoch seconds) has had its
    code exchanged by a caller other than the local simulator; raises on timeout."""
    start = time.monotonic()
    simulator_callback = settings.simulator_callback
    while True:
        for authorization in _list_authorizations(settings):
            created = _epoch(authorization.get("when"))
            if created is None or created + 1 < since:
                continue
            if authorization.get("redirect_uri") == simulator_callback:
                continue
            if authorization.get("status") in KORE_TOKEN_STATUSES:
                return KoreTokenSeen(authorization, time.monotonic() - start)
        if time.monotonic() - start >= timeout:
            raise _no_token_message(settings, timeout)
        sleep(poll)


def _no_token_message(settings: Settings, timeout: float) -> RunbookError:
    pending = [
        a
        for a in _list_authorizations(settings)
        if a.get("status") == "code issued" and a.get("redirect_uri") != settings.simulator_callback
    ]
    if pending:
        return RunbookError(
            f"No token call from Kore within {timeout:.0f} s, although the bridge issued a code "
            "and sent the browser back to Kore: Kore did not call the Token Request URL, or the "
            "bridge refused it.",
            fix="Check the profile's Token Request URL (<public URL>/api/send_the_access_token_"
            "AUTH), Client ID and Client Secret, then click Authorize again.",
            step="7 / 4.iii-iv",
        )
    return RunbookError(
        f"No authorization reached the bridge within {timeout:.0f} s.",
        fix="In Kore, open the profile, click Authorize and finish Plaid Link; check that the "
        "Authorization URL is the tunnel's public URL and the tunnel is open.",
        step="5 / 11-12",
    )


@dataclass(frozen=True)
class RedirectCheck:
    redirect_uri: str
    registered: bool
    message: str


def check_redirect_uri_registered(
    settings: Settings, redirect_uri: str | None = None
) -> list[RedirectCheck]:
    """Ask Plaid's ``/link/token/create`` with each redirect URI (default: the Kore callback
    and, when set, LINK_REDIRECT_URI). Raises :class:`RunbookError` (step 4.v-vi) naming the
    first URI Plaid refuses with INVALID_FIELD; other Plaid errors are explained as such."""
    uris = [redirect_uri] if redirect_uri else [settings.plaid_redirect_uri]
    if not redirect_uri and settings.link_redirect_uri:
        uris.append(settings.link_redirect_uri)
    checks = []
    for uri in uris:
        try:
            plaid_client.create_link_token(settings, "kore-plaid-redirect-check", redirect_uri=uri)
        except plaid_client.PLAID_FAILURES as exc:
            error = plaid_client.error_from_exception(exc)
            if error.error_code == "INVALID_FIELD":
                fix = (
                    emulator_redirect_uris_fix(uri)
                    if settings.embedded
                    else f"In {REDIRECT_URIS_PAGE}, add {uri} exactly (copy Kore's "
                    "Callback Link), save, and run this check again."
                )
                raise RunbookError(
                    f"Plaid does not allow the redirect URI {uri} ({error.error_message}).",
                    fix=fix,
                    step="4.v-vi",
                ) from None
            raise plaid_client.explain(error, plaid_client.api_host(settings)) from None
        checks.append(RedirectCheck(uri, True, f"Plaid allows {uri}"))
    return checks
