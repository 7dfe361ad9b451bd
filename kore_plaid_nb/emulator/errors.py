"""Plaid-shaped errors: the body (``error_type``, ``error_code``, ...) and the HTTP status.

Raise :class:`PlaidAPIError` anywhere in a handler; the app turns it into Plaid's JSON body.
"""

from __future__ import annotations

import secrets
import string
from typing import NamedTuple

_ALPHANUMERIC = string.ascii_letters + string.digits


class KnownError(NamedTuple):
    """What Plaid answers for an ``error_code`` unless told otherwise."""

    error_type: str
    status: int  # HTTP
    message: str  # error_message
    display_message: str | None


CATALOG: dict[str, KnownError] = {
    "INVALID_API_KEYS": KnownError(
        "INVALID_INPUT",
        400,
        "invalid client_id or secret provided",
        None,
    ),
    "INVALID_ACCESS_TOKEN": KnownError(
        "INVALID_INPUT",
        400,
        "provided access token is in an invalid format. expected format: "
        "access-<environment>-<identifier>",
        None,
    ),
    "INVALID_PUBLIC_TOKEN": KnownError(
        "INVALID_INPUT",
        400,
        "provided public token is in an invalid format. expected format: "
        "public-<environment>-<identifier>",
        None,
    ),
    "INVALID_LINK_TOKEN": KnownError(
        "INVALID_INPUT",
        400,
        "provided link token is in an invalid format. expected format: "
        "link-<environment>-<identifier>",
        None,
    ),
    "INVALID_INSTITUTION": KnownError(
        "INVALID_INPUT",
        400,
        "invalid institution_id provided",
        None,
    ),
    "INVALID_WEBHOOK_VERIFICATION_KEY_ID": KnownError(
        "INVALID_INPUT",
        400,
        "invalid key_id provided",
        None,
    ),
    "SANDBOX_WEBHOOK_INVALID": KnownError(
        "SANDBOX_ERROR",
        400,
        "Webhook for this item is either empty or has been malformed",
        None,
    ),
    "SANDBOX_PRODUCT_NOT_ENABLED": KnownError(
        "SANDBOX_ERROR",
        400,
        "the requested product is not enabled on this item",
        None,
    ),
    "USER_PERMISSION_REVOKED": KnownError(
        "ITEM_ERROR",
        400,
        "the holder of this account has revoked their permission for your application to access it",
        None,
    ),
    "MISSING_FIELDS": KnownError(
        "INVALID_REQUEST", 400, "the following required fields are missing", None
    ),
    "INVALID_FIELD": KnownError("INVALID_REQUEST", 400, "a field in the request is invalid", None),
    "INVALID_BODY": KnownError(
        "INVALID_REQUEST",
        400,
        "body could not be parsed as JSON",
        None,
    ),
    "INVALID_HEADERS": KnownError("INVALID_REQUEST", 400, "a header is missing or invalid", None),
    "NOT_FOUND": KnownError("INVALID_REQUEST", 404, "the requested endpoint does not exist", None),
    "ITEM_LOGIN_REQUIRED": KnownError(
        "ITEM_ERROR",
        400,
        "the login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information. use Link's update "
        "mode to restore the item to a good state",
        "The login details of this bank account have changed. Please log in again.",
    ),
    "INVALID_CREDENTIALS": KnownError(
        "ITEM_ERROR",
        400,
        "the provided credentials were not correct",
        "The provided credentials were not correct. Please try again.",
    ),
    "INVALID_MFA": KnownError(
        "ITEM_ERROR",
        400,
        "the provided MFA response(s) were not correct",
        "The provided MFA responses were not correct. Please try again.",
    ),
    "ITEM_LOCKED": KnownError(
        "ITEM_ERROR",
        400,
        "the account is locked. prompt the user to visit the institution's site and unlock "
        "their account",
        "Too many attempts. Please visit your bank to unlock your account.",
    ),
    "ITEM_NOT_FOUND": KnownError("ITEM_ERROR", 400, "the requested item was not found", None),
    "PRODUCT_NOT_READY": KnownError(
        "ITEM_ERROR",
        400,
        "the requested product is not yet ready. please provide a webhook or try the request "
        "again later",
        None,
    ),
    "PRODUCTS_NOT_SUPPORTED": KnownError(
        "ITEM_ERROR",
        400,
        "the requested product is not supported by this item",
        None,
    ),
    "NO_ACCOUNTS": KnownError(
        "ITEM_ERROR", 400, "no valid accounts were found for this item", None
    ),
    "INSTITUTION_DOWN": KnownError(
        "INSTITUTION_ERROR",
        400,
        "this institution is not currently responding to this request",
        "This financial institution is not currently responding. Please try again later.",
    ),
    "INSTITUTION_NOT_RESPONDING": KnownError(
        "INSTITUTION_ERROR",
        400,
        "this institution is not currently responding to this request",
        "This financial institution is not currently responding. Please try again later.",
    ),
    "RATE_LIMIT": KnownError("RATE_LIMIT_EXCEEDED", 429, "rate limit exceeded", None),
    "ACCOUNTS_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for attempts to access this item. please try again later",
        None,
    ),
    "AUTH_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED", 429, "rate limit exceeded for auth requests", None
    ),
    "BALANCE_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for balance requests",
        None,
    ),
    "IDENTITY_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for identity requests",
        None,
    ),
    "ITEM_GET_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED", 429, "rate limit exceeded for item/get", None
    ),
    "TRANSACTIONS_LIMIT": KnownError(
        "RATE_LIMIT_EXCEEDED",
        429,
        "rate limit exceeded for transactions requests",
        None,
    ),
    "INTERNAL_SERVER_ERROR": KnownError(
        "API_ERROR",
        500,
        "an unexpected error occurred",
        "An unexpected error occurred. Please try again later.",
    ),
    "PLANNED_MAINTENANCE": KnownError(
        "API_ERROR",
        503,
        "the Plaid API is undergoing planned maintenance",
        None,
    ),
}


