"""``kore-plaid bridge [--host 127.0.0.1] [--port N] [--workers N]``: run the OAuth bridge in
the foreground.

The store is opened (and migrated) before the port is taken, so a wrong ``BRIDGE_DB`` ends
the command with one readable line. With ``--workers N``, N processes share the port and the
store (SQLite on one host; PostgreSQL for several hosts); ``X-Forwarded-*`` headers count
only from the addresses in ``FORWARDED_ALLOW_IPS``.

Metrics (:mod:`.metrics`): ``BRIDGE_METRICS_PORT`` opens their listener before the banner
(a busy port ends the command readably); under ``--workers N`` it runs in this supervisor
process and adds up the files the workers write to (:mod:`.metrics.worker_files`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import services, serving, stack
from .. import settings as settings_module
from ..emulator.service import SERVICE_NAME as EMULATOR_SERVICE
from ..errors import RunbookError, SettingsError
from ..settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .metrics.listener import MetricsListener

WORKERS_APP = "kore_plaid_nb.bridge.asgi:create"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (default: APP_PORT from .env or the environment, else a free port chosen "
        "once and kept in the state folder; `kore-plaid status` shows it)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port and the store (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    from . import logs
    from .store import open_bridge_store

    if args.workers < 1:
        raise SettingsError(
            f"--workers {args.workers} is not a number of processes.",
            fix="Pass --workers 1 or more (e.g. the number of CPU cores).",
        )
    settings = settings_module.load()
    logs.configure(settings)
    port = settings.app_port if args.port is None else args.port
    serving.check_port_free(args.host, port, "bridge")  # before the emulator and the banner
    open_bridge_store(settings, pool_size=1).close()  # fails here, readably
    if settings.bridge_metrics_port == port:
        raise SettingsError(
            f"BRIDGE_METRICS_PORT={port} is also the bridge's port.",
            fix="Give the metrics listener a port of its own (e.g. 9464), or unset "
            "BRIDGE_METRICS_PORT and scrape /metrics on the main port with "
            "BRIDGE_METRICS_TOKEN.",
        )
    with contextlib.ExitStack() as cleanup:
        settings = _with_plaid(settings, cleanup)
        if args.workers == 1:
            _serve_one(settings, args.host, port, cleanup)
        else:
            _serve_workers(settings, args.host, port, args.workers, cleanup)
    return 0


def _with_plaid(settings: Settings, cleanup: contextlib.ExitStack) -> Settings:
    """The settings pointed at Plaid: in embedded mode the emulator, started in the
    background when it is not running; one this command started is stopped again if the
    bridge then fails to start (a busy metrics port), and kept once it serves."""
    from . import logs

    if not settings.embedded or settings.plaid_api_url:
        return settings
    started = services.read(settings.home, EMULATOR_SERVICE) is None
    settings = stack.plaid_settings(settings)
    logs.announce(
        f"Plaid emulator at {settings.plaid_api_url} (a background service: "
        "`kore-plaid stop emulator` ends it)",
        "emulator_started",
    )
    if started:
        cleanup.push(_stop_emulator_on_failure(settings.home))
    return settings


def _stop_emulator_on_failure(home: Path) -> Callable[..., bool]:
    def stop(kind: type[BaseException] | None, *_: object) -> bool:
        if kind is not None and issubclass(kind, RunbookError):
            services.stop(home, EMULATOR_SERVICE)
        return False  # the error goes on

    return stop


def _serve_one(settings: Settings, host: str, port: int, cleanup: contextlib.ExitStack) -> None:
    """One process: the app's own metrics registry serves the listener."""
    from .asgi import freeze_startup_objects
    from .routes import create_app

    app = create_app(settings)
    listener = _metrics_listener(settings, app.state.metrics, cleanup)
    _announce(settings, host, port, 1, listener)
    freeze_startup_objects()
    serving.serve(
        app,
        host,
        port,
        what="bridge",
        own_logging=True,  # logs.configure; the app applies the proxy headers itself
    )


def _serve_workers(
    settings: Settings, host: str, port: int, workers: int, cleanup: contextlib.ExitStack
) -> None:
    """``workers`` processes; their metrics folder is exported before they start, and the
    listener (with a store connection of its own, for the Items gauge) runs here."""
    from .metrics.exposition import scrape_registry
    from .metrics.worker_files import worker_metrics_folder
    from .store import open_bridge_store

    folder = cleanup.enter_context(worker_metrics_folder())
    listener = None
    if settings.bridge_metrics_port is not None:
        store = cleanup.enter_context(open_bridge_store(settings, pool_size=1))
        registry = scrape_registry(settings, store, worker_files=folder)
        listener = _metrics_listener(settings, registry, cleanup)
    _announce(settings, host, port, workers, listener)
    os.environ.update(settings.as_env())  # what each worker's settings_module.load() reads
    serving.serve_workers(WORKERS_APP, host, port, workers, what="bridge", own_logging=True)


def _metrics_listener(
    settings: Settings, registry: CollectorRegistry, cleanup: contextlib.ExitStack
) -> MetricsListener | None:
    if settings.bridge_metrics_port is None:
        return None
    from .metrics.listener import MetricsListener

    listener = MetricsListener.start(
        settings.bridge_metrics_host, settings.bridge_metrics_port, registry
    )
    cleanup.callback(listener.close)
    return listener


def _announce(
    settings: Settings, host: str, port: int, workers: int, listener: MetricsListener | None
) -> None:
    from . import logs

    trusted = ",".join(settings.forwarded_allow_ips) or "none"
    logs.announce(
        f"kore-plaid bridge ({settings.mode}) on http://{host}:{port}, "
        f"{workers} worker(s): Authorization URL /, token URL "
        f"/api/send_the_access_token_AUTH; link mode {settings.link_mode}; store "
        f"{settings.bridge_store_shown}; proxy headers trusted from: {trusted}; "
        f"{metrics_line(settings, host, port, listener)}",
        "bridge_started",
    )


def metrics_line(settings: Settings, host: str, port: int, listener: MetricsListener | None) -> str:
    """Where the bridge's metrics are, as the banner says it."""
    places = [listener.url] if listener is not None else []
    if settings.bridge_metrics_token:
        places.append(f"http://{host}:{port}/metrics (Bearer BRIDGE_METRICS_TOKEN)")
    if not places:
        return "metrics: off (set BRIDGE_METRICS_PORT or BRIDGE_METRICS_TOKEN)"
    return "metrics on " + " and ".join(places)
