"""Authorization requests this process has validated (``GET /``), remembered by their exact
query: when the session's code is issued, the code is minted without oauthlib validating the
same query a second time.

oauthlib's verdict on an authorization query depends on the query and the settings only (the
client id, the accepted callbacks: no store, no clock), and a process never changes its
settings, so the verdict it reached once holds. Another process (a replica, a worker, a
restarted bridge) has not seen the query and validates it again: a session that outlives a
settings change is still refused. At most :data:`KEPT` queries are kept, the oldest dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

KEPT = 1024


@dataclass(frozen=True)
class ValidatedQuery:
    """What oauthlib's validation settled for one query (its redirect_uri resolved)."""

    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None

    def request(self, request: Any, credentials: dict[str, object]) -> Any:
        """oauthlib's ``request`` (of this query) as its validation leaves it."""
        request.scopes = []
        request.user = None
        for name, value in credentials.items():
            setattr(request, name, value)
        request.client_id = self.client_id
        request.redirect_uri = self.redirect_uri
        request.code_challenge = self.code_challenge
        request.code_challenge_method = self.code_challenge_method
        request.response_mode = "query"  # as .authorization_checks.require_s256 sets it
        return request


class ValidatedQueries:
    """A bounded, thread-safe memory of validated queries (the oldest goes first)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._queries: dict[str, ValidatedQuery] = {}
        self._lock = threading.Lock()

    def remember(self, query: str, validated: ValidatedQuery) -> None:
        with self._lock:
            self._queries.pop(query, None)
            while len(self._queries) >= self._kept:
                del self._queries[next(iter(self._queries))]
            self._queries[query] = validated

    def get(self, query: str) -> ValidatedQuery | None:
        with self._lock:
            return self._queries.get(query)


def issue_validated(server: Any, validator: Any, request: Any) -> str:
    """oauthlib's ``create_authorization_response`` past its validation (``request`` as
    :meth:`ValidatedQuery.request` leaves it): the code minted, stored, and the redirect."""
    grant_type = server.auth_grant
    grant = grant_type.create_authorization_code(request)
    for modifier in grant_type._code_modifiers:
        grant = modifier(grant, server.default_token_type, request)
    validator.save_authorization_code(request.client_id, grant, request)
    headers, _body, _status = grant_type.prepare_authorization_response(
        request, grant, {}, None, 302
    )
    location: str = headers["Location"]
    return location
