"""Writing ``.env``: values replaced in place, through a fresh private (0600) file."""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from ..errors import SettingsError
from ..masking import mask
from .loader import check_env_file
from .model import Settings
from .paths import env_file_path

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def save(updates: Mapping[str, str | None], env_file: Path | None = None) -> Path:
    """Write ``updates`` (env names -> value; None removes) into ``.env``, mode 0600.

    Lines for other names, comments and blank lines are kept as they were. The new content
    goes to a fresh private file (never an existing file or a symlink planted in the folder),
    which then replaces ``.env``. Raises :class:`SettingsError` when the folder is not writable.
    """
    path = env_file or env_file_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_env_file(path)  # its other lines are kept: they must be the trainee's own
        lines = path.read_text().splitlines() if path.is_file() else []
    except OSError as exc:
        raise _unwritable(path, exc) from None
    pending = dict(updates)
    out: list[str] = []
    for line in lines:
        match = _ASSIGNMENT.match(line)
        if match and match.group(1) in pending:
            value = pending.pop(match.group(1))
            if value is not None:
                out.append(f"{match.group(1)}={_quote(value)}")
            continue
        out.append(line)
    out.extend(f"{name}={_quote(value)}" for name, value in pending.items() if value is not None)
    _replace_privately(path, "\n".join(out) + ("\n" if out else ""))
    return path


def _replace_privately(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a new 0600 temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> SettingsError:
    return SettingsError(
        f"Could not write {path}: {(exc.strerror or 'not allowed').lower()}.",
        fix=f"Make the folder {path.parent} writable for you (or set KORE_PLAID_ENV_FILE to a "
        "file in a folder you own), then save again.",
    )


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_\-.,:/@+]*", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def save_plaid_keys(client_id: str, secret: str, env: str, env_file: Path | None = None) -> str:
    """Validate and write the Plaid keys to ``.env`` (0600); empty keys remove them (the
    embedded mode). Returns what was saved where (masked) and how to go back."""
    Settings().with_values(plaid_client_id=client_id, plaid_secret=secret, plaid_env=env)
    path = save(
        {"PLAID_CLIENT_ID": client_id or None, "PLAID_SECRET": secret or None, "PLAID_ENV": env},
        env_file,
    )
    if not client_id:
        lines = [
            f"Removed PLAID_CLIENT_ID and PLAID_SECRET from {path} (PLAID_ENV={env}): "
            "embedded mode, the built-in emulator plays Plaid."
        ]
    else:
        lines = [
            f"Saved to {path}: PLAID_CLIENT_ID {mask(client_id)}, PLAID_SECRET {mask(secret)}, "
            f"PLAID_ENV={env}.",
            embedded_mode_hint(path),
        ]
    lines.extend(_environment_wins(("PLAID_CLIENT_ID", "PLAID_SECRET", "PLAID_ENV")))
    return "\n".join(lines)


def embedded_mode_hint(path: Path) -> str:
    """How to go back to the embedded mode once keys are saved in ``path``."""
    return (
        f"To go back to the embedded mode: remove PLAID_CLIENT_ID and PLAID_SECRET from {path} "
        "(or empty the client_id box of notebook 01 and press Check and save)."
    )


def _environment_wins(names: tuple[str, ...]) -> list[str]:
    shadowing = [name for name in names if os.environ.get(name)]
    if not shadowing:
        return []
    return [
        f"Note: {', '.join(shadowing)} also set in this process's environment, which wins over "
        "the file: unset them there (and restart the kernel) for the file to count."
    ]
