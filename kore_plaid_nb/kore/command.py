"""``kore-plaid profile [--json | --markdown] [--reveal] [--url PUBLIC_URL]``: every value to
type into Kore, as a plain aligned table (JSON and Markdown on request)."""

from __future__ import annotations

import argparse

from .. import settings as settings_module
from .profile import build_profile


def configure(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the profile as JSON")
    output.add_argument(
        "--markdown", action="store_true", help="print the profile as a Markdown table"
    )
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
    if args.json:
        print(profile.to_json())
    elif getattr(args, "markdown", False):
        print(profile.to_markdown())
    else:
        print(profile.to_text())
    return 0
