"""The OAuth 2.0 bridge between Kore.ai's "OAuth v2 - Custom" profile and Plaid Link.

It replaces the procedure's Quickstart app (steps 4.vii-x, 5-7): the Authorization URL is the
bridge's ``/``, the Token / Refresh Token URL its ``/api/send_the_access_token_AUTH``.

Public API::

    create_app(settings) -> ASGI app
    running_bridge(settings, port=0) -> ContextManager[str]    # in-thread, yields base URL
    ensure_bridge(settings) -> services.ServiceRecord          # background, idempotent
    metrics_url(settings) -> str | None                        # its metrics, for notebooks
    stop_bridge(settings) -> bool
    list_authorizations(settings) -> list[...]                 # masked, for notebooks
    remove_items(settings) -> int                              # /item/remove, at teardown

Each end user's Item health (Plaid's webhooks at ``POST /plaid/webhook``) and repair links:
:mod:`.items` (``list_items``, ``repair_link``, ``mark_item_healthy``), also ``kore-plaid items``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TypedDict

from .. import ports, services, serving
from ..settings import Settings, mask
from ..tables import utc_time
from .audit import AuditEvent, record_audit
from .item_health import ItemHealth
from .items import fill_institutions
from .plaid_link import PlaidLink
from .routes import create_app
from .store import AuthorizationRow, open_existing_store

SERVICE_NAME = "bridge"
METRICS_PORT_NAME = "BRIDGE_METRICS_PORT"  # its key in the state folder's ports.json
# listeners on these are read on loopback (compared, never bound)
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "localhost")  # noqa: S104  # nosec B104

__all__ = [
    "AuthorizationEntry",
    "create_app",
    "ensure_bridge",
    "list_authorizations",
    "metrics_url",
    "remove_items",
    "running_bridge",
    "stop_bridge",
]


@contextlib.contextmanager
def running_bridge(settings: Settings, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the bridge in a thread of this process (port 0: any free port); yields its URL."""
    app = create_app(settings)  # applies FORWARDED_ALLOW_IPS' proxy headers itself
    with serving.serve_in_thread(app, host, port, "bridge") as url:
        yield url


def ensure_bridge(settings: Settings) -> services.ServiceRecord:
    """Start ``kore-plaid bridge`` in the background on APP_PORT unless it already runs.

    An already running bridge is reused as is (restart it with :func:`stop_bridge` after
    changing settings). Unless FORWARDED_ALLOW_IPS says otherwise, it trusts the proxy
    headers of the runbook's own tunnel agent, which forwards from 127.0.0.1. Unless
    BRIDGE_ALLOW_LOOPBACK_CALLBACK is set (0 is honoured), it accepts the Kore simulator's
    loopback callback, which ``kore-plaid verify`` (notebook 06) needs; a live bridge started
    so says it once, on start.

    Unless BRIDGE_METRICS_PORT says where, it serves its metrics on a loopback listener of
    its own, on a port chosen free once and recorded in the state folder like the emulator's
    (:func:`metrics_url` finds it).
    """
    env = settings.as_env()
    env.setdefault("FORWARDED_ALLOW_IPS", "127.0.0.1")
    if settings.bridge_metrics_port is None:
        env["BRIDGE_METRICS_PORT"] = str(_metrics_port(settings))
        env["BRIDGE_METRICS_HOST"] = "127.0.0.1"
    loopback_by_default = settings.bridge_allow_loopback_callback is None
    if loopback_by_default:
        env["BRIDGE_ALLOW_LOOPBACK_CALLBACK"] = "1"
    before = time.time()
    record = services.ensure_running(
        settings.home,
        SERVICE_NAME,
        ["bridge", "--port", str(settings.app_port)],
        settings.app_port,
        env=env,
    )
    if loopback_by_default and not settings.embedded and record.started_at >= before:
        print(LOOPBACK_NOTICE.format(callback=settings.simulator_callback))
    return record


