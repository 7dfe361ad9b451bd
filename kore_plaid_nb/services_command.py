"""``kore-plaid status`` and ``kore-plaid stop [NAME ...]``."""

from __future__ import annotations

import argparse

from . import services, settings


def configure_status(parser: argparse.ArgumentParser) -> None:
    del parser


def run_status(args: argparse.Namespace) -> int:
    home = settings.home_path()
    records = services.running(home)
    if not records:
        print(f"No background service is running (state folder: {home}).")
        return 0
    for record in records:
        print(f"{record.name:<10} pid {record.pid:<8} {record.url}  log: {record.log}")
    return 0


def configure_stop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        help=f"services to stop: {', '.join(services.SERVICE_NAMES)} (default: all)",
    )


def run_stop(args: argparse.Namespace) -> int:
    home = settings.home_path()
    unknown = [name for name in args.names if name not in services.SERVICE_NAMES]
    if unknown:
        print(
            f"{', '.join(unknown)} is not a service. The services: "
            f"{', '.join(services.SERVICE_NAMES)} (`kore-plaid status` shows those running)."
        )
        return 2
    if args.names:
        stopped = [name for name in args.names if services.stop(home, name)]
    else:
        stopped = services.stop_all(home)
    print("Stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0
