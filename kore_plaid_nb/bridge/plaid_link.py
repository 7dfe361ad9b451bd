"""The bridge's Plaid calls (through plaid-python) and how their failures are explained.

Every Plaid failure becomes a :class:`LinkStepError`: an HTTP status for the browser (never
500), the Plaid error code, a readable message, what to do, and the procedure step to check.
"""

from __future__ import annotations

import hashlib
import threading

from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest

from .. import plaid_client
from ..settings import Settings
from .store import ItemRecord

CLIENT_NAME = "Kore.ai bot"


class LinkStepError(Exception):
    """A Plaid call failed; safe to show (no token, no secret)."""

    def __init__(self, status: int, code: str, message: str, fix: str, step: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fix = fix
        self.step = step

    def as_json(self) -> dict[str, object]:
        return {
            "error": "plaid_error",
            "plaid_error_code": self.code,
            "message": self.message,
            "fix": self.fix,
            "step": self.step,
        }


def explain(
    exc: BaseException, settings: Settings, during: str, redirect_uri: str | None = None
) -> LinkStepError:
    """Turn a plaid-python failure into a :class:`LinkStepError` that says what to check."""
    err = plaid_client.error_from_exception(exc)
    host = plaid_client.api_host(settings)
    code = err.error_code
    if err.error_type == "CONNECTION_ERROR":
        return LinkStepError(
            502,
            code,
            f"The bridge could not reach Plaid at {host} while {during}.",
            "Check the internet connection, or start the emulator when PLAID_API_URL points "
            "at it (`kore-plaid sandbox`).",
            "4.vii-x",
        )
    if code == "INVALID_API_KEYS":
        return LinkStepError(
            502,
            code,
            f"Plaid refused the bridge's client id / secret while {during}.",
            "Copy the client_id and the secret of the PLAID_ENV environment from "
            "dashboard.plaid.com > Developers > Keys into .env, then restart the bridge.",
            "4.iii-iv",
        )
    if code in ("INVALID_PUBLIC_TOKEN", "INVALID_LINK_TOKEN"):
        return LinkStepError(
            400,
            code,
            f"Plaid did not accept this Link session while {during} (it expired or was "
            "already used).",
            "Close this page and start the authorization again from the Kore conversation.",
            None,
        )
    if code == "INVALID_FIELD" and redirect_uri:
        return LinkStepError(
            502,
            code,
            f"Plaid refused a field while {during}: {err.error_message}",
            f"Add {redirect_uri} to dashboard.plaid.com > Developers > API > "
            "Allowed redirect URIs (or set LINK_REDIRECT_URI to one that is there).",
            "4.v-vi",
        )
    if err.error_type == "RATE_LIMIT_EXCEEDED":
        return LinkStepError(
            503,
            code,
            f"Plaid is rate limiting the bridge while {during}.",
            "Wait a minute and try again.",
            None,
        )
    return LinkStepError(
        502,
        code,
        f"Plaid answered {err.error_type}/{code} while {during}: {err.error_message}",
        "Read the message; check PLAID_PRODUCTS / PLAID_COUNTRY_CODES in .env, then start "
        "again from Kore.",
        "4.x",
    )


class PlaidLink:
    """Link token creation, public token exchange and Item removal for one bridge."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._api = None
        self._lock = threading.Lock()

    @property
    def api(self):
        with self._lock:
            if self._api is None:
                self._api = plaid_client.create(self.settings)
            return self._api

    def create_link_token(self, session_id: str, redirect_uri: str | None = None) -> str:
        """A Link token for one end user (the session names the user, Plaid sees a digest);
        ``redirect_uri`` is where OAuth banks send the browser back (``/oauth-return``)."""
        user_id = "kore-" + hashlib.sha256(session_id.encode()).hexdigest()[:32]
        try:
            return plaid_client.create_link_token(
                self.settings, user_id, redirect_uri, CLIENT_NAME, api=self.api
            )
        except Exception as exc:  # plaid-python raises ApiException, urllib3 errors, ...
            raise explain(exc, self.settings, "creating the Link token", redirect_uri) from None

    def exchange(self, public_token: str, session_id: str) -> ItemRecord:
        """Exchange the public token (once) and describe the Item."""
        try:
            response = self.api.item_public_token_exchange(
                ItemPublicTokenExchangeRequest(public_token=public_token)
            )
        except Exception as exc:
            raise explain(exc, self.settings, "exchanging the public token") from None
        access_token = str(response.access_token)
        institution = None
        try:
            item = self.api.item_get(ItemGetRequest(access_token=access_token)).item
            institution = item.get("institution_id")
        except Exception:  # the institution is only for display
            institution = None
        user_id = "kore-" + hashlib.sha256(session_id.encode()).hexdigest()[:32]
        return ItemRecord(str(response.item_id), access_token, institution, user_id)

    def item_exists(self, access_token: str) -> bool:
        """False when Plaid no longer knows the access token (already removed)."""
        try:
            self.api.item_get(ItemGetRequest(access_token=access_token))
        except Exception as exc:
            return plaid_client.error_from_exception(exc).error_code != "INVALID_ACCESS_TOKEN"
        return True

    def remove_item(self, access_token: str) -> bool:
        """Invalidate an access token at Plaid (``/item/remove``); False when that failed."""
        try:
            self.api.item_remove(ItemRemoveRequest(access_token=access_token))
        except Exception:
            return False
        return True
