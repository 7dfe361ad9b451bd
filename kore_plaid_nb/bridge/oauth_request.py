"""oauthlib's request, its query and body parsed once instead of at every read.

oauthlib's ``Request.duplicate_params`` parses the query and the body again each time it is
read, and its grant types read it once per parameter they check (about eight parses per
authorization), as ``uri_query`` re-parses the URI. :class:`ParsedOnceRequest` keeps each
result for the URI and body it was computed from (a changed URI or body is parsed again), so
the answers are oauthlib's own. :func:`parse_once` makes oauthlib's authorization and token
endpoints build it (the only ``Request`` the bridge's oauthlib calls make).
"""

from __future__ import annotations

import importlib
from typing import Any

from oauthlib.common import Request

ENDPOINT_MODULES = (
    "oauthlib.oauth2.rfc6749.endpoints.authorization",
    "oauthlib.oauth2.rfc6749.endpoints.token",
)


class FormPairs(list[tuple[str, str]]):
    """A body already parsed into its pairs, in order, repeated names kept: given as the
    body of oauthlib's token endpoint, it is not urlencoded for oauthlib to parse again."""


class ParsedOnceRequest(Request):  # type: ignore[misc]
    """:class:`oauthlib.common.Request` whose ``uri_query`` and ``duplicate_params`` are
    computed once per URI and body; a :class:`FormPairs` body is taken as parsed (oauthlib
    would turn a list of pairs into a dict, losing the repeated names it must refuse)."""

    def __init__(
        self,
        uri: str,
        http_method: str = "GET",
        body: object = None,
        headers: dict[str, str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        pairs = body if isinstance(body, FormPairs) else None
        super().__init__(uri, http_method, None if pairs is not None else body, headers, encoding)
        if pairs is not None:  # as oauthlib's own parse of their urlencoded form gives them
            self.body = pairs
            self.decoded_body = list(pairs)
            self._params.update(dict(pairs))

    def _kept(self, name: str, compute: Any) -> Any:
        key = (self.uri, self.body)
        kept = self.__dict__.get(name)
        if kept is not None and kept[0] == key:
            return kept[1]
        value = compute()
        self.__dict__[name] = (key, value)
        return value

    @property
    def uri_query(self) -> str:
        if "?" not in self.uri:  # the token endpoint's URI: no query to parse
            return ""
        value: str = self._kept("_kept_uri_query", lambda: Request.uri_query.fget(self))
        return value

    @property
    def duplicate_params(self) -> list[str]:
        value: list[str] = self._kept(
            "_kept_duplicates", lambda: Request.duplicate_params.fget(self)
        )
        return list(value)  # a copy: the caller may change it


def parse_once() -> None:
    """Let oauthlib's authorization and token endpoints build :class:`ParsedOnceRequest`."""
    for name in ENDPOINT_MODULES:
        module: Any = importlib.import_module(name)
        module.Request = ParsedOnceRequest
