"""``kore-plaid verify [--url PUBLIC_URL] [--tenant TENANT] [--matrix [--json] | --as-recorded]``:
play Kore's part, check the chain.

Prints a table (check | result | time) and exits 1 when any check fails; each failure names
the step of the documented procedure that is most likely wrong. ``--matrix`` runs the chain
for all 24 ways Kore may call the bridge (one row each); ``--as-recorded`` plays Kore the way
the bridge last recorded it (``kore-plaid kore-requests``).
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import settings as settings_module
from .. import stack
from ..errors import RunbookError, ServiceError
from .as_recorded import recorded_kore
from .checks import verify
from .matrix import verify_matrix


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
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--matrix",
        action="store_true",
        help="run the chain for all 24 ways Kore may call the bridge (credentials x body x "
        "state x PKCE) and print one row each",
    )
    how.add_argument(
        "--as-recorded",
        action="store_true",
        help="play Kore the way the bridge last recorded it (see `kore-plaid kore-requests`)",
    )
    parser.add_argument("--json", action="store_true", help="with --matrix: print JSON")


def run(args: argparse.Namespace) -> int:
    if args.json and not args.matrix:
        raise RunbookError(
            "--json goes with --matrix.", fix="Run `kore-plaid verify --matrix --json`."
        )
    settings = settings_module.load()
    try:
        settings = stack.plaid_settings(settings, start=False)
    except ServiceError:
        pass  # no emulator: the checks report the bridge side as down
    if args.matrix:
        matrix = verify_matrix(settings, args.url, args.tenant)
        print(json.dumps(matrix.as_json(), indent=2) if args.json else matrix.to_text())
        sys.stdout.flush()
        return 0 if matrix.ok else 1
    if args.as_recorded:
        recorded = recorded_kore(settings)
        print(recorded.describe(), end="\n\n")
        report = verify(settings, args.url, args.tenant, behaviour=recorded.behaviour)
    else:
        report = verify(settings, args.url, args.tenant)
    print(report.to_text())
    sys.stdout.flush()
    return 0 if report.ok else 1
