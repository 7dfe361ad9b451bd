"""``kore-plaid kore-requests [--json]``: the shape of each of the latest requests to the
bridge's Authorization URL and Token URL, newest first: what Kore actually sends (names and
yes/no facts, never a value). ``--json`` prints ``{"requests": [...]}`` (issue 22's
contract: :meth:`.request_shapes.RequestShape.as_json`)."""

from __future__ import annotations

import argparse
import json

from .. import settings as settings_module
from ..tables import format_table, utc_time, yes_no
from .request_shapes import RequestShape

HEADERS = (
    "at",
    "endpoint",
    "status",
    "client auth",
    "grant_type",
    "content type",
    "state",
    "PKCE",
    "scope",
    "redirect_uri",
    "user agent",
)
SHOWN_USER_AGENT = 40  # characters; --json has the whole (kept) text


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help='print {"requests": [...]}, newest first'
    )


def run(args: argparse.Namespace) -> int:
    from .kore_requests import recent_requests

    settings = settings_module.load()
    shapes = recent_requests(settings)
    if args.json:
        print(json.dumps({"requests": [shape.as_json() for shape in shapes]}, indent=2))
        return 0
    if not shapes:
        print(
            f"No request recorded yet: the bridge's store ({settings.bridge_store_shown}) "
            "holds none.\nClick Authorize in Kore's authorization profile (or open the link "
            "Kore posts in the conversation), or run `kore-plaid verify`; then run "
            "`kore-plaid kore-requests` again."
        )
        return 0
    print(format_table(HEADERS, [_row(shape) for shape in shapes]))
    print("\nNames of the parameters and headers: `kore-plaid kore-requests --json`.")
    return 0


def _row(shape: RequestShape) -> tuple[str, ...]:
    return (
        utc_time(shape.at) or "",
        shape.endpoint,
        str(shape.status),
        shape.client_auth,
        shape.grant_type or "-",
        shape.content_type or "-",
        yes_no(shape.state),
        yes_no(shape.pkce),
        yes_no(shape.scope),
        _redirect_uri(shape.redirect_uri_matches),
        _shortened(shape.user_agent or "-"),
    )


def _redirect_uri(matches: bool | None) -> str:
    if matches is None:
        return "absent"
    return "matches" if matches else "differs"


def _shortened(text: str) -> str:
    if len(text) <= SHOWN_USER_AGENT:
        return text
    return text[: SHOWN_USER_AGENT - 1] + "…"
