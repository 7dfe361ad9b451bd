"""Recording the shape of each request to the Authorization URL and the Token URL (issue 22):
names and yes/no facts, never a value (:mod:`..request_shapes`), one per request, with the
answer's status, in the store (``kore-plaid kore-requests`` lists them).

A route takes what it saw with :func:`seen_request` (cheap: nothing parsed yet) and records
once it knows its status (:func:`record`, or :func:`recorded` for a response already made):
the shape is built and queued, and the context's :class:`..request_recorder.RequestRecorder`
stores it off the request's path. A shape that cannot be stored costs one log line without
any value, never the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..request_shapes import Endpoint, RequestShape, shape_of
from .context import BridgeContext


@dataclass(frozen=True)
class SeenRequest:
    """One request as its route saw it; :meth:`shape` describes it once answered.
    ``params``: the query pairs (authorize), the body pairs (token; none when the body
    could not be read); ``authorizations``: every ``Authorization`` header sent."""

    ctx: BridgeContext
    request: Request
    endpoint: Endpoint
    params: Sequence[tuple[str, str]] | None
    authorizations: Sequence[str]

    def shape(self, status: int) -> RequestShape:
        headers = self.request.headers
        params = self.params
        if params is None:  # the query, read here (off the event loop)
            params = self.request.query_params.multi_items()
        return shape_of(
            self.endpoint,
            params=params,
            header_names=headers.keys(),
            authorizations=self.authorizations,
            content_type=headers.get("content-type"),
            user_agent=headers.get("user-agent"),
            callbacks=self.ctx.settings.registered_callbacks,
            status=status,
            at=self.ctx.store.clock(),
        )


def seen_request(
    ctx: BridgeContext,
    request: Request,
    endpoint: Endpoint,
    params: Sequence[tuple[str, str]] | None = None,
    authorizations: Sequence[str] | None = None,
) -> SeenRequest:
    """What :func:`record` needs; ``params`` None: the request's query (authorize)."""
    if authorizations is None:
        authorizations = request.headers.getlist("authorization")
    return SeenRequest(ctx, request, endpoint, params, authorizations)


def record(seen: SeenRequest, status: int) -> None:
    """Queue the shape of ``seen`` answered with ``status`` (:mod:`..request_recorder`
    stores it off the request's path)."""
    seen.ctx.recorder.submit(seen.shape(status))


def recorded(response: Response, seen: SeenRequest) -> Response:
    """``response``, the shape of ``seen`` queued with its status (for an answer made
    outside the route's thread-pool hop, such as a 503)."""
    record(seen, response.status_code)
    return response
