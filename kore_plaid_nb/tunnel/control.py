"""Open, find, check, list and close the tunnel; what notebooks and the CLI call.

The tunnel lives in a background service (``kore-plaid tunnel serve``, see
:mod:`.service`), so it outlives the notebook kernel that opened it; the state folder says
where it is. In the embedded mode the agent is the local stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from pyngrok import ngrok
from pyngrok.exception import PyngrokError

from .. import services
from ..errors import RunbookError, ServiceError
from ..settings import Settings, ngrok_domain_url
from . import agent, state
from .state import TunnelInfo

SERVICE = "tunnel"


def open_tunnel(settings: Settings, port: int | None = None) -> TunnelInfo:
    """Open the tunnel to ``127.0.0.1:port`` (default APP_PORT), or return the open one."""
    port = port or settings.app_port
    current = current_tunnel(settings)
    if current is not None and current.port == port:
        return current
    # a tunnel to another port, a dead one, or a stray agent: ngrok's free plan allows
    # one agent session, so nothing of it may be left
    close_all(settings)
    if not services.port_in_use("127.0.0.1", port):
        raise nothing_listening(port)
    if not settings.embedded:
        if not settings.ngrok_authtoken:
            raise agent.no_authtoken_error()
        agent.install(settings)
    state.clear_error(settings.home)
    health_port = services.free_port()
    command = ["tunnel", "serve", "--port", str(port), "--health-port", str(health_port)]
    try:
        services.ensure_running(
            settings.home, SERVICE, command, port=health_port, env=settings.as_env()
        )
    except ServiceError:
        error = state.read_error(settings.home)
        if error is not None:
            raise error from None
        raise
    info = state.read(settings.home)
    if info is None:
        raise ServiceError(
            "The tunnel service started but recorded no tunnel.",
            fix=f"Read {services.logs_dir(settings.home) / 'tunnel.log'}, then run "
            "`kore-plaid tunnel close-all` and open the tunnel again.",
        )
    return info


def current_tunnel(settings: Settings) -> TunnelInfo | None:
    """The open tunnel when its service and agent are alive, else None."""
    record = services.read(settings.home, SERVICE)
    info = state.read(settings.home)
    if record is None or info is None:
        return None
    try:
        with urllib.request.urlopen(record.url + "/healthz", timeout=3) as response:  # noqa: S310  # nosec B310
            healthy = response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        healthy = False
    return info if healthy else None


def close_tunnel(settings: Settings) -> bool:
    """Close the tunnel and stop its agent. True if something was running."""
    info = state.read(settings.home)
    was_running = services.stop(settings.home, SERVICE)
    if info is not None and info.agent_pid in agent.home_agents(settings.home):
        was_running = _kill(info.agent_pid) or was_running
    state.clear(settings.home)
    return was_running


def close_all(settings: Settings) -> list[str]:
    """Close the tunnel and end every agent started for this state folder."""
    closed = []
    info = state.read(settings.home)
    if close_tunnel(settings):
        closed.append(f"tunnel {info.public_url}" if info else "tunnel service")
    for pid in agent.home_agents(settings.home):
        if _kill(pid):
            closed.append(f"agent pid {pid}")
    state.clear_error(settings.home)
    return closed


def list_tunnels(settings: Settings) -> list[TunnelInfo]:
    """Every tunnel the running agent reports (empty when none runs)."""
    info = state.read(settings.home)
    if info is None or current_tunnel(settings) is None:
        return []
    try:
        response = ngrok.api_request(f"{info.api_url}/api/endpoints", method="GET", timeout=4)
    except (PyngrokError, OSError):
        return []
    found = []
    for item in response.get("endpoints") or response.get("tunnels") or []:
        upstream = (item.get("upstream") or {}).get("url") or (item.get("config") or {}).get(
            "addr", ""
        )
        found.append(
            TunnelInfo(
                public_url=str(item.get("public_url") or item.get("url")),
                local=info.local,
                port=urlsplit(upstream).port or 0 if "://" in upstream else info.port,
                name=str(item.get("name") or ""),
                agent_pid=info.agent_pid,
                api_url=info.api_url,
                opened_at=info.opened_at,
            )
        )
    return found


def check_tunnel(settings: Settings, expected_url: str | None = None) -> TunnelInfo:
    """The open tunnel, checked: agent alive, URL as Kore knows it, something on the port.

    ``expected_url`` is the public URL (or any URL under it) the Kore profile was made with;
    with a reserved NGROK_DOMAIN it defaults to that domain.
    """
    info = state.read(settings.home)
    record = services.read(settings.home, SERVICE)
    if info is None:
        raise RunbookError(
            "No tunnel is open.",
            fix="Open it: run the tunnel cell, `open_tunnel(settings)`, or `kore-plaid tunnel`.",
            step="5",
        )
    if record is None or not _agent_answers(info):
        raise RunbookError(
            f"The ngrok agent died: the tunnel {info.public_url} is gone.",
            fix="Open the tunnel again (`kore-plaid tunnel`). If its public URL changes, "
            f"update the Kore profile's {agent.KORE_FIELDS} to the new URL.",
            step="5",
        )
    if expected_url is None and settings.ngrok_domain and not info.local:
        expected_url = ngrok_domain_url(settings.ngrok_domain)
    if expected_url and _origin(expected_url) != _origin(info.public_url):
        raise url_changed(_origin(expected_url), _origin(info.public_url))
    if not services.port_in_use("127.0.0.1", info.port):
        raise nothing_listening(info.port)
    return info


def url_changed(old: str, new: str) -> RunbookError:
    return RunbookError(
        f"The tunnel's public URL changed since the Kore profile was made: it was {old}, "
        f"it is now {new}.",
        fix=f"In Kore's authorization profile replace {old} with {new} in the {agent.KORE_FIELDS}"
        ", save, and Authorize again. A reserved domain (NGROK_DOMAIN) keeps one URL across "
        "restarts.",
        step="5, 7",
    )


def nothing_listening(port: int) -> RunbookError:
    return RunbookError(
        f"Nothing listens on port {port}, so the tunnel would lead nowhere.",
        fix="Start the bridge first (its notebook cell or `kore-plaid bridge`), or open the "
        "tunnel with --port set to the port your app listens on (APP_PORT in .env).",
        step="4.vii-x",
    )


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def _agent_answers(info: TunnelInfo) -> bool:
    if not info.agent_pid or not services.pid_alive(info.agent_pid) or not info.api_url:
        return False
    try:
        with urllib.request.urlopen(f"{info.api_url}/api/endpoints", timeout=3) as response:  # noqa: S310  # nosec B310
            items = json.loads(response.read()).get("endpoints") or []
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(item.get("public_url", item.get("url")) == info.public_url for item in items)


def _kill(pid: int, timeout: float = 5.0) -> bool:
    if not pid or not services.pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while services.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if services.pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return True
