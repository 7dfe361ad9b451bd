"""What a failed answer means for Kore's setup: readable reasons from the bridge's and Plaid's
error answers, and Plaid's error codes told as the procedure step to check (the Kore rows of
:data:`.plaid_errors.ADVICE`)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from ..plaid_errors import ADVICE, Caller, PlaidProblem, classify
from .procedure import STEP_BRIDGE, KoreFlowError

# What error answers say, in this order: RFC 6749 (the token endpoint), Plaid, the bridge's
# browser API (``message``), Starlette.
KEYS_TOLD = ("error", "error_code", "error_description", "error_message", "message", "detail")


def error_text(response: httpx.Response) -> str:
    """A short readable reason from an error response (JSON or HTML)."""
    body = json_object(response)
    parts = [str(body[key]) for key in KEYS_TOLD if body.get(key)]
    if parts:
        return ": ".join(parts)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text[:300] or f"HTTP {response.status_code}"


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def bridge_explained(response: httpx.Response, during: str) -> KoreFlowError | None:
    """The bridge's own explanation of a failed Plaid call (code, message, fix, step)."""
    body = json_object(response)
    code = body.get("plaid_error_code")
    if not code and not body.get("step"):
        return None
    message = str(body.get("message") or error_text(response))
    if not body.get("step"):
        return plaid_error(str(code), f"{code}: {message}", f"the bridge ({during})")
    return KoreFlowError(
        f"The bridge failed while {during}: {code + ': ' if code else ''}{message}",
        fix=str(body.get("fix") or "Read the bridge's log (`kore-plaid status` shows where)."),
        step=str(body["step"]),
    )


def plaid_error(
    code: str,
    detail: str,
    where: str,
    status: int = 0,
    from_action: bool = False,
    product: str | None = None,
) -> KoreFlowError:
    """Map a Plaid error code (and Plaid's HTTP ``status``, 0 when not known) to the procedure
    step that most likely caused it. ``from_action``: one of the simulator's calls as Kore's
    actions make them (:class:`.plaid_actions.PlaidAction`; ``product``: the PLAID_PRODUCTS
    product it needs); else the Link stand-in or the bridge."""
    problem = classify(code, status=status)
    if from_action and code == "PRODUCT_NOT_READY":
        problem = PlaidProblem.PRODUCTS
    if Caller.KORE not in ADVICE[problem]:
        problem = PlaidProblem.OTHER
    said = ADVICE[problem][Caller.KORE]
    step = STEP_BRIDGE if problem is PlaidProblem.OTHER and not from_action else said.step
    linked_without = f": the Item was linked without '{product}'." if product else "."
    message = said.says(where=where, detail=detail, linked_without=linked_without)
    return KoreFlowError(message, fix=said.advises(), step=step)
