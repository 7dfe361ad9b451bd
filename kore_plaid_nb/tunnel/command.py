"""``kore-plaid tunnel [open|list|close|close-all|check] [--port N]``."""

from __future__ import annotations

import argparse

from .. import settings as settings_module
from . import control
from .service import run_service
from .state import LOCAL_NOTE

ACTIONS = ("open", "list", "close", "close-all", "check", "serve")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        default="open",
        choices=ACTIONS,
        help="open (default) prints the public URL; list, close, close-all; check verifies "
        "the agent, the URL and the port",
    )
    parser.add_argument("--port", type=int, help="local port to expose (default: APP_PORT)")
    parser.add_argument(
        "--expected-url", help="check: the public URL the Kore profile was made with"
    )
    parser.add_argument("--health-port", type=int, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    if args.action == "serve":
        return run_service(settings, args.port or settings.app_port, args.health_port)
    if args.action == "open":
        info = control.open_tunnel(settings, args.port)
        print(f"Public URL: {info.public_url}" + (f" ({LOCAL_NOTE})" if info.local else ""))
        print(f"Tunnel: {info.describe()}")
    elif args.action == "list":
        tunnels = control.list_tunnels(settings)
        for info in tunnels:
            print(info.describe())
        if not tunnels:
            print("No tunnel is open.")
    elif args.action == "close":
        print("Tunnel closed." if control.close_tunnel(settings) else "No tunnel was open.")
    elif args.action == "close-all":
        names = control.close_all(settings)
        print("Closed: " + (", ".join(names) if names else "nothing was open"))
    elif args.action == "check":
        info = control.check_tunnel(settings, args.expected_url)
        print(f"Tunnel OK: {info.describe()}")
    return 0
