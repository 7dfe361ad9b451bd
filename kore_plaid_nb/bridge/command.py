"""``kore-plaid bridge [--host 127.0.0.1] [--port N]``: run the OAuth bridge in the foreground."""

from __future__ import annotations

import argparse
import sys

from .. import serving, stack
from .. import settings as settings_module


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default APP_PORT, 8000)")


def run(args: argparse.Namespace) -> int:
    from .routes import create_app

    settings = settings_module.load()
    if settings.embedded and not settings.plaid_api_url:
        settings = stack.plaid_settings(settings)  # the embedded emulator, in the background
        print(
            f"Plaid emulator at {settings.plaid_api_url} (a background service: "
            "`kore-plaid stop emulator` ends it)",
            file=sys.stderr,
            flush=True,
        )
    port = settings.app_port if args.port is None else args.port
    print(
        f"kore-plaid bridge ({settings.mode}) on http://{args.host}:{port}: Authorization URL "
        f"/, token URL /api/send_the_access_token_AUTH; store {settings.bridge_db_path}",
        file=sys.stderr,
        flush=True,
    )
    serving.serve(create_app(settings), args.host, port, what="bridge")
    return 0
