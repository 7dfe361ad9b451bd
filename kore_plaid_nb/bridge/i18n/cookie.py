"""The language of an authorization, carried to ``/oauth-return`` in a cookie.

The OAuth bank sends the browser back to ``/oauth-return`` with nothing of the session in
the URL (bridge.js keeps the session and its Link token in localStorage, which the server
never sees). The page is rendered on the server, so its language must reach the server: the
authorization page sets this cookie (not a secret: a language code; HttpOnly, SameSite=Lax so
that the bank's top-level redirect back carries it, limited to ``/oauth-return``, for as long
as a session lives). Link itself reopens with the same Link token, created in the session's
language.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .negotiation import LANGUAGES

COOKIE = "kore_plaid_language"


def remember(response: Response, language: str, path: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        language,
        max_age=max_age,
        path=path,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def remembered(request: Request) -> str | None:
    """The cookie's language when it is one of :data:`LANGUAGES` (else None)."""
    value = request.cookies.get(COOKIE)
    return value if value in LANGUAGES else None
