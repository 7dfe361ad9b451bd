"""Plaid on the bridge's hot path, on the event loop (issue 28): ``/link/token/create``,
``/item/public_token/exchange`` and ``/item/remove`` while a user or Kore waits. Every other
Plaid call stays on plaid-python (:mod:`..plaid_client`).

:class:`AsyncPlaid` is an aiohttp session (measured cheaper than ``httpx.AsyncClient`` and
than plaid-python in the thread pool) built from plaid-python's ``Configuration``: the same
host, keys, headers, JSON body, certificate checks and timeouts, one keep-alive pool per Plaid
host. It is opened in the event loop that first calls it (each ``--workers`` process has its
own, after the fork) and closed by the app's lifespan (:meth:`AsyncPlaid.aclose`).

Its failures are the ones plaid-python raises for the same answer, so every rule downstream
(:func:`..plaid_errors.error_from_exception`, the retries and advice of :mod:`.plaid_link`,
the metrics and the log line) reads them unchanged: an HTTP error is plaid-python's
``ApiException`` (its subclass by status, the body as text), a transport failure the urllib3
exception plaid-python's transport raises for it (:func:`transport_failure`), a connection
that could not be made is tried :data:`CONNECT_RETRIES` more times first, as urllib3 does.
tests/test_plaid_hot_path_equivalence.py runs each failure through both.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import plaid
import urllib3.exceptions as u3
from plaid.exceptions import (
    ForbiddenException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)

from .. import plaid_client
from ..settings import Settings

# urllib3's default Retry(3): a connection that could not be made is tried 3 more times.
CONNECT_RETRIES = 3
USER_AGENT = "Plaid Python v" + plaid.__version__  # what plaid-python's ApiClient sends
_STATUS_EXCEPTIONS: dict[int, type[plaid.ApiException]] = {
    401: UnauthorizedException,
    403: ForbiddenException,
    404: NotFoundException,
}


def headers_of(configuration: plaid.Configuration) -> dict[str, str]:
    """The headers plaid-python sends with each call: its auth settings (keys, version)."""
    headers = {
        "Accept": "application/json",
        "Accept-Encoding": "identity",  # http.client's, under urllib3
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    for auth in configuration.auth_settings().values():
        if auth["in"] == "header":
            headers[auth["key"]] = auth["value"]
    return headers


def ssl_context(configuration: plaid.Configuration) -> ssl.SSLContext | bool:
    """Certificate checks as plaid-python's urllib3 pool makes them (on unless the
    configuration turns them off; its CA file when it names one)."""
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def api_exception(status: int, reason: str | None, body: bytes) -> plaid.ApiException:
    """plaid-python's exception for an answer outside 2xx (rest.py's class by status; its
    ``ApiClient`` decodes the body as UTF-8)."""
    if 500 <= status <= 599:
        kind: type[plaid.ApiException] = ServiceException
    else:
        kind = _STATUS_EXCEPTIONS.get(status, plaid.ApiException)
    exc = kind(status=status, reason=reason)
    exc.body = body.decode("utf-8")
    return exc


def connect_failure(exc: BaseException, url: str, timeout: float) -> u3.MaxRetryError:
    """urllib3's error once a connection could not be made after its retries: a
    ``MaxRetryError`` whose reason says why (timeout, TLS, name, refused)."""
    cause = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None) or exc
    host = urlsplit(url).hostname or ""
    reason: u3.HTTPError
    if isinstance(exc, aiohttp.ConnectionTimeoutError | TimeoutError):
        reason = u3.ConnectTimeoutError(
            None, f"Connection to {host} timed out. (connect timeout={timeout})"
        )
    elif isinstance(exc, aiohttp.ClientSSLError) or isinstance(cause, ssl.SSLError):
        reason = u3.SSLError(cause)
    elif isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(cause, socket.gaierror):
        reason = u3.NameResolutionError(host, None, cause)  # type: ignore[arg-type]
    else:
        reason = u3.NewConnectionError(None, f"Failed to establish a new connection: {cause}")  # type: ignore[arg-type]
    reason.__cause__ = cause if cause is not exc else None
    return u3.MaxRetryError(None, urlsplit(url).path, reason)  # type: ignore[arg-type]


def transport_failure(exc: BaseException, url: str, timeout: float) -> u3.HTTPError:
    """urllib3's error for a failure after the request was sent (not retried: a POST)."""
    path = urlsplit(url).path
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return u3.ReadTimeoutError(None, path, f"Read timed out. (read timeout={timeout})")  # type: ignore[arg-type]
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        gone = http.client.RemoteDisconnected("Remote end closed connection without response")
        return u3.ProtocolError("Connection aborted.", gone)
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno is not None:
        return u3.ProtocolError("Connection aborted.", OSError(exc.errno, exc.strerror))
    # aiohttp's own errors print the request's headers (the keys): never pass them on
    said = exc.message if isinstance(exc, aiohttp.ClientResponseError) else type(exc).__name__
    line = str(said).strip().splitlines()[0] if str(said).strip() else "no answer"
    return u3.ProtocolError("Connection aborted.", http.client.BadStatusLine(line))