def _metrics_port(settings: Settings) -> int:
    """The loopback metrics port recorded for this state folder; chosen again when another
    program took it before the bridge started."""
    port = ports.assigned(settings.home, METRICS_PORT_NAME)
    if services.read(settings.home, SERVICE_NAME) is None and services.port_in_use(
        "127.0.0.1", port
    ):
        port = ports.reassign(settings.home, METRICS_PORT_NAME)
    return port


def metrics_url(settings: Settings) -> str | None:
    """Where the runbook's background bridge serves its metrics: BRIDGE_METRICS_PORT's
    listener (read on loopback when it listens on every interface), else the loopback one
    :func:`ensure_bridge` gave it; None when no port was ever chosen."""
    host, port = "127.0.0.1", settings.bridge_metrics_port
    if port is None:
        port = ports.recorded(settings.home).get(METRICS_PORT_NAME)
    elif settings.bridge_metrics_host not in WILDCARD_HOSTS:
        host = settings.bridge_metrics_host
    if port is None:
        return None
    shown = host if ":" not in host or host.startswith("[") else f"[{host}]"
    return f"http://{shown}:{port}/metrics"


LOOPBACK_NOTICE = (
    "Note: this live bridge also accepts the Kore simulator's loopback callback {callback}, so "
    "`kore-plaid verify` (notebook 06) can play Kore against it (a code sent there reaches "
    "only the browser's own machine, and is useless without the client secret). To accept "
    "Kore's callbacks only, set BRIDGE_ALLOW_LOOPBACK_CALLBACK=0 in .env and restart the "
    "bridge (`kore-plaid stop bridge`, then rerun notebook 03)."
)


def stop_bridge(settings: Settings) -> bool:
    """Stop the background bridge; True if one was running."""
    return services.stop(settings.home, SERVICE_NAME)


class AuthorizationEntry(TypedDict):
    """One authorization as :func:`list_authorizations` shows it (tokens and ids masked)."""

    when: str | None
    client: str
    redirect_uri: str | None
    institution: str | None
    item_id: str
    access_token: str
    status: str
    last_refresh: str | None


def list_authorizations(settings: Settings) -> list[AuthorizationEntry]:
    """Every authorization in the store, newest first, with tokens and ids masked.

    ``status``: ``code issued`` (not yet exchanged), ``code expired``, ``active`` (refresh
    token issued), ``revoked`` (its code was replayed), ``Item removed``.
    """
    store = open_existing_store(settings)
    if store is None:
        return []
    with store:
        fill_institutions(settings, store)
        rows = store.authorizations()
    now = time.time()
    return [_describe(row, now) for row in rows]


def _describe(row: AuthorizationRow, now: float) -> AuthorizationEntry:
    if row.removed_at:
        status = "Item removed"
    elif row.revoked:
        status = "revoked"
    elif row.issued:
        status = "active"
    elif row.code_used_at is None and (row.code_expires_at or 0) > now:
        status = "code issued"
    elif row.code_used_at is None:
        status = "code expired"
    else:
        status = "code used, nothing issued"
    return AuthorizationEntry(
        when=utc_time(row.created_at),
        client=mask(row.client_id),
        redirect_uri=row.redirect_uri,
        institution=row.institution,
        item_id=mask(row.item_id),
        access_token=mask(row.access_token),
        status=status,
        last_refresh=utc_time(row.last_refresh),
    )


def remove_items(settings: Settings) -> int:
    """Remove every Item the bridge holds at Plaid (``/item/remove``) and revoke its refresh
    tokens; returns how many were removed. Items Plaid already forgot count as removed."""
    store = open_existing_store(settings)
    if store is None:
        return 0
    link = PlaidLink(settings, spent=store, item_errors=ItemHealth(store).plaid_error)
    removed = 0
    with store:
        for item_ref, access_token in store.live_items():
            if link.remove_item(access_token) or not link.item_exists(access_token):
                store.mark_item_removed(item_ref)
                record_audit(store, AuditEvent.ITEM_REMOVED, item_ref, "teardown (reset)")
                removed += 1
    return removed
