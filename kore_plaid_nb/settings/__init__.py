"""Typed settings, read from the environment and ``.env`` (environment wins).

Every other part gets its configuration from :func:`load`; nothing else reads ``os.environ``
for these names. Secrets are masked in ``repr()``/``str()``.

- :mod:`.variables`: how a field is declared (variable name, parser, default, secrecy);
- :mod:`.model`: :class:`Settings`, each field declared once, and its validation;
- :mod:`.loader`: :func:`load` from ``.env`` and the environment;
- :mod:`.env_writer`: :func:`save` into ``.env`` (0600);
- :mod:`.paths`: the project, state folder, ``.env`` and trainee;
- :mod:`.database_url`: a PostgreSQL URL shown as ``host:port/database`` only.
"""

from __future__ import annotations

from ..errors import SettingsError
from ..masking import mask
from .database_url import database_location, database_secrets
from .env_writer import embedded_mode_hint, save, save_plaid_keys
from .loader import load, load_as_is, read_env_file
from .model import (
    AUTO_PORT_NAMES,
    DEFAULT_KORE_CALLBACK,
    DEFAULT_PRODUCTS,
    DEMO_CLIENT_ID,
    DEMO_SECRET,
    ENV_NAMES,
    KNOWN_KORE_CALLBACKS,
    LINK_MODES,
    MODE_CHOICES,
    PLAID_ENVIRONMENTS,
    POSTGRES_SCHEMES,
    Settings,
)
from .paths import board_token, env_file_path, home_path, project_root, trainee_name
from .variables import ngrok_domain_url

__all__ = [
    "AUTO_PORT_NAMES",
    "DEFAULT_KORE_CALLBACK",
    "DEFAULT_PRODUCTS",
    "DEMO_CLIENT_ID",
    "DEMO_SECRET",
    "ENV_NAMES",
    "KNOWN_KORE_CALLBACKS",
    "LINK_MODES",
    "MODE_CHOICES",
    "PLAID_ENVIRONMENTS",
    "POSTGRES_SCHEMES",
    "Settings",
    "SettingsError",
    "board_token",
    "database_location",
    "database_secrets",
    "embedded_mode_hint",
    "env_file_path",
    "home_path",
    "load",
    "load_as_is",
    "mask",
    "ngrok_domain_url",
    "project_root",
    "read_env_file",
    "save",
    "save_plaid_keys",
    "trainee_name",
]
