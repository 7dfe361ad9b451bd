"""The bridge's one error model: a :class:`Refusal` says what went wrong and what to do, and
renders itself for whoever asked.

* :meth:`Refusal.json` - the browser API's shape (the page, the repair page, Plaid's webhooks):
  ``{"error", "message", "fix"}`` plus ``step`` when there is one, plus the refusal's
  ``details`` (e.g. ``plaid_error_code``).
* :meth:`Refusal.oauth_json` - the token endpoint only: RFC 6749 5.2's ``error`` /
  ``error_description`` (plus ``fix``).
* :meth:`Refusal.page` - a readable HTML page (never a redirect, never a secret).

Each rendering carries the request's id (:mod:`.request_ids`): ``request_id`` in the JSON,
a line to quote on the page.

Code that cannot return a refusal raises :class:`Refused`, which carries one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from starlette.responses import HTMLResponse, JSONResponse

from ..http_plumbing import NO_STORE
from . import page
from .request_ids import current_request_id

DEFAULT_TITLE = "Something went wrong"


@dataclass(frozen=True)
class Refusal:
    """What the bridge answers instead of doing what was asked; safe to show (callers put no
    token and no secret in it). ``title`` heads the page; ``details`` are extra JSON members."""

    status: int
    error: str
    message: str
    fix: str
    step: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str | int] = field(default_factory=dict)
    title: str = DEFAULT_TITLE

    def body(self) -> dict[str, object]:
        """The browser API's JSON object."""
        body: dict[str, object] = {"error": self.error, "message": self.message, "fix": self.fix}
        body.update(self.details)
        if self.step is not None:
            body["step"] = self.step
        return body

    def json(self) -> JSONResponse:
        body = with_request_id(self.body())
        return JSONResponse(body, self.status, headers={**NO_STORE, **self.headers})

    def oauth_json(self) -> JSONResponse:
        """The token endpoint's error (RFC 6749 5.2)."""
        body = {"error": self.error, "error_description": self.message, "fix": self.fix}
        return JSONResponse(
            with_request_id(body), self.status, headers={**NO_STORE, **self.headers}
        )

    def page(self) -> HTMLResponse:
        fix = self.fix + (f" (procedure step {self.step})" if self.step else "")
        response = page.error_page(self.status, self.title, self.message, fix, current_request_id())
        response.headers.update({**NO_STORE, **self.headers})
        return response

    def with_step(self, step: str | None) -> Refusal:
        return replace(self, step=step)

    def with_fix(self, fix: str) -> Refusal:
        return replace(self, fix=fix)

    def with_title(self, title: str) -> Refusal:
        return replace(self, title=title)

    def with_headers(self, headers: Mapping[str, str]) -> Refusal:
        return replace(self, headers={**self.headers, **headers})


def with_request_id(body: Mapping[str, object]) -> dict[str, object]:
    """``body`` with the id of the request it answers (when inside one)."""
    request_id = current_request_id()
    return dict(body) if request_id is None else {**body, "request_id": request_id}


class Refused(Exception):
    """Raised where a :class:`Refusal` cannot be returned (body reading, Plaid calls)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
