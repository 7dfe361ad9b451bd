"""The emulator as a background service (``kore-plaid sandbox``) that outlives a kernel."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from .. import ports, services
from ..settings import Settings
from .redirect_uris import DASHBOARD_PATH, allowed_redirect_uris

SERVICE_NAME = "emulator"
PORT_NAME = "EMULATOR_PORT"  # its key in the state folder's ports.json


def ensure_emulator(settings: Settings, port: int | None = None) -> services.ServiceRecord:
    """Start ``kore-plaid sandbox`` in the background unless it already runs (idempotent).

    Port: ``port`` when given, else the one recorded in the state folder (chosen free once;
    chosen again when another program took it). A running emulator
    that refuses these settings' keys (``.env`` changed since) is restarted. Returns the
    record (``.url`` is the base URL to put in PLAID_API_URL).
    """
    existing = services.read(settings.home, SERVICE_NAME)
    if existing is not None:
        healthy = services.wait_healthy(existing.url + "/healthz", timeout=5, pid=existing.pid)
        if (
            healthy
            and accepts_keys(existing.url, settings)
            and sync_dashboard(existing.url, settings)  # a callback saved since it started
        ):
            return existing
        services.stop(settings.home, SERVICE_NAME)  # stale, or started with other keys
    if port is None:
        port = ports.assigned(settings.home, PORT_NAME)
        if services.port_in_use("127.0.0.1", port):
            port = ports.reassign(settings.home, PORT_NAME)
    return services.ensure_running(
        settings.home,
        SERVICE_NAME,
        ["sandbox", "--host", "127.0.0.1", "--port", str(port)],
        port,
        env=settings.as_env(),
    )


def accepts_keys(url: str, settings: Settings) -> bool:
    """True when the emulator at ``url`` accepts these settings' client_id / secret."""
    return _answers_ok(url + "/_emulator/faults", settings)


def sync_dashboard(url: str, settings: Settings) -> bool:
    """Give the running emulator's dashboard the redirect URIs these settings allow (notebook
    02 may have saved a new Kore callback since it started). False when it did not take them
    (an emulator of an older version): the caller then starts a new one."""
    body = {"allowed_redirect_uris": list(allowed_redirect_uris(settings))}
    return _answers_ok(url + DASHBOARD_PATH, settings, put=body)


def _answers_ok(url: str, settings: Settings, put: Mapping[str, object] | None = None) -> bool:
    """True when the emulator answers 200 to GET (or PUT ``put`` to) ``url`` with these keys."""
    headers = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    if put is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - the recorded loopback http URL
        url,
        data=None if put is None else json.dumps(put).encode(),
        method="GET" if put is None else "PUT",
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http://127.0.0.1  # nosec B310
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_emulator(settings: Settings) -> bool:
    """Stop the background emulator; True if one was running."""
    return services.stop(settings.home, SERVICE_NAME)
