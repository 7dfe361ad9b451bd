"""``kore-plaid profile [--json] [--reveal] [--url PUBLIC_URL]``: every value to type into Kore."""

from __future__ import annotations

import argparse

from .. import settings as settings_module
from .profile import build_profile


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    parser.add_argument(
        "--reveal", action="store_true", help="show the client secret instead of masking it"
    )
    parser.add_argument(
        "--url",
        metavar="PUBLIC_URL",
        help="the bridge's public URL (default: the tunnel's, else the running bridge's)",
    )


def run(args: argparse.Namespace) -> int:
    profile = build_profile(settings_module.load(), public_url=args.url, reveal=args.reveal)
    print(profile.to_json() if args.json else profile.to_markdown())
    return 0
