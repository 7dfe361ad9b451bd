"""What the bridge answers for a path no route serves (404) and a method a route does not take
(405), in the one error model (:mod:`..refusal`) rather than Starlette's plain text: the
readable page, with the request id to quote, for a browser (``Accept: text/html``), else JSON
``{"error", "message", "fix", "request_id"}``; the token endpoint's 405 in RFC 6749's shape,
as its other errors. ``/metrics`` without ``BRIDGE_METRICS_TOKEN`` is such a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..http import answers_json
from ..i18n import N_
from ..refusal import Refusal
from .token import TOKEN_PATHS

CONTRACT = "the bridge's contract (GET /openapi.yaml)"
FROM_THE_START = N_(
    "Go back to the Kore conversation and start the authorization again from there."
)


def for_a_browser(request: Request) -> bool:
    """A browser's page load: it accepts HTML and is not one of the API's calls."""
    return "text/html" in request.headers.get("accept", "") and not answers_json(request)


def allowed_methods(exc: Exception) -> str:
    headers = getattr(exc, "headers", None) or {}
    return str(headers.get("Allow", "another method"))


def not_found_refusal(request: Request) -> Refusal:
    if for_a_browser(request):
        return Refusal(
            404,
            "not_found",
            N_("This address is not a page of this sign-in service."),
            N_(
                "Check the link you followed. Go back to the Kore conversation and start the "
                "authorization again from there."
            ),
            title=N_("Page not found"),
        )
    return Refusal(
        404,
        "not_found",
        "The bridge has no endpoint at this path.",  # not echoed: a path may hold a secret
        f"Check the path against {CONTRACT}.",
    )


def method_refusal(request: Request, exc: Exception) -> Refusal:
    allowed = allowed_methods(exc)
    if for_a_browser(request):
        return Refusal(
            405,
            "method_not_allowed",
            N_("This address is not a page to open in a browser."),
            FROM_THE_START,
            title=N_("Not a page"),
        ).with_headers({"Allow": allowed})
    return Refusal(
        405,
        "invalid_request" if request.url.path in TOKEN_PATHS else "method_not_allowed",
        f"{request.method} is not allowed here: this endpoint takes {allowed}.",
        f"Send the request with {allowed}, as {CONTRACT} describes.",
    ).with_headers({"Allow": allowed})


def answer(request: Request, refusal: Refusal) -> Response:
    if for_a_browser(request):
        return refusal.page()
    if request.url.path in TOKEN_PATHS:
        return refusal.oauth_json()
    return refusal.json()


async def not_found(request: Request, exc: Exception) -> Response:
    """404: no route at this path (an unknown path, ``/metrics`` without its token)."""
    return answer(request, not_found_refusal(request))


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405: the route takes other methods (its ``Allow`` header is kept)."""
    return answer(request, method_refusal(request, exc))


UNROUTED_HANDLERS = {404: not_found, 405: method_not_allowed}