def request_id() -> str:
    """A Plaid-like request id: 15 alphanumeric characters."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(15))


class PlaidAPIError(Exception):
    """An error answered in Plaid's shape. Unknown codes become ITEM_ERROR / 400."""

    def __init__(
        self,
        error_code: str,
        error_message: str | None = None,
        *,
        error_type: str | None = None,
        status: int | None = None,
        display_message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        known = CATALOG.get(
            error_code, KnownError("ITEM_ERROR", 400, error_code.lower().replace("_", " "), None)
        )
        self.error_code = error_code
        self.error_type = error_type or known.error_type
        self.status = status or known.status
        self.error_message = error_message or known.message
        self.display_message = (
            display_message if display_message is not None else known.display_message
        )
        self.headers = dict(headers or {})  # response headers, e.g. Connection: close
        super().__init__(f"{self.error_type}/{self.error_code}: {self.error_message}")

    def body(self, request_id_value: str | None = None) -> dict[str, object]:
        return error_body(
            self.error_type,
            self.error_code,
            self.error_message,
            self.display_message,
            request_id_value or request_id(),
        )


def error_body(
    error_type: str,
    error_code: str,
    error_message: str,
    display_message: str | None,
    request_id_value: str,
) -> dict[str, object]:
    """Plaid's error object as the API sends it at the top level of a failed response: no
    ``status`` (the spec sends it in webhook errors only) and no ``causes`` (asset and check
    report errors only)."""
    return {
        "error_type": error_type,
        "error_code": error_code,
        "error_message": error_message,
        "display_message": display_message,
        "request_id": request_id_value,
        "documentation_url": f"https://plaid.com/docs/errors/#{error_code.lower()}",
        "suggested_action": None,
    }


def item_error(error_code: str) -> dict[str, object]:
    """The error object embedded in ``item.error`` (no request id)."""
    err = PlaidAPIError(error_code)
    return {
        "error_type": err.error_type,
        "error_code": err.error_code,
        "error_message": err.error_message,
        "display_message": err.display_message,
    }
