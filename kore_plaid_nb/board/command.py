"""``kore-plaid board [--host 127.0.0.1] [--port N] [--db PATH] [--stuck-after SECONDS]``: the
trainer's live progress board, in the foreground.

``kore-plaid board add-trainee NAME [--db PATH]`` prints NAME's own token once (the store keeps
its digest; running it again replaces it), ``remove-trainee NAME`` revokes it, ``trainees``
lists who has one. Trainees post with theirs (``KORE_PLAID_BOARD_TRAINEE_TOKEN``).

The trainer's token is ``KORE_PLAID_BOARD_TRAINER_TOKEN``; without it, one is made once and kept
in ``<state folder>/trainer.token`` (mode 0600), printed in full only when it is made. It reads the
board; trainees never get it. The ``board.token`` of earlier versions (given to every trainee)
is never read again, and deleted when it is this user's own file; the old variable
``KORE_PLAID_BOARD_TOKEN`` is ignored with a warning. Started by JupyterHub as a managed
service (``JUPYTERHUB_SERVICE_URL`` set) and without ``--port``, the board binds the service's
address and serves under ``JUPYTERHUB_SERVICE_PREFIX``; with the Hub's API token and
OAuth client it also takes trainees' Hub tokens and signs the trainer in through the Hub
(:mod:`.hub`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from .. import serving
from .. import settings as settings_module
from ..errors import ServiceError, SettingsError
from ..http_plumbing import LoopbackOnly
from ..progress.events import now_iso

DEFAULT_PORT = 8800
DEFAULT_STUCK_AFTER = 600
TOKEN_FILE = "trainer.token"  # noqa: S105 - a file name, not a token  # nosec B105
# the token earlier versions kept, and gave every trainee: never read again
OLD_TOKEN_FILE = "board.token"  # noqa: S105 - a file name, not a token  # nosec B105
TOKEN_VARIABLE = "KORE_PLAID_BOARD_TRAINER_TOKEN"  # noqa: S105 - a variable name  # nosec B105
OLD_TOKEN_VARIABLE = "KORE_PLAID_BOARD_TOKEN"  # noqa: S105 - ignored: trainees had it  # nosec B105
LOOPBACK = ("127.0.0.1", "localhost", "::1")


DB_HELP = "SQLite file (default <state folder>/board.sqlite3)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--db", type=Path, default=None, help=DB_HELP)
    parser.add_argument(
        "--stuck-after",
        type=float,
        default=DEFAULT_STUCK_AFTER,
        metavar="SECONDS",
        help="a trainee with no progress for this long shows as stuck (default 600)",
    )
    parser.add_argument(
        "--prefix",
        default=None,
        help="serve under this path (default: JupyterHub's service prefix, else /)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, help_text in (
        ("add-trainee", "print a new token for NAME once (replaces NAME's old one)"),
        ("remove-trainee", "revoke NAME's token"),
        ("trainees", "list the trainees who have a token"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        if name != "trainees":
            action.add_argument("name", metavar="NAME", help="the trainee's name on the board")
        action.add_argument("--db", type=Path, default=None, dest="action_db", help=DB_HELP)


def token_from_file(path: Path) -> tuple[str, bool]:
    """The token kept in ``path``; ``(token, True)`` when it was made just now (mode 0600)."""
    if path.is_file():
        os.chmod(path, 0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    return token, True


@dataclass(frozen=True)
class HubService:
    """Where JupyterHub's proxy expects this managed service: its address and path prefix."""

    host: str
    port: int
    prefix: str


def _prefix(path: str) -> str:
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


