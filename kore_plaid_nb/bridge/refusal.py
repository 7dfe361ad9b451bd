"""The bridge's one error model: a :class:`Refusal` says what went wrong and what to do, and
renders itself for whoever asked.

* :meth:`Refusal.json` - the browser API's shape (the page, the repair page, Plaid's webhooks):
  ``{"error", "message", "fix"}`` plus ``step`` when there is one, plus the refusal's
  ``details`` (e.g. ``plaid_error_code``).
* :meth:`Refusal.oauth_json` - the token endpoint only: RFC 6749 5.2's ``error`` /
  ``error_description`` (plus ``fix``).
* :meth:`Refusal.page` - a readable HTML page (never a redirect, never a secret).

``title``, ``message`` and ``fix`` are English msgids of the ``messages`` catalog
(:mod:`.i18n`), with ``%(name)s`` placeholders for ``values``: the page and the browser API's
JSON show them in the request's language, the token endpoint's JSON (a machine's) in English.
A value that is itself a msgid (:class:`Phrase`) is translated with its sentence.

Each rendering carries the request's id (:mod:`.request_ids`): ``request_id`` in the JSON,
a line to quote on the page.

Code that cannot return a refusal raises :class:`Refused`, which carries one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from starlette.responses import HTMLResponse, JSONResponse

from ..http_plumbing import NO_STORE
from . import i18n, page
from .i18n import N_
from .request_ids import current_request_id

DEFAULT_TITLE = N_("Something went wrong")
WITH_STEP = N_("%(fix)s (procedure step %(step)s)")


class Phrase(str):
    """A refusal's value that is itself a msgid (``during``: what the bridge was doing)."""

    __slots__ = ()


class Words(NamedTuple):
    """A refusal's texts, in one language, values filled in."""

    title: str
    message: str
    fix: str


@dataclass(frozen=True)
class Refusal:
    """What the bridge answers instead of doing what was asked; safe to show (callers put no
    token and no secret in it). ``title`` heads the page; ``details`` are extra JSON members;
    ``values`` fill the texts' ``%(name)s`` placeholders after translation."""

    status: int
    error: str
    message: str
    fix: str
    step: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str | int] = field(default_factory=dict)
    title: str = DEFAULT_TITLE
    values: Mapping[str, str | int] = field(default_factory=dict)

    def words(self, *, translated: bool = True) -> Words:
        """The texts in the request's language (``translated``) or in English."""
        if not translated:
            with i18n.using_language(i18n.DEFAULT_LANGUAGE):
                return self.words()
        values = {
            name: i18n.gettext(value) if isinstance(value, Phrase) else value
            for name, value in self.values.items()
        }
        say = i18n.gettext
        return Words(
            say(self.title, **values), say(self.message, **values), say(self.fix, **values)
        )

    @property
    def english(self) -> Words:
        """The texts in English (logs, exceptions, the runbook)."""
        return self.words(translated=False)

    def body(self, *, translated: bool = True) -> dict[str, object]:
        """The browser API's JSON object."""
        words = self.words(translated=translated)
        body: dict[str, object] = {"error": self.error, "message": words.message, "fix": words.fix}
        body.update(self.details)
        if self.step is not None:
            body["step"] = self.step
        return body

    def json(self, *, translated: bool = True) -> JSONResponse:
        """The browser API's answer; ``translated=False`` for a machine (Plaid's webhook)."""
        body = with_request_id(self.body(translated=translated))
        return JSONResponse(body, self.status, headers={**NO_STORE, **self.headers})

    def oauth_json(self) -> JSONResponse:
        """The token endpoint's error (RFC 6749 5.2), always in English."""
        words = self.english
        body = {"error": self.error, "error_description": words.message, "fix": words.fix}
        return JSONResponse(
            with_request_id(body), self.status, headers={**NO_STORE, **self.headers}
        )

    def page(self) -> HTMLResponse:
        title, message, fix = self.words()
        if self.step:
            fix = i18n.gettext(WITH_STEP, fix=fix, step=self.step)
        response = page.error_page(self.status, title, message, fix, current_request_id())
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
        super().__init__(refusal.english.message)
        self.refusal = refusal
