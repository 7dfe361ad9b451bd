"""The runbook's settings: each field declared once, with the variable it is read from.

Build them with :func:`kore_plaid_nb.settings.load`. Secrets are masked in ``repr()``/``str()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..masking import mask
from .database_url import database_location, database_secrets
from .paths import env_file_path, home_path, trainee_name
from .plaid_vocabulary import COUNTRY_CODES, PRODUCTS
from .variables import (
    Var,
    as_text,
    base_url,
    count,
    days,
    declared,
    flag,
    lowered,
    lowered_list,
    port,
    split,
    text,
    uppered_list,
    var,
)

# Demo credentials of the embedded mode: the emulator accepts exactly these when no
# PLAID_CLIENT_ID / PLAID_SECRET are configured. They open nothing outside this machine.
DEMO_CLIENT_ID = "kore0demo0client0000000a"
DEMO_SECRET = "kore0demo0secret000000000000b1"  # noqa: S105 (public demo value)  # nosec B105

DEFAULT_PRODUCTS = ("auth", "transactions", "identity", "investments", "liabilities")
DEFAULT_KORE_CALLBACK = "https://idp.kore.ai/workflows/callback/"
# The Callback Links Kore's docs show (OAuth v2 page and integration guides), by region/host
KORE_CALLBACK_REGIONS = {
    "https://idp.kore.ai/workflows/callback/": "kore.ai",
    "https://idp.kore.com/workflows/callback": "kore.com",
    "https://jp-bots-idp.kore.ai/workflows/callback": "Japan",
    "https://de-bots-idp.kore.ai/workflows/callback": "Germany",
}
KNOWN_KORE_CALLBACKS = tuple(KORE_CALLBACK_REGIONS)
PLAID_ENVIRONMENTS = ("sandbox", "production")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MODE_CHOICES = ("auto", "embedded", "live")
LINK_MODES = ("page", "hosted")  # the bridge's own Link page, or Plaid's Hosted Link
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
METRICS_TOKEN_MIN_LENGTH = 16
METRICS_TOKEN_PATTERN = rf"[A-Za-z0-9._~+/=-]{{{METRICS_TOKEN_MIN_LENGTH},}}"


def postgres_password(bridge_db: str | None) -> str:
    """The password inside BRIDGE_DB when it is a PostgreSQL URL (a secret: never shown)."""
    if bridge_db and bridge_db.startswith(POSTGRES_SCHEMES):
        return next(iter(database_secrets(bridge_db)), "")
    return ""


def _masked_url(url: str | None) -> str | None:
    """A URL as only ``host:port/database``; a file path as it is."""
    return database_location(url) if url and "://" in url else url


@dataclass(frozen=True)
class Settings:
    """Everything the runbook is configured with. Build it with :func:`load`."""

    plaid_client_id: str = var("PLAID_CLIENT_ID", text, "", show=mask)
    plaid_secret: str = var("PLAID_SECRET", text, "", secret=True)
    plaid_env: str = var("PLAID_ENV", lowered, "sandbox")
    plaid_products: tuple[str, ...] = var("PLAID_PRODUCTS", lowered_list, DEFAULT_PRODUCTS)
    plaid_country_codes: tuple[str, ...] = var("PLAID_COUNTRY_CODES", uppered_list, ("US",))
    plaid_redirect_uri: str = var("PLAID_REDIRECT_URI", text, DEFAULT_KORE_CALLBACK)
    app_port: int = var("APP_PORT", port, 8000, free_port=True)
    plaid_api_url: str | None = var("PLAID_API_URL", base_url, None)
    kore_callback_urls: tuple[str, ...] = var("KORE_CALLBACK_URLS", split, ())
    link_redirect_uri: str | None = var("LINK_REDIRECT_URI", text, None)
    link_mode: str = var("LINK_MODE", lowered, "page")
    bridge_public_url: str | None = var("BRIDGE_PUBLIC_URL", base_url, None)
    # new authorization sessions a minute (0: no limit)
    bridge_sessions_per_address: int = var("BRIDGE_SESSIONS_PER_ADDRESS", count, 30)
    bridge_sessions_per_minute: int = var("BRIDGE_SESSIONS_PER_MINUTE", count, 600)
    bridge_db: str | None = var(
        "BRIDGE_DB", text, None, secret_part=postgres_password, show=_masked_url
    )
    # the store's encryption key (32 bytes, base64) and older ones that only decrypt
    bridge_encryption_key: str = var("BRIDGE_ENCRYPTION_KEY", text, "", secret=True)
    bridge_encryption_keys: tuple[str, ...] = var("BRIDGE_ENCRYPTION_KEYS", split, (), secret=True)
    bridge_audit_days: int = var("BRIDGE_AUDIT_DAYS", days, 90)  # audit trail kept this long
    forwarded_allow_ips: tuple[str, ...] = var("FORWARDED_ALLOW_IPS", split, ())
    # /metrics: its own listener (unset: none), or the main port with this bearer token
    bridge_metrics_port: int | None = var("BRIDGE_METRICS_PORT", port, None)
    bridge_metrics_host: str = var("BRIDGE_METRICS_HOST", text, "127.0.0.1")
    bridge_metrics_token: str = var("BRIDGE_METRICS_TOKEN", text, "", secret=True)
    bridge_log_format: str = var("BRIDGE_LOG_FORMAT", lowered, "text")
    bridge_log_level: str | None = var("BRIDGE_LOG_LEVEL", lowered, None)  # see log_level
    # 1: a live bridge also accepts the simulator's loopback callback (embedded: always);
    # None: unset (refused; the runbook's own background bridge: accepted, see ensure_bridge)
    bridge_allow_loopback_callback: int | None = var("BRIDGE_ALLOW_LOOPBACK_CALLBACK", flag, None)
    ngrok_authtoken: str = var("NGROK_AUTHTOKEN", text, "", secret=True)
    ngrok_domain: str | None = var("NGROK_DOMAIN", text, None)
    ngrok_region: str | None = var("NGROK_REGION", text, None)
    simulator_port: int = var("KORE_SIMULATOR_PORT", port, 8765, free_port=True)
    auto_ports: tuple[str, ...] = ()  # the ports above that were chosen, not set
    mode_choice: str = var("KORE_PLAID_MODE", lowered, "auto")
    board_url: str | None = var("KORE_PLAID_BOARD_URL", base_url, None)
    board_token: str = var("KORE_PLAID_BOARD_TOKEN", text, "", secret=True)  # the trainer's
    board_trainee_token: str = var("KORE_PLAID_BOARD_TRAINEE_TOKEN", text, "", secret=True)
    trainee: str = field(default_factory=trainee_name)
    home: Path = field(default_factory=home_path)
    env_file: Path = field(default_factory=env_file_path)

    @property
    def embedded(self) -> bool:
        """True when the emulator plays Plaid: no Plaid keys are configured (or
        KORE_PLAID_MODE=embedded, which makes the emulator accept the configured keys)."""
        if self.mode_choice != "auto":
            return self.mode_choice == "embedded"
        return not (self.plaid_client_id and self.plaid_secret) or self.uses_demo_keys

    @property
    def uses_demo_keys(self) -> bool:
        return self.plaid_client_id == DEMO_CLIENT_ID and self.plaid_secret == DEMO_SECRET

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded else "live"

    @property
    def client_id(self) -> str:
        """The Plaid client id to use: the configured one, else the demo one."""
        return self.plaid_client_id or DEMO_CLIENT_ID

    @property
    def secret(self) -> str:
        """The Plaid secret to use: the configured one, else the demo one."""
        return self.plaid_secret or DEMO_SECRET

    @property
    def simulator_callback(self) -> str:
        """The loopback callback of the Kore simulator (``kore-plaid verify``)."""
        return f"http://127.0.0.1:{self.simulator_port}/workflows/callback"

    @cached_property  # read by every authorization and token request
    def registered_callbacks(self) -> tuple[str, ...]:
        """Callback URLs the bridge may redirect to (exact strings): Kore's, then the
        simulator's loopback one, which only this machine can receive."""
        seen: list[str] = []
        for url in (self.plaid_redirect_uri, *self.kore_callback_urls, self.simulator_callback):
            if url and url not in seen:
                seen.append(url)
        return tuple(seen)

    @property
    def log_level(self) -> str:
        """The bridge's log level: BRIDGE_LOG_LEVEL, else info for JSON logs (one line per
        request is their point) and warning for text ones."""
        if self.bridge_log_level:
            return self.bridge_log_level
        return "info" if self.bridge_log_format == "json" else "warning"

    @property
    def bridge_db_url(self) -> str | None:
        """The PostgreSQL URL when BRIDGE_DB is one (the store is then shared by replicas)."""
        if self.bridge_db and self.bridge_db.startswith(POSTGRES_SCHEMES):
            return self.bridge_db
        return None

    @property
    def bridge_db_password(self) -> str:
        """The password inside a PostgreSQL BRIDGE_DB (a secret: never shown)."""
        return postgres_password(self.bridge_db)

    @property
    def bridge_db_path(self) -> Path:
        """The SQLite file of the store (when BRIDGE_DB is not a PostgreSQL URL)."""
        if self.bridge_db and not self.bridge_db_url:
            return Path(self.bridge_db).expanduser()
        return self.home / "bridge.sqlite3"

    @property
    def bridge_store(self) -> str | Path:
        """What :func:`kore_plaid_nb.bridge.store.open_store` opens: URL or file."""
        return self.bridge_db_url or self.bridge_db_path

    @property
    def bridge_store_shown(self) -> str:
        """The store's location: the SQLite file, or only ``host:port/database``."""
        url = self.bridge_db_url
        return str(self.bridge_db_path) if url is None else database_location(url)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret long enough to mask (outputs and messages hide these):
        the secret fields' values and the secrets inside others (BRIDGE_DB's password)."""
        values = [spec.secret_in(getattr(self, name)) for name, spec in VARS.items()]
        values += self.bridge_encryption_keys  # each older key on its own
        values += database_secrets(self.bridge_db or "")  # as written and decoded
        return tuple(dict.fromkeys(v for v in values if v and len(v) >= 8))

    def __str__(self) -> str:
        return self.__repr__()

    def __repr__(self) -> str:
        shown = [f"mode={self.mode!r}"]
        for item in fields(self):
            value = getattr(self, item.name)
            spec = VARS.get(item.name)
            if spec is not None:
                shown.append(f"{item.name}={spec.shown(value)}")
            else:
                shown.append(f"{item.name}={_plain(value)}")
        return f"Settings({', '.join(shown)})"

    def with_values(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated like :func:`load`)."""
        updated = replace(self, **changes)
        validate(updated)
        return updated

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, for starting a service process."""
        env: dict[str, str] = {
            "KORE_PLAID_HOME": str(self.home),
            "KORE_PLAID_ENV_FILE": str(self.env_file),
        }
        for name, spec in VARS.items():
            value = getattr(self, name)
            if value not in (None, "", ()):
                env[spec.name] = as_text(value)
        return env


def _plain(value: object) -> str:
    return repr(str(value) if isinstance(value, Path) else value)


# field name -> its variable, in declaration order
VARS: dict[str, Var[Any]] = {item.name: spec for item, spec in declared(Settings)}
# the environment variables the settings read (the paths' and the trainee's name besides)
ENV_NAMES = (*(spec.name for spec in VARS.values()), "KORE_PLAID_TRAINEE")
AUTO_PORT_NAMES = tuple(spec.name for spec in VARS.values() if spec.free_port)


# -- validation: each check raises SettingsError naming the variable and the fix --

_HTTP_URL = r"^https?://[^\s/]+"


def _plaid_environment(s: Settings) -> None:
    if s.plaid_env == "development":
        raise SettingsError(
            "PLAID_ENV=development: Plaid decommissioned its Development environment on "
            "2024-06-20 (and plaid-python removed it in 24.0.0).",
            fix="Set PLAID_ENV=sandbox for test data (free, user_good / pass_good) or "
            "PLAID_ENV=production for real banks, and use that environment's secret.",
            step="4.iv",
        )


def _mode(s: Settings) -> None:
    if s.mode_choice not in MODE_CHOICES:
        raise SettingsError(
            f"KORE_PLAID_MODE={s.mode_choice!r} is not a mode.",
            fix="Set KORE_PLAID_MODE to auto (the default), embedded or live.",
        )
    if s.mode_choice == "live" and not (s.plaid_client_id and s.plaid_secret):
        raise SettingsError(
            "KORE_PLAID_MODE=live needs Plaid keys, and none are configured.",
            fix="Set PLAID_CLIENT_ID and PLAID_SECRET (notebook 01_plaid_keys), or unset "
            "KORE_PLAID_MODE to use the embedded mode.",
            step="4.iii-iv",
        )


def _embedded_is_sandbox(s: Settings) -> None:
    if s.embedded and s.plaid_env != "sandbox" and s.plaid_env in PLAID_ENVIRONMENTS:
        raise SettingsError(
            f"PLAID_ENV={s.plaid_env} in embedded mode: the emulator plays Plaid's Sandbox only, "
            f"and {s.plaid_env} needs your own Plaid keys for it.",
            fix="Set PLAID_ENV=sandbox (or unset it), or save your Plaid keys for "
            f"{s.plaid_env} in notebook 01.",
            step="4.iv",
        )


def _link_mode(s: Settings) -> None:
    if s.link_mode not in LINK_MODES:
        raise SettingsError(
            f"LINK_MODE={s.link_mode!r} is not a Link mode.",
            fix="Set LINK_MODE to page (the default: the bridge's own page opens Plaid Link) "
            "or hosted (the browser goes to Plaid's Hosted Link), or unset it.",
        )


def _plaid_keys(s: Settings) -> None:
    if s.plaid_env not in PLAID_ENVIRONMENTS:
        raise SettingsError(
            f"PLAID_ENV={s.plaid_env!r} is not a Plaid environment.",
            fix="Set PLAID_ENV to 'sandbox' or 'production'.",
            step="4.iv",
        )
    if bool(s.plaid_client_id) != bool(s.plaid_secret):
        missing = "PLAID_SECRET" if s.plaid_client_id else "PLAID_CLIENT_ID"
        raise SettingsError(
            f"{missing} is not set, but its partner is.",
            fix="Copy both the client_id and the secret from dashboard.plaid.com > "
            "Developers > Keys, or unset both to use the embedded mode.",
            step="4.iii-iv",
        )


def check_port(name: str, number: int, or_else: str = "") -> None:
    """``number`` is a TCP port (1 to 65535), else a :class:`SettingsError` naming ``name``;
    ``or_else`` ends the fix (e.g. ", or unset it")."""
    if not 0 < number < 65536:
        raise SettingsError(
            f"{name}={number} is not a TCP port (1 to 65535).",
            fix=f"Set {name} to a free port from 1 to 65535 (1024 or above unless the bridge "
            f"may bind privileged ports){or_else}.",
        )


def _ports(s: Settings) -> None:
    for name, number in (("APP_PORT", s.app_port), ("KORE_SIMULATOR_PORT", s.simulator_port)):
        check_port(name, number)


def _callbacks(s: Settings) -> None:
    for url in (s.plaid_redirect_uri, *s.kore_callback_urls):
        if not re.match(_HTTP_URL, url or ""):
            raise SettingsError(
                f"Callback Link {url!r} is not an http(s) URL.",
                fix="Copy the Callback Link exactly as Kore's authorization profile shows it.",
                step="4.v-vi",
            )


def _bridge_db(s: Settings) -> None:
    if s.bridge_db and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", s.bridge_db):
        if not s.bridge_db.startswith(POSTGRES_SCHEMES):
            scheme = s.bridge_db.split("://", 1)[0]
            raise SettingsError(
                f"BRIDGE_DB uses {scheme}://, which the bridge cannot store in.",
                fix="Set BRIDGE_DB to postgresql://user:password@host:port/database, to a "
                "file path (SQLite), or unset it for $KORE_PLAID_HOME/bridge.sqlite3.",
            )


def _service_urls(s: Settings) -> None:
    if s.board_url and not re.match(_HTTP_URL, s.board_url):
        raise SettingsError(
            f"KORE_PLAID_BOARD_URL={s.board_url!r} is not an http(s) URL.",
            fix="Copy the board's address from the trainer (e.g. http://host:8800), or unset "
            "KORE_PLAID_BOARD_URL to keep progress on this machine only.",
        )
    if s.bridge_public_url and not re.match(r"^https?://[^\s/?#@]+$", s.bridge_public_url):
        raise SettingsError(
            f"BRIDGE_PUBLIC_URL={s.bridge_public_url!r} is not an http(s) base URL.",
            fix="Set BRIDGE_PUBLIC_URL to the address browsers use for the bridge, e.g. "
            "https://bridge.example.com (no path), or unset it.",
        )
    if s.plaid_api_url and not re.match(_HTTP_URL, s.plaid_api_url):
        raise SettingsError(
            f"PLAID_API_URL={s.plaid_api_url!r} is not an http(s) URL.",
            fix="Unset PLAID_API_URL to use Plaid itself, or point it at the emulator.",
        )


def _metrics(s: Settings) -> None:
    if s.bridge_metrics_port is not None:
        check_port("BRIDGE_METRICS_PORT", s.bridge_metrics_port, ", e.g. 9464, or unset it")
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]_-]+", s.bridge_metrics_host):
        raise SettingsError(
            f"BRIDGE_METRICS_HOST={s.bridge_metrics_host!r} is not an interface address.",
            fix="Set BRIDGE_METRICS_HOST to an address of this machine (127.0.0.1, the "
            "default, or 0.0.0.0 for every interface), or unset it.",
        )
    token = s.bridge_metrics_token
    if token and not re.fullmatch(METRICS_TOKEN_PATTERN, token):
        raise SettingsError(
            f"BRIDGE_METRICS_TOKEN is not a usable bearer token ({len(token)} characters).",
            fix=f"Set BRIDGE_METRICS_TOKEN to a random value of {METRICS_TOKEN_MIN_LENGTH} or "
            "more letters, digits or -._~+/= (no spaces), e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it (no "
            "/metrics on the main port).",
        )


def _logs(s: Settings) -> None:
    if s.bridge_log_format not in LOG_FORMATS:
        raise SettingsError(
            f"BRIDGE_LOG_FORMAT={s.bridge_log_format!r} is not a log format.",
            fix="Set BRIDGE_LOG_FORMAT to text (the default: one readable line per event) or "
            "json (one JSON object per line), or unset it.",
        )
    if s.bridge_log_level is not None and s.bridge_log_level not in LOG_LEVELS:
        raise SettingsError(
            f"BRIDGE_LOG_LEVEL={s.bridge_log_level!r} is not a log level.",
            fix="Set BRIDGE_LOG_LEVEL to debug, info, warning or error, or unset it (warning "
            "for text logs, info for json).",
        )


def _plaid_vocabulary(s: Settings) -> None:
    for name, values, known, example in (
        ("PLAID_PRODUCTS", s.plaid_products, PRODUCTS, ",".join(DEFAULT_PRODUCTS)),
        ("PLAID_COUNTRY_CODES", s.plaid_country_codes, COUNTRY_CODES, "US"),
    ):
        unknown = [value for value in values if value not in known]
        if unknown or not values:
            what = ", ".join(unknown) or "nothing"
            raise SettingsError(
                f"{name}={','.join(values)} names what Plaid does not know: {what}.",
                fix=f"Set {name} in .env to values from Plaid's list (e.g. {name}={example}), "
                "or unset it for the default.",
                step="4.x" if name == "PLAID_PRODUCTS" else None,
            )


# in the order a trainee meets them (the first failing check is the one shown)
CHECKS: tuple[Callable[[Settings], None], ...] = (
    _plaid_environment,
    _mode,
    _link_mode,
    _plaid_keys,
    _embedded_is_sandbox,
    _plaid_vocabulary,
    _ports,
    _callbacks,
    _bridge_db,
    _service_urls,
    _metrics,
    _logs,
)


def validate(settings: Settings) -> None:
    """Raise :class:`SettingsError` for the first value that cannot work."""
    for check in CHECKS:
        check(settings)
