"""Hosted Link mode (``LINK_MODE=hosted``): Plaid hosts the Link page, the bridge only sends
the browser there and takes it back.

* ``GET /`` opens the session and a Link token with ``hosted_link.completion_redirect_uri``
  = ``<bridge>/hosted-link/return?return_id=<R>``, then redirects the browser to Plaid's
  ``hosted_link_url`` (no ``redirect_uri``: Hosted Link does the OAuth banks' redirects).
* ``R`` is a fresh random id, not the session id: Plaid keeps the URLs it is given, and ``R``
  can do one thing only, finish this session with the public token Plaid made for its Link
  token. The session id is ``SHA-256(salt || R)`` (:func:`session_id_for`): the store keeps
  the salt and ``R``'s digest, so neither the URL nor the store alone makes the session id.
* Plaid's ``LINK SESSION_FINISHED`` webhook (verified) only records its status and public
  token on the session (:meth:`HostedLink.record_webhook`); the browser's return does the rest
  (:meth:`HostedLink.result`): the recorded token, else ``/link/token/get``; then the
  usual single-use exchange and code (the store's claim decides any race), or
  ``access_denied`` (closing the session for good) when Plaid says the user left without
  connecting a bank. While Plaid shows no finished session yet, the return answers a page
  that asks again by itself until the session expires.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .plaid_link import LinkStepError, PlaidLink
from .store import BridgeStore, HostedSession

RETURN_PATH = "/hosted-link/return"
RETURN_PARAM = "return_id"
SUCCESS = "SUCCESS"
# The browser came back before /link/token/get shows a finished session: ask again this
# many times, this far apart, before answering the "finishing" page (which asks again).
RESULT_ATTEMPTS = 2
RESULT_INTERVAL_SECONDS = 0.5
FINISHING_RELOAD_SECONDS = 2  # the "finishing" page asks again this often
MAX_STATUS_LENGTH = 32


def session_id_for(return_id: str, salt: str) -> str:
    """The session id of a Hosted Link session, made from its return id and stored salt."""
    return hashlib.sha256(f"{salt}:{return_id}".encode()).hexdigest()


@dataclass(frozen=True)
class NewHostedSession:
    session_id: str
    return_id: str
    salt: str

    def completion_uri(self, base_url: str) -> str:
        """Where Plaid's Hosted Link sends the browser back when the user is done."""
        return f"{base_url}{RETURN_PATH}?{urlencode({RETURN_PARAM: self.return_id})}"


def new_hosted_session() -> NewHostedSession:
    return_id = secrets.token_urlsafe(32)
    salt = secrets.token_urlsafe(16)
    return NewHostedSession(session_id_for(return_id, salt), return_id, salt)


@dataclass(frozen=True)
class SessionFinished:
    """What a ``LINK SESSION_FINISHED`` webhook says."""

    link_token: str
    status: str
    public_token: str | None


def parse_session_finished(body: bytes) -> SessionFinished | None:
    """The SESSION_FINISHED webhook in a (verified) body; None for any other webhook."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or (data.get("webhook_type"), data.get("webhook_code")) != (
        "LINK",
        "SESSION_FINISHED",
    ):
        return None
    link_token, status = data.get("link_token"), data.get("status")
    if not (isinstance(link_token, str) and link_token and isinstance(status, str)):
        return None
    tokens = data.get("public_tokens")
    if not isinstance(tokens, list):
        tokens = [data.get("public_token")]
    public_token = next((t for t in tokens if isinstance(t, str) and t), None)
    return SessionFinished(link_token, status.upper()[:MAX_STATUS_LENGTH], public_token)


def results_of(answer: dict[str, Any]) -> tuple[str | None, bool]:
    """``(first public token, whether a Link session finished)`` in a ``/link/token/get``
    answer."""
    finished = False
    for session in answer.get("link_sessions") or []:
        if not isinstance(session, dict):
            continue
        finished = finished or bool(session.get("finished_at") or session.get("exit"))
        results = session.get("results") or {}
        for result in results.get("item_add_results") or []:
            if isinstance(result, dict) and result.get("public_token"):
                return str(result["public_token"]), True
        on_success = session.get("on_success") or {}
        if isinstance(on_success, dict) and on_success.get("public_token"):
            return str(on_success["public_token"]), True
    return None, finished


@dataclass(frozen=True)
class HostedResult:
    """Where a Hosted Link session stands: a public token (the user connected a bank), or
    ``finished`` without one (the user left), or not finished yet (Plaid still works on it)."""

    public_token: str | None
    finished: bool

    @property
    def denied(self) -> bool:
        return self.finished and self.public_token is None


class HostedLink:
    """The Hosted Link sessions of one bridge: its store and its Plaid caller."""

    def __init__(self, store: BridgeStore, link: PlaidLink) -> None:
        self.store = store
        self.link = link

    def record_webhook(self, body: bytes) -> bool:
        """Record a verified SESSION_FINISHED for a Link token of an open Hosted Link session;
        False for any other webhook, or one for no such session."""
        finished = parse_session_finished(body)
        if finished is None:
            return False
        public_token = finished.public_token if finished.status == SUCCESS else None
        return self.store.record_hosted_result(finished.link_token, finished.status, public_token)

    def result(self, session: HostedSession) -> HostedResult:
        """What the user's Hosted Link session made: the webhook's public token, else
        ``/link/token/get``'s (asked a few times while Plaid shows no finished session yet).
        Plaid failures: :class:`.plaid_link.LinkStepError`."""
        if session.public_token:
            return HostedResult(session.public_token, finished=True)
        if session.hosted_status not in (None, SUCCESS):
            return HostedResult(None, finished=True)
        for attempt in range(RESULT_ATTEMPTS):
            if attempt:
                time.sleep(RESULT_INTERVAL_SECONDS)
            token, finished = results_of(self.link.link_token_get(session.link_token))
            if token is not None or finished:
                return HostedResult(token, finished=True)
        return HostedResult(None, finished=False)


def hosted_link_url(answer: dict[str, Any]) -> str:
    """Plaid's ``hosted_link_url`` in a ``/link/token/create`` answer, or a
    :class:`.plaid_link.LinkStepError` that says Hosted Link is not enabled."""
    url = answer.get("hosted_link_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    raise LinkStepError.of(
        502,
        "NO_HOSTED_LINK_URL",
        "Plaid answered no hosted_link_url: Hosted Link is not enabled for these Plaid keys.",
        "Ask Plaid to enable Hosted Link for your client_id, or set LINK_MODE=page (the "
        "default) in .env and restart the bridge.",
        "4.x",
    )
