"""uvicorn's access log without secrets: each line names the route's template
(``POST /repair/{token}/link_token``), never the path and query asked for, which may carry a
repair token, a return id or a ``state``.

The bridge's servers run with uvicorn's access log off: the bridge logs each request itself
(the ``http_request`` line of :mod:`.request_ids`, without the client's address).
:func:`install` (called by :func:`.routes.create_app`) makes uvicorn's line safe wherever it
is turned on (``uvicorn --factory kore_plaid_nb.bridge.asgi:create`` logs every request by
default).
"""

from __future__ import annotations

import logging

from .request_ids import logged_path

ACCESS_LOGGER = "uvicorn.access"
PATH_ARG = 2  # uvicorn's access line: (client, method, path with query, HTTP version, status)
NOT_LOGGED = "(path not logged)"


class TemplatedPaths(logging.Filter):
    """Replaces the path of uvicorn's access lines by the route's template (see
    :mod:`.request_ids`); a line of another app, whose route is unknown, loses its path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > PATH_ARG:
            shown = list(args)
            shown[PATH_ARG] = logged_path() or NOT_LOGGED
            record.args = tuple(shown)
        return True


def install() -> None:
    """Add :class:`TemplatedPaths` to uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, TemplatedPaths) for f in logger.filters):
        logger.addFilter(TemplatedPaths())