def hub_service(environ: Mapping[str, str]) -> HubService | None:
    """The Hub-managed service this process is (``JUPYTERHUB_SERVICE_URL`` with a
    ``/services/...`` prefix), else None. A user's own server (prefix ``/user/<name>/``) sets
    the same variables for itself: a board started from its terminal ignores them."""
    url = (environ.get("JUPYTERHUB_SERVICE_URL") or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    prefix = _prefix(environ.get("JUPYTERHUB_SERVICE_PREFIX") or parts.path)
    if "/services/" not in prefix:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise SettingsError(
            f"JUPYTERHUB_SERVICE_URL={url!r} is not a URL with a host and a port.",
            fix="In jupyterhub_config.py give the board's service a url such as "
            "http://127.0.0.1:10101, or run `kore-plaid board --port N` yourself.",
        )
    return HubService(parts.hostname, port, prefix)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def manage_trainees(args: argparse.Namespace) -> int:
    """``add-trainee``, ``remove-trainee``, ``trainees``: on the board's store (the board may
    be running)."""
    from .identity import new_trainee_token, token_digest, trainee_name
    from .store import BoardStore

    path = args.action_db or args.db or settings_module.home_path() / "board.sqlite3"
    store = BoardStore(path)
    try:
        if args.action == "trainees":
            holders = store.token_holders()
            for name, created in holders:
                print(f"{name}\t(token made {created})")
            if not holders:
                _say(f"No trainee has a token in {store.path}: kore-plaid board add-trainee NAME")
            return 0
        try:
            name = trainee_name(args.name)
        except ValueError as exc:
            raise SettingsError(
                f"{args.name!r} cannot name a trainee: {exc}.",
                fix="Pass the trainee's name, e.g. kore-plaid board add-trainee ada",
            ) from None
        if args.action == "remove-trainee":
            if not store.drop_trainee_token(name):
                _say(f"{name} has no token on this board ({store.path}); nothing to revoke.")
                return 1
            _say(f"{name}'s token no longer works; their events stay on the board.")
            return 0
        token = new_trainee_token()
        replaced = store.set_trainee_token(name, token_digest(token), now_iso())
        if replaced:
            _say(f"{name}'s previous token no longer works.")
        _say(
            f"Token for {name} (shown once; give it to {name} only, as "
            f"KORE_PLAID_BOARD_TRAINEE_TOKEN; their events show as {name!r}):"
        )
        print(token, flush=True)
        return 0
    finally:
        store.close()


def retire_old_token(home: Path) -> str:
    """Delete ``<home>/board.token`` (earlier versions gave its token to every trainee) when it
    is this user's own file; a line saying what was done ('' when there was none)."""
    path = home / OLD_TOKEN_FILE
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"{path} is ignored (not readable: {exc.strerror})."
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
        path.unlink()
        return (
            f"Deleted {path}: the old board token (trainees were given it) no longer opens "
            f"the board; the trainer's token is now in {home / TOKEN_FILE}."
        )
    return f"{path} is not this user's file: ignored (its token no longer opens the board)."


def trainer_token(home: Path) -> tuple[str, str]:
    """The trainer's token and where it comes from (KORE_PLAID_BOARD_TRAINER_TOKEN, else
    ``trainer.token``, made and shown once)."""
    retired = retire_old_token(home)
    if retired:
        _say(retired)
    if os.environ.get(OLD_TOKEN_VARIABLE, "").strip():
        _say(
            f"warning: {OLD_TOKEN_VARIABLE} is ignored (earlier versions had trainees given it); "
            f"the trainer's token is {TOKEN_VARIABLE}, else {home / TOKEN_FILE}. Unset "
            f"{OLD_TOKEN_VARIABLE} here."
        )
    token = settings_module.board_token()
    if token:
        if len(token) < 16:
            _say(f"warning: {TOKEN_VARIABLE} is short; a 32-character random one is safer.")
        return token, TOKEN_VARIABLE
    token_path = home / TOKEN_FILE
    token, created = token_from_file(token_path)
    if created:
        _say(
            "Trainer's board token (opens the board; keep it to yourself, trainees get their "
            f"own with `kore-plaid board add-trainee NAME`; shown once): {token}"
        )
    return token, str(token_path)


def _check_stuck_after(seconds: float) -> None:
    if seconds <= 0:
        raise SettingsError(
            f"--stuck-after {seconds:g} is not a number of seconds.",
            fix="Pass a positive number of seconds, e.g. --stuck-after 600 (10 minutes).",
        )


def board_address(args: argparse.Namespace, hub: HubService | None) -> tuple[str, int, str]:
    """Host, port and path prefix: the options', else the Hub service's, else the defaults."""
    if args.port is not None:
        host, port = args.host or "127.0.0.1", args.port
    elif hub:
        host, port = args.host or hub.host, hub.port
    else:
        host, port = args.host or "127.0.0.1", DEFAULT_PORT
    return host, port, _prefix(args.prefix or (hub.prefix if hub else "/"))


def _check_port(host: str, port: int, hub_port: bool) -> None:
    try:
        serving.check_port_free(host, port, "board")
    except ServiceError:
        if hub_port:
            fix = (
                f"Stop the program holding it (`lsof -i :{port}` shows it), or set "
                "KORE_PLAID_BOARD_PORT to a free port in the Hub's environment and start the "
                "Hub again (JupyterHub gives the board the port of that setting)."
            )
        else:
            fix = (
                f"Stop the program holding it (`lsof -i :{port}` shows it, e.g. another "
                f"`kore-plaid board`), or pass another port: kore-plaid board --port {port + 1}"
            )
        raise ServiceError(
            f"Port {port} on {host} is already in use, so the board cannot start.", fix=fix
        ) from None


def served_app(app: ASGIApp, hub: HubService | None, prefix: str) -> ASGIApp:
    """Behind the Hub's proxy: the app itself. Else (bound to loopback) it answers only to its
    own Host names (DNS rebinding), and refuses cross-site form or text posts except to its own
    sign-in and sign-out forms (they post with ``Origin: null``): never to ``/api/*``."""
    if hub:
        return app
    return LoopbackOnly(app, form_paths=(f"{prefix}login", f"{prefix}logout"))


def run(args: argparse.Namespace) -> int:
    from .app import build_app
    from .hub import hub_identity
    from .store import BoardStore

    if getattr(args, "action", None):
        return manage_trainees(args)
    home = settings_module.home_path()
    _check_stuck_after(args.stuck_after)
    hub = hub_service(os.environ)
    host, port, prefix = board_address(args, hub)
    _check_port(host, port, hub_port=bool(hub) and args.port is None)
    token, shown = trainer_token(home)
    store = BoardStore(args.db or home / "board.sqlite3")
    store.by_trainee()  # the events into memory now, not on the trainer's first look
    _say(
        f"kore-plaid board on http://{host}:{port}{prefix} (token {settings_module.mask(token)} "
        f"from {shown}); store {store.path}; stuck after {args.stuck_after:g} s"
    )
    if host in LOOPBACK and not hub:
        _say(
            "Only this machine can reach it: for trainees on other machines, start it with "
            "--host 0.0.0.0 and give them KORE_PLAID_BOARD_URL=http://<this machine>:"
            f"{port}{prefix.rstrip('/')}"
        )
    identity = hub_identity(os.environ) if hub else None
    if identity is not None:
        _say(
            "Trainees' Hub tokens are accepted; the page signs in through the Hub, for members "
            f"of the Hub group {identity.trainers_group!r}."
        )
    app = build_app(store, token, stuck_after_seconds=args.stuck_after, prefix=prefix, hub=identity)
    trusted = ("127.0.0.1",) if hub else ()  # the Hub's proxy on this machine
    try:
        serving.serve(
            served_app(app, hub, prefix), host, port, what="board", forwarded_allow_ips=trusted
        )
    finally:
        store.close()
    return 0
