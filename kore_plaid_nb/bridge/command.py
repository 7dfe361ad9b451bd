"""``kore-plaid bridge [--host 127.0.0.1] [--port N] [--workers N]``: run the OAuth bridge in
the foreground.

The store is opened (and migrated) before the port is taken, so a wrong ``BRIDGE_DB`` ends
the command with one readable line. With ``--workers N``, N processes share the port and the
store (SQLite on one host; PostgreSQL for several hosts); ``X-Forwarded-*`` headers count
only from the addresses in ``FORWARDED_ALLOW_IPS``.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import serving, stack
from .. import settings as settings_module
from ..errors import SettingsError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default APP_PORT, 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port and the store (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    from .store import open_bridge_store

    if args.workers < 1:
        raise SettingsError(
            f"--workers {args.workers} is not a number of processes.",
            fix="Pass --workers 1 or more (e.g. the number of CPU cores).",
        )
    settings = settings_module.load()
    open_bridge_store(settings, pool_size=1).close()  # fails here, readably
    if settings.embedded and not settings.plaid_api_url:
        settings = stack.plaid_settings(settings)  # the embedded emulator, in the background
        print(
            f"Plaid emulator at {settings.plaid_api_url} (a background service: "
            "`kore-plaid stop emulator` ends it)",
            file=sys.stderr,
            flush=True,
        )
    port = settings.app_port if args.port is None else args.port
    trusted = ",".join(settings.forwarded_allow_ips) or "none"
    print(
        f"kore-plaid bridge ({settings.mode}) on http://{args.host}:{port}, "
        f"{args.workers} worker(s): Authorization URL /, token URL "
        f"/api/send_the_access_token_AUTH; store {settings.bridge_store_shown}; "
        f"proxy headers trusted from: {trusted}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers == 1:
        from .routes import create_app

        serving.serve(
            create_app(settings),
            args.host,
            port,
            what="bridge",
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        return 0
    os.environ.update(settings.as_env())  # what each worker's settings_module.load() reads
    serving.serve_workers(
        "kore_plaid_nb.bridge.asgi:create",
        args.host,
        port,
        args.workers,
        what="bridge",
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0