class IncompleteBody(Exception):
    """The answer's body ended before its Content-Length: ``partial`` bytes came."""

    def __init__(self, partial: int, expected: int) -> None:
        super().__init__(partial, expected)
        self.partial, self.expected = partial, expected

    def as_urllib3(self) -> u3.ProtocolError:
        short = u3.IncompleteRead(self.partial, self.expected)
        return u3.ProtocolError(f"Connection broken: {short!r}", short)


async def read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body; a connection closed before its end: :class:`IncompleteBody`."""
    chunks: list[bytes] = []
    try:
        async for chunk in response.content.iter_any():
            chunks.append(chunk)
    except aiohttp.ClientPayloadError:
        got = sum(len(c) for c in chunks)
        raise IncompleteBody(got, (response.content_length or got) - got) from None
    return b"".join(chunks)


class AsyncPlaid:
    """One aiohttp session to the Plaid host of a plaid-python ``Configuration``."""

    def __init__(self, configuration: plaid.Configuration, timeout: float) -> None:
        self.base = str(configuration.host).rstrip("/")
        self.timeout = timeout
        self.headers = headers_of(configuration)
        self._ssl = ssl_context(configuration) if self.base.startswith("https:") else False
        self._pool_size = int(configuration.connection_pool_maxsize)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_settings(cls, settings: Settings, timeout: float) -> AsyncPlaid:
        return cls(plaid_client.configuration(settings), timeout)

    def session(self) -> aiohttp.ClientSession:
        """The session of the running event loop (a new one in a new loop)."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ssl=self._ssl)
            timeout = aiohttp.ClientTimeout(sock_connect=self.timeout, sock_read=self.timeout)
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
            )
            self._session, self._loop = session, loop
        return session

    async def aclose(self) -> None:
        """Close the pool (the lifespan's end); a later call opens a new one."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def call_json(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        """POST ``body`` to Plaid's ``path``; Plaid's JSON answer, or plaid-python's failure
        for the same answer (module docstring)."""
        url = self.base + path
        data = json.dumps(body).encode()
        failure: BaseException | None = None
        for _ in range(CONNECT_RETRIES + 1):
            try:
                status, reason, answer = await self._post(url, data)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                failure = connect_failure(exc, url, self.timeout)
                continue
            except IncompleteBody as exc:
                failure = exc.as_urllib3()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                failure = transport_failure(exc, url, self.timeout)
            else:
                if not 200 <= status <= 299:
                    raise api_exception(status, reason, answer)
                return plaid_client.json_object(answer, status)
            break
        assert failure is not None  # noqa: S101  # nosec B101 - the loop ran at least once
        raise failure  # raised here, outside the handler: no library exception chained

    async def _post(self, url: str, data: bytes) -> tuple[int, str | None, bytes]:
        async with self.session().post(url, data=data, headers=self.headers) as response:
            return response.status, response.reason, await read_body(response)
