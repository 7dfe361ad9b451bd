"""The user's part in Plaid Link, played as Plaid's own tests do: a public token from
``/sandbox/public_token/create`` (and the webhook the bridge gave the Link token)."""

from __future__ import annotations

from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)

from .. import plaid_client
from ..settings import Settings
from .diagnosis import plaid_error
from .procedure import STEP_PRODUCTS, KoreFlowError, StepSkipped

SANDBOX_INSTITUTION = "ins_109508"  # First Platypus Bank


def product_names() -> frozenset[str]:
    """The products plaid-python knows (PLAID_PRODUCTS must name some of them)."""
    return frozenset(Products.allowed_values[("value",)].values())


def require_emulator(settings: Settings) -> None:
    """Embedded mode (demo keys) works only against the emulator: raise when it is not set."""
    if settings.embedded and not settings.plaid_api_url:
        raise KoreFlowError(
            "Embedded mode (demo keys), but PLAID_API_URL does not point at the Plaid "
            "emulator: real Plaid refuses the demo keys.",
            fix="Start the emulator (notebook 03_bridge, or `kore-plaid sandbox`) and set "
            "PLAID_API_URL to its URL in .env, or put your own Plaid keys in .env.",
            step="4.x",
        )


def create_public_token(
    settings: Settings, institution_id: str = SANDBOX_INSTITUTION, webhook: str | None = None
) -> str:
    """A sandbox public token for ``institution_id`` (user_good), via plaid-python; the
    Item gets ``webhook`` as an Item made through Link gets its link token's."""
    require_emulator(settings)
    if settings.plaid_env != "sandbox" and not settings.plaid_api_url:
        raise StepSkipped(
            "Outside the sandbox nobody can stand in for the user in Link.",
            fix="Authorize once in Kore and watch for its token call (live check).",
        )
    unknown = [p for p in settings.plaid_products if p not in product_names()]
    if unknown:
        raise KoreFlowError(
            f"PLAID_PRODUCTS names unknown Plaid products: {', '.join(unknown)}.",
            fix="Use PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities.",
            step=STEP_PRODUCTS,
        )
    client = plaid_client.create(settings)
    request = SandboxPublicTokenCreateRequest(
        institution_id=institution_id,
        initial_products=[Products(p) for p in settings.plaid_products],
    )
    if webhook:
        request.options = SandboxPublicTokenCreateRequestOptions(webhook=webhook)
    try:
        response = client.sandbox_public_token_create(request)
    except plaid_client.PLAID_FAILURES as exc:
        error = plaid_client.error_from_exception(exc)
        raise plaid_error(error.error_code, str(error), "the Link stand-in") from None
    return str(response["public_token"])


def link_token_webhook(settings: Settings, link_token: str) -> str | None:
    """The ``webhook`` the bridge named in this Link token (``/link/token/get``): Plaid sends
    the Item's webhooks there. None when Plaid cannot tell."""
    try:
        answer = plaid_client.link_token_get(plaid_client.create(settings), link_token, timeout=10)
    except plaid_client.PLAID_FAILURES:  # no webhook then; the authorization goes on
        return None
    webhook = (answer.get("metadata") or {}).get("webhook")
    return str(webhook) if webhook else None
