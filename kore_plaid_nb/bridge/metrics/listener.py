"""``/metrics`` on a listener of its own (``BRIDGE_METRICS_HOST:BRIDGE_METRICS_PORT``, no
token: keep it on loopback or a private network), prometheus-client's small HTTP server in
a daemon thread of the bridge's process (the supervisor's under ``--workers N``)."""

from __future__ import annotations

import errno
import socket
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from ...errors import ServiceError

BUSY = (errno.EADDRINUSE, errno.EACCES)


class MetricsListener:
    """A running metrics listener; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, url: str) -> None:
        self.server = server
        self.thread = thread
        self.url = url

    @classmethod
    def start(cls, host: str, port: int, registry: CollectorRegistry) -> MetricsListener:
        """Serve ``registry`` on ``host:port``; a busy port or an unknown address is a
        :class:`ServiceError` that names the setting to change."""
        try:
            server, thread = start_http_server(port, host.strip("[]"), registry)
        except socket.gaierror:
            raise _wrong_host(host) from None
        except OSError as exc:
            if exc.errno in BUSY:
                raise _busy(host, port) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise _wrong_host(host) from None
            raise
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        return cls(server, thread, f"http://{shown}:{server.server_port}/metrics")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _busy(host: str, port: int) -> ServiceError:
    return ServiceError(
        f"BRIDGE_METRICS_PORT={port} on {host} is already in use, so the bridge cannot serve "
        "its metrics there.",
        fix=f"Stop the program holding it (`lsof -i :{port}`), or set BRIDGE_METRICS_PORT to "
        "a free port (or unset it, and scrape /metrics on the main port with "
        "BRIDGE_METRICS_TOKEN).",
    )


def _wrong_host(host: str) -> ServiceError:
    return ServiceError(
        f"BRIDGE_METRICS_HOST={host} is not an address of this machine, so the bridge cannot "
        "serve its metrics there.",
        fix="Set BRIDGE_METRICS_HOST to 127.0.0.1 (the default), to this machine's private "
        "address, or to 0.0.0.0 for every interface.",
    )
