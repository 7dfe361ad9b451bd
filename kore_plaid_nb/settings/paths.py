"""Where the runbook keeps its files, and who the trainee is, from the environment."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

# the checkout that holds the package: kore_plaid_nb/settings/paths.py -> three levels up
_CHECKOUT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The checkout that holds this package, else the current directory."""
    if (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT
    return Path.cwd()


def env_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``.env`` lives: KORE_PLAID_ENV_FILE, else ``<project root>/.env``."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("KORE_PLAID_ENV_FILE")
    return Path(explicit).expanduser() if explicit else project_root() / ".env"


def home_path(environ: Mapping[str, str] | None = None) -> Path:
    """The state folder: KORE_PLAID_HOME, else ``<project root>/.kore-plaid`` (git-ignored)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("KORE_PLAID_HOME")
    return Path(explicit).expanduser() if explicit else project_root() / ".kore-plaid"


def trainee_name(environ: Mapping[str, str] | None = None) -> str:
    """Who the trainee is: KORE_PLAID_TRAINEE, else JUPYTERHUB_USER, else the OS user."""
    environ = os.environ if environ is None else environ
    for name in ("KORE_PLAID_TRAINEE", "JUPYTERHUB_USER"):
        value = (environ.get(name) or "").strip()
        if value:
            return value[:200]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "trainee"


def board_token(environ: Mapping[str, str] | None = None) -> str:
    """KORE_PLAID_BOARD_TRAINER_TOKEN from the environment (the board's own command reads it
    here; the old KORE_PLAID_BOARD_TOKEN, handed to trainees once, is not)."""
    environ = os.environ if environ is None else environ
    return (environ.get("KORE_PLAID_BOARD_TRAINER_TOKEN") or "").strip()
