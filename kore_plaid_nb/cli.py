"""``kore-plaid`` (same as ``python -m kore_plaid_nb``).

Each command lives in the module of its part, which defines ``configure(parser)`` and
``run(args) -> int``. Only the chosen command's module is imported (a service starts fast,
and one part's failure cannot break another's command). A :class:`RunbookError` is printed
as message + fix, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import parent_watch
from .errors import RunbookError
from .private_files import private_by_default

COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("kore_plaid_nb.emulator.command", "run the offline Plaid Sandbox emulator"),
    "bridge": ("kore_plaid_nb.bridge.command", "run the OAuth 2.0 bridge (Authorization URL)"),
    "tunnel": ("kore_plaid_nb.tunnel.command", "open, list or close the public tunnel"),
    "profile": ("kore_plaid_nb.kore.command", "print every value to type into Kore"),
    "verify": ("kore_plaid_nb.verification.command", "play Kore's part and check the chain"),
    "run": ("kore_plaid_nb.runbook.command", "execute every notebook headless, in order"),
    "board": ("kore_plaid_nb.board.command", "run the trainer's live progress board"),
    "status": ("kore_plaid_nb.services_command", "show the background services"),
    "stop": ("kore_plaid_nb.services_command", "stop background services"),
    "progress": ("kore_plaid_nb.progress.command", "show the trainee's checklist"),
    "reset": ("kore_plaid_nb.progress.command", "start over: stop services, remove Items"),
    "items": ("kore_plaid_nb.bridge.items_command", "list end users' Items, health, repair links"),
    "kore-requests": ("kore_plaid_nb.bridge.kore_requests_command", "what Kore sent the bridge"),
    "keys": ("kore_plaid_nb.bridge.keys_command", "make or rotate the store's encryption key"),
    "audit": ("kore_plaid_nb.bridge.audit_command", "the bridge's audit trail (security events)"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``chosen``'s module is imported and configured (all when None)."""
    parser = argparse.ArgumentParser(
        prog="kore-plaid",
        description="Connect Kore.ai to Plaid: emulator, OAuth bridge, tunnel, profile, checks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is not None and name != chosen:
            continue
        module = importlib.import_module(module_name)
        configure = getattr(module, f"configure_{name}", None) or module.configure
        configure(command)
        command.set_defaults(handler=getattr(module, f"run_{name}", None) or module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the program itself (not a test): its files and its children's private
        private_by_default()
        parent_watch.start_watching()  # a service ends with the Jupyter server that started it
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RunbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
