"""The board's HTML: the login form and the board itself (filled by ``static/board.js``).

Trainees' names and messages never reach the HTML: the script renders them as text from
``/api/progress``. Every URL in the pages is relative, so the board also works under a prefix
(JupyterHub's ``/services/board/``). The pages load nothing but themselves (``static/``); a
Content-Security-Policy header says so.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

from starlette.responses import HTMLResponse

from ..http_plumbing import NO_STORE

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
POLL_MILLISECONDS = 2500


@cache
def _template(name: str) -> Template:
    return Template((HERE / "templates" / name).read_text(encoding="utf-8"))


def _render(name: str, **values: str) -> str:
    return _template(name).substitute({k: html.escape(v, quote=True) for k, v in values.items()})


def login_page(error: str = "", status_code: int = 200) -> HTMLResponse:
    """The sign-in form; ``error`` (our own text, never a trainee's) shows above it."""
    body = _render("login.html", error=error, error_hidden="" if error else "hidden")
    return HTMLResponse(body, status_code=status_code, headers=NO_STORE)


def board_page(stuck_after_seconds: float) -> HTMLResponse:
    body = _render(
        "board.html",
        poll_ms=str(POLL_MILLISECONDS),
        stuck_after=str(int(stuck_after_seconds)),
    )
    return HTMLResponse(body, headers=NO_STORE)
