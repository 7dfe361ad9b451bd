"""The board as a JupyterHub service: the Hub says who a token belongs to, and the trainer
signs in to the page through the Hub (OAuth 2.0 with PKCE, JupyterHub's ``HubOAuth``).

A trainer is a member of the Hub group ``KORE_PLAID_BOARD_TRAINERS_GROUP`` (default
``kore-plaid-trainers``, created by deploy/jupyterhub/jupyterhub_config.py from
``KORE_PLAID_TRAINERS``). Every other Hub user is a trainee: their events are theirs, named by
the Hub, and they cannot read the board. Active when the Hub started the board with an API token
and an OAuth client (``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_CLIENT_ID``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool

from ..errors import ServiceError
from .identity import TRAINEE, TRAINER, Caller

DEFAULT_TRAINERS_GROUP = "kore-plaid-trainers"
STATE_COOKIE = "kore_plaid_board_oauth"


class HubUnavailable(ServiceError):
    """The Hub's API did not answer whose token this is (the board answers 503)."""


def _error_text(exc: Exception) -> str:
    return str(getattr(exc, "log_message", "") or type(exc).__name__)


class HubIdentity:
    """Hub tokens -> callers, and the OAuth steps of the trainer's sign-in (over ``auth``, a
    ``jupyterhub.services.auth.HubOAuth``)."""

    def __init__(self, auth: Any, trainers_group: str = DEFAULT_TRAINERS_GROUP) -> None:
        self.auth = auth
        self.trainers_group = trainers_group

    def caller_for_model(self, model: object) -> Caller | None:
        if not isinstance(model, dict) or model.get("kind", "user") != "user":
            return None  # no such token, or a service's token
        name = model.get("name")
        if not isinstance(name, str) or not name:
            return None
        groups = model.get("groups") or []
        role = TRAINER if self.trainers_group in groups else TRAINEE
        return Caller(name, role)

    async def _model(self, token: str, use_cache: bool = True) -> object:
        try:
            return await run_in_threadpool(self.auth.user_for_token, token, use_cache)
        except Exception as exc:  # tornado's HTTPError, a refused connection
            raise HubUnavailable(
                f"JupyterHub's API did not say whose token this is ({_error_text(exc)}).",
                fix="Check that the Hub is running; the trainees' notebooks send again later.",
            ) from None

    async def caller(self, token: str) -> Caller | None:
        return self.caller_for_model(await self._model(token))

    def authorize_url(self) -> tuple[str, str]:
        """Where to send the trainer's browser, and the state to keep in its cookie."""
        verifier, challenge, method = self.auth.generate_pkce_code_challenge()
        state = self.auth.generate_state(None, code_verifier=verifier)
        query = urlencode(
            {
                "client_id": self.auth.oauth_client_id,
                "redirect_uri": self.auth.oauth_redirect_uri,
                "response_type": "code",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": method,
            }
        )
        return f"{self.auth.oauth_authorization_url}?{query}", state

    async def finish_sign_in(self, code: str, state: str) -> Caller | None:
        """The caller who signed in at the Hub (None: the code or state is not valid)."""
        verifier = self.auth.get_code_verifier(state)
        self.auth.clear_oauth_state(state)
        if not verifier:
            return None
        try:
            token = await run_in_threadpool(
                lambda: self.auth.token_for_code(code, code_verifier=verifier)
            )
        except Exception:  # the Hub refused the code: sign in again
            return None
        return self.caller_for_model(await self._model(token, use_cache=False))


def hub_identity(environ: Mapping[str, str]) -> HubIdentity | None:
    """The Hub identity of a board the Hub started as a service with OAuth, else None."""
    if not (environ.get("JUPYTERHUB_API_TOKEN") and environ.get("JUPYTERHUB_CLIENT_ID")):
        return None
    from jupyterhub.services.auth import HubOAuth  # type: ignore[import-untyped]

    group = (environ.get("KORE_PLAID_BOARD_TRAINERS_GROUP") or "").strip()
    return HubIdentity(HubOAuth(), group or DEFAULT_TRAINERS_GROUP)
