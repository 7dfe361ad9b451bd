"""Settings read from ``.env`` overlaid by the environment (environment wins).

Every other part gets its configuration from :func:`load`; nothing else reads ``os.environ``
for these names.
"""

from __future__ import annotations

import os
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
    """The ``.env`` values (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


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
