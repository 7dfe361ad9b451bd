"""``kore-plaid sandbox [--host 127.0.0.1] [--port N]``: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import sys

from ..serving import check_port_free, serve
from ..settings import load as load_settings
from ..settings import mask
from .app import create_app, default_state_path

DEFAULT_PORT = 8100  # in the foreground; the runbook's background emulator records its own


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--state", default=None, help="SQLite file (default <KORE_PLAID_HOME>/emulator.sqlite3)"
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_port_free(args.host, args.port, "Plaid emulator")  # before the banner
    state = args.state or default_state_path(settings)
    app = create_app(settings, state_path=state)
    print(
        f"Plaid Sandbox emulator on http://{args.host}:{args.port} "
        f"(state {state}; client_id {mask(settings.client_id)}). Ctrl+C stops it.",
        file=sys.stderr,
        flush=True,
    )
    serve(app, args.host, args.port, what="Plaid emulator")
    return 0
