"""``kore-plaid keys new`` and ``kore-plaid keys rotate [--json] [--batch N]``.

``new`` prints a fresh key for ``BRIDGE_ENCRYPTION_KEY`` (32 random bytes, base64) and stores
nothing. ``rotate`` seals every secret the bridge's store keeps (Plaid access tokens, Hosted
Link tokens) under the current ``BRIDGE_ENCRYPTION_KEY``: step 3 of
:data:`.store.sealed.ROTATION_STEPS`. It works online, ``--batch`` rows per transaction, and
never overwrites a value a replica changed meanwhile. It prints counts, never a value, and
whether the replaced values were cleared from disk (``scrubbed``); ``--json`` prints them as
an object. Exit status 1 when some value no configured key opens.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from .. import settings as settings_module
from .store.sealed import ROTATION_STEPS, new_key_text

HOW_TO_ROTATE = "To rotate the key, in this order:\n" + "\n".join(
    textwrap.fill(f"{n}) {step}", 78, initial_indent="  ", subsequent_indent="     ")
    for n, step in enumerate(ROTATION_STEPS, 1)
)


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "new",
        help="print a fresh key for BRIDGE_ENCRYPTION_KEY (nothing is stored)",
        description="Print a fresh key (32 random bytes, base64) for BRIDGE_ENCRYPTION_KEY or "
        "BRIDGE_ENCRYPTION_KEYS. Nothing is stored: keep it where the bridge's settings are.",
    )
    rotate = actions.add_parser(
        "rotate",
        help="re-encrypt every stored secret under the current key (online)",
        description="Re-encrypt every stored secret under the current BRIDGE_ENCRYPTION_KEY, "
        "online, in batches; prints counts, never a value.",
        epilog=HOW_TO_ROTATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate.add_argument("--json", action="store_true", help="print the counts as JSON")
    rotate.add_argument("--batch", type=int, default=100, help="rows per transaction (default 100)")


def run(args: argparse.Namespace) -> int:
    if args.action == "new":
        print(new_key_text())
        return 0
    return rotate(args)


def rotate(args: argparse.Namespace) -> int:
    from .audit import AuditEvent, record_audit
    from .store import open_existing_store

    settings = settings_module.load()
    store = open_existing_store(settings, pool_size=1)
    if store is None:
        print(f"No store yet at {settings.bridge_store_shown}: nothing to re-encrypt.")
        return 0
    with store:
        counts = store.reseal(max(1, args.batch))
        key_id = store.current_key_id
        record_audit(
            store,
            AuditEvent.ENCRYPTION_KEY_ROTATED,
            detail=f"key {key_id}: {counts.resealed} row(s) re-encrypted, "
            f"{counts.unreadable} unreadable, {counts.left} left",
        )
    if args.json:
        print(json.dumps({"key_id": key_id, **counts.as_json()}, indent=2))
    else:
        print(
            f"Re-encrypted {counts.resealed} stored secret row(s) under key {key_id} "
            f"({settings.bridge_store_shown}); changed by a replica meanwhile: "
            f"{counts.changed_meanwhile}; no configured key opens: {counts.unreadable}; "
            f"still under an older key: {counts.left}; old values cleared from disk "
            f"(scrubbed: {str(counts.scrubbed).lower()})."
        )
        if not counts.scrubbed:
            print("The old values stay on disk until then: see the warning above for how.")
        if counts.left and not counts.unreadable:
            print("Run `kore-plaid keys rotate` again for the rows changed meanwhile.")
        if counts.unreadable:
            print(
                "Some rows were left as they were: add the key that sealed them to "
                "BRIDGE_ENCRYPTION_KEYS and run it again.\n" + HOW_TO_ROTATE
            )
    return 1 if counts.unreadable else 0
