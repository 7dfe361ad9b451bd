"""Settings read from ``.env`` overlaid by the environment (environment wins).

Every other part gets its configuration from :func:`load`; nothing else reads ``os.environ``
for these names.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from .. import ports
from ..errors import SettingsError
from .model import VARS, Settings
from .model import validate as validate_settings
from .paths import env_file_path, home_path, trainee_name


def read_env_file(path: Path) -> dict[str, str]:
    """The ``.env`` values (empty when the file does not exist). Raises
    :class:`SettingsError` for a file someone else could have written (:func:`check_env_file`)."""
    if not path.is_file():
        return {}
    check_env_file(path)
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def check_env_file(path: Path) -> None:
    """Refuse a ``.env`` that another user owns (root aside) or that group or others can
    write: whoever writes it could point the runbook (and its Plaid keys) anywhere."""
    try:
        info = path.stat()
    except OSError:
        return  # missing: nothing is read from it
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (os.geteuid(), 0):
        raise SettingsError(
            f"{path} belongs to another user (uid {info.st_uid}), so its settings are not "
            "used: whoever owns it could send your keys and tokens elsewhere.",
            fix=f"Use a .env of your own: move {path} away (or set KORE_PLAID_ENV_FILE to a "
            "file you own), save your settings again (notebook 01), and keep it `chmod 600`.",
        )
    if mode & 0o022:
        raise SettingsError(
            f"{path} can be changed by other users (mode {mode:o}), so its settings are not "
            "used: whoever writes it could send your keys and tokens elsewhere.",
            fix=f"Check that its content is yours, then run `chmod 600 {path}` and run the "
            "cell again.",
        )


def check_named_env_file(path: Path) -> None:
    """A ``.env`` named by KORE_PLAID_ENV_FILE may not exist yet (notebook 01 writes it), but
    its folder must: a path nothing can be saved to is a typo, not an empty ``.env``."""
    if not path.parent.is_dir():
        raise SettingsError(
            f"KORE_PLAID_ENV_FILE names {path}, but its folder {path.parent} does not exist, "
            "so no setting is read from it and none could be saved there.",
            fix="Correct KORE_PLAID_ENV_FILE (a path to a .env in a folder that exists), or "
            "unset it to use the project's own .env.",
        )


def load(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    validate: bool = True,
) -> Settings:
    """Settings from ``.env`` overlaid by the environment. Raises :class:`SettingsError`
    (unless ``validate`` is False: then a wrong value is kept, for showing and teardown).

    A port that is not set (APP_PORT, KORE_SIMULATOR_PORT) is a free one, chosen once and
    recorded in the state folder (:mod:`.ports`), so trainees sharing a machine never collide.
    """
    environ = dict(os.environ if environ is None else environ)
    path = env_file or env_file_path(environ)
    if validate and env_file is None and environ.get("KORE_PLAID_ENV_FILE"):
        check_named_env_file(path)
    values = {**read_env_file(path), **{k: v for k, v in environ.items() if v != ""}}
    home = home_path(environ)
    read: dict[str, Any] = {}
    auto_ports: list[str] = []
    for name, spec in VARS.items():
        written = values.get(spec.name, "").strip()
        if spec.free_port and not written:
            read[name] = ports.assigned(home, spec.name)
            auto_ports.append(spec.name)
        else:
            read[name] = spec.read(written)
    settings = Settings(
        **read,
        auto_ports=tuple(auto_ports),
        trainee=trainee_name(values),
        home=home,
        env_file=path,
    )
    if validate:
        validate_settings(settings)
    return settings


def load_as_is() -> Settings:
    """The settings even when one is wrong (unchecked), for showing progress and cleaning up;
    the defaults when even the ports cannot be read. Never raises."""
    try:
        return load(validate=False)
    except SettingsError:
        return Settings()
