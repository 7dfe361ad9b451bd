"""``kore-plaid verify [--url PUBLIC_URL] [--tenant TENANT]``: play Kore's part, check the chain.

Prints a table (check | result | time) and exits 1 when any check fails; each failure names
the step of the documented procedure that is most likely wrong.
"""

from __future__ import annotations

import argparse
import sys

from .. import settings as settings_module
from .. import stack
from ..errors import ServiceError
from .checks import verify


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        metavar="PUBLIC_URL",
        help="the bridge's URL (default: the tunnel's public URL, else the running bridge's)",
    )
    parser.add_argument(
        "--tenant",
        help="the tenant to type into Kore when authorizing (default: PLAID_ENV)",
    )


def run(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    try:
        settings = stack.plaid_settings(settings, start=False)
    except ServiceError:
        pass  # no emulator: the checks report the bridge side as down
    report = verify(settings, args.url, args.tenant)
    print(report.to_text())
    sys.stdout.flush()
    return 0 if report.ok else 1
