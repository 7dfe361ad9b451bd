"""Typed settings, read from the environment and ``.env`` (environment wins).

Every other part gets its configuration from :func:`load`; nothing else reads ``os.environ``
for these names. Secrets are masked in ``repr()``/``str()``.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dotenv import dotenv_values

from . import ports
from .errors import SettingsError

# Demo credentials of the embedded mode: the emulator accepts exactly these when no
# PLAID_CLIENT_ID / PLAID_SECRET are configured. They open nothing outside this machine.
DEMO_CLIENT_ID = "kore0demo0client0000000a"
DEMO_SECRET = "kore0demo0secret000000000000b1"  # noqa: S105 (public demo value)  # nosec B105

DEFAULT_PRODUCTS = ("auth", "transactions", "identity", "investments", "liabilities")
DEFAULT_KORE_CALLBACK = "https://idp.kore.ai/workflows/callback/"
KNOWN_KORE_CALLBACKS = (
    "https://idp.kore.ai/workflows/callback/",
    "https://idp.kore.com/workflows/callback",
    "https://jp-bots-idp.kore.ai/workflows/callback",
    "https://de-bots-idp.kore.ai/workflows/callback",
)
PLAID_ENVIRONMENTS = ("sandbox", "production")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SECRET_NAMES = frozenset({"PLAID_SECRET", "NGROK_AUTHTOKEN", "KORE_PLAID_BOARD_TOKEN"})

_ENV_NAMES = {  # variables' names, no secrets  # nosec B105
    "plaid_client_id": "PLAID_CLIENT_ID",
    "plaid_secret": "PLAID_SECRET",
    "plaid_env": "PLAID_ENV",
    "plaid_products": "PLAID_PRODUCTS",
    "plaid_country_codes": "PLAID_COUNTRY_CODES",
    "plaid_redirect_uri": "PLAID_REDIRECT_URI",
    "app_port": "APP_PORT",
    "plaid_api_url": "PLAID_API_URL",
    "kore_callback_urls": "KORE_CALLBACK_URLS",
    "link_redirect_uri": "LINK_REDIRECT_URI",
    "link_mode": "LINK_MODE",
    "bridge_public_url": "BRIDGE_PUBLIC_URL",
    "bridge_sessions_per_address": "BRIDGE_SESSIONS_PER_ADDRESS",
    "bridge_sessions_per_minute": "BRIDGE_SESSIONS_PER_MINUTE",
    "bridge_db": "BRIDGE_DB",
    "forwarded_allow_ips": "FORWARDED_ALLOW_IPS",
    "ngrok_authtoken": "NGROK_AUTHTOKEN",
    "ngrok_domain": "NGROK_DOMAIN",
    "ngrok_region": "NGROK_REGION",
    "simulator_port": "KORE_SIMULATOR_PORT",
    "mode_choice": "KORE_PLAID_MODE",
    "board_url": "KORE_PLAID_BOARD_URL",
    "board_token": "KORE_PLAID_BOARD_TOKEN",
}
AUTO_PORT_NAMES = ("APP_PORT", "KORE_SIMULATOR_PORT")
MODE_CHOICES = ("auto", "embedded", "live")
LINK_MODES = ("page", "hosted")  # the bridge's own Link page, or Plaid's Hosted Link
# every variable the settings read (besides the paths and the trainee's name)
ENV_NAMES = (*_ENV_NAMES.values(), "KORE_PLAID_TRAINEE")


def mask(value: str | None) -> str:
    """Show a secret as ``abcd…wxyz`` (short values become ``…``); empty stays empty."""
    if not value:
        return ""
    if len(value) < 12:
        return "…"
    return f"{value[:4]}…{value[-4:]}"


def mask_url_password(url: str) -> str:
    """A URL with its password masked: ``postgresql://user:…@host:port/db``."""
    return re.sub(r"^([a-z]+://[^:/@]*):[^@]*@", r"\1:…@", url)


def ngrok_domain_url(domain: str) -> str:
    """``https://<domain>`` for NGROK_DOMAIN, written with or without a scheme."""
    return "https://" + re.sub(r"^\w+://", "", domain.strip()).rstrip("/")


def project_root() -> Path:
    """The checkout that holds this package, else the current directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
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
    """KORE_PLAID_BOARD_TOKEN from the environment (the board's own command reads it here)."""
    environ = os.environ if environ is None else environ
    return (environ.get("KORE_PLAID_BOARD_TOKEN") or "").strip()


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the runbook is configured with. Build it with :func:`load`."""

    plaid_client_id: str = field(default="", repr=False)
    plaid_secret: str = field(default="", repr=False)
    plaid_env: str = "sandbox"
    plaid_products: tuple[str, ...] = DEFAULT_PRODUCTS
    plaid_country_codes: tuple[str, ...] = ("US",)
    plaid_redirect_uri: str = DEFAULT_KORE_CALLBACK
    app_port: int = 8000
    plaid_api_url: str | None = None
    kore_callback_urls: tuple[str, ...] = ()
    link_redirect_uri: str | None = None
    link_mode: str = "page"
    bridge_public_url: str | None = None
    bridge_sessions_per_address: int = 30  # new authorization sessions a minute (0: no limit)
    bridge_sessions_per_minute: int = 600
    bridge_db: str | None = field(default=None, repr=False)
    forwarded_allow_ips: tuple[str, ...] = ()
    ngrok_authtoken: str = field(default="", repr=False)
    ngrok_domain: str | None = None
    ngrok_region: str | None = None
    simulator_port: int = 8765
    auto_ports: tuple[str, ...] = ()  # the ports above that were chosen, not set
    mode_choice: str = "auto"
    board_url: str | None = None
    board_token: str = field(default="", repr=False)
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

    @property
    def registered_callbacks(self) -> tuple[str, ...]:
        """Callback URLs the bridge may redirect to (exact strings): Kore's, then the
        simulator's loopback one, which only this machine can receive."""
        seen: list[str] = []
        for url in (self.plaid_redirect_uri, *self.kore_callback_urls, self.simulator_callback):
            if url and url not in seen:
                seen.append(url)
        return tuple(seen)

    @property
    def bridge_db_url(self) -> str | None:
        """The PostgreSQL URL when BRIDGE_DB is one (the store is then shared by replicas)."""
        if self.bridge_db and self.bridge_db.startswith(POSTGRES_SCHEMES):
            return self.bridge_db
        return None

    @property
    def bridge_db_password(self) -> str:
        """The password inside a PostgreSQL BRIDGE_DB (a secret: never shown)."""
        url = self.bridge_db_url
        if not url:
            return ""
        match = re.match(r"^[a-z]+://[^:/@]*:([^@]*)@", url)
        return match.group(1) if match else ""

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
        """The store's location with any password masked."""
        url = self.bridge_db_url
        return str(self.bridge_db_path) if url is None else mask_url_password(url)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret long enough to mask (outputs and messages hide these)."""
        values = (
            self.plaid_secret,
            self.ngrok_authtoken,
            self.bridge_db_password,
            self.board_token,
        )
        return tuple(v for v in values if v and len(v) >= 8)

    def __str__(self) -> str:
        return self.__repr__()

    def __repr__(self) -> str:
        shown = [
            f"mode={self.mode!r}",
            f"plaid_client_id={mask(self.plaid_client_id)!r}",
            f"plaid_secret={mask(self.plaid_secret)!r}",
            f"plaid_env={self.plaid_env!r}",
            f"plaid_products={','.join(self.plaid_products)!r}",
            f"plaid_redirect_uri={self.plaid_redirect_uri!r}",
            f"app_port={self.app_port}",
            f"plaid_api_url={self.plaid_api_url!r}",
            f"ngrok_authtoken={mask(self.ngrok_authtoken)!r}",
            f"trainee={self.trainee!r}",
            f"board_url={self.board_url!r}",
            f"board_token={mask(self.board_token)!r}",
            f"home={str(self.home)!r}",
        ]
        return f"Settings({', '.join(shown)})"

    def with_values(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated like :func:`load`)."""
        updated = replace(self, **changes)
        _validate(updated)
        return updated

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, for starting a service process."""
        env: dict[str, str] = {
            "KORE_PLAID_HOME": str(self.home),
            "KORE_PLAID_ENV_FILE": str(self.env_file),
        }
        for f in fields(self):
            name = _ENV_NAMES.get(f.name)
            value = getattr(self, f.name)
            if name is None or value in (None, "", ()):
                continue
            env[name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env


def _validate(s: Settings) -> None:
    if s.plaid_env == "development":
        raise SettingsError(
            "PLAID_ENV=development: Plaid decommissioned its Development environment on "
            "2024-06-20 (and plaid-python removed it in 24.0.0).",
            fix="Set PLAID_ENV=sandbox for test data (free, user_good / pass_good) or "
            "PLAID_ENV=production for real banks, and use that environment's secret.",
            step="4.iv",
        )
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
    if s.link_mode not in LINK_MODES:
        raise SettingsError(
            f"LINK_MODE={s.link_mode!r} is not a Link mode.",
            fix="Set LINK_MODE to page (the default: the bridge's own page opens Plaid Link) "
            "or hosted (the browser goes to Plaid's Hosted Link), or unset it.",
        )
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
    for name, port in (("APP_PORT", s.app_port), ("KORE_SIMULATOR_PORT", s.simulator_port)):
        if not 0 < port < 65536:
            raise SettingsError(
                f"{name}={port} is not a TCP port.", fix="Use a port from 1024 to 65535."
            )
    for url in (s.plaid_redirect_uri, *s.kore_callback_urls):
        if not re.match(r"^https?://[^\s/]+", url or ""):
            raise SettingsError(
                f"Callback URL {url!r} is not an http(s) URL.",
                fix="Copy the Callback URL exactly as Kore's authorization profile shows it.",
                step="4.v-vi",
            )
    if s.bridge_db and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", s.bridge_db):
        if not s.bridge_db.startswith(POSTGRES_SCHEMES):
            scheme = s.bridge_db.split("://", 1)[0]
            raise SettingsError(
                f"BRIDGE_DB uses {scheme}://, which the bridge cannot store in.",
                fix="Set BRIDGE_DB to postgresql://user:password@host:port/database, to a "
                "file path (SQLite), or unset it for $KORE_PLAID_HOME/bridge.sqlite3.",
            )
    if s.board_url and not re.match(r"^https?://[^\s/]+", s.board_url):
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
    if s.plaid_api_url and not re.match(r"^https?://[^\s/]+", s.plaid_api_url):
        raise SettingsError(
            f"PLAID_API_URL={s.plaid_api_url!r} is not an http(s) URL.",
            fix="Unset PLAID_API_URL to use Plaid itself, or point it at the emulator.",
        )


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

    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    home = home_path(environ)
    auto_ports = tuple(name for name in AUTO_PORT_NAMES if not get(name))
    app_port, simulator_port = (
        ports.assigned(home, name) if name in auto_ports else _port(get(name), name)
        for name in AUTO_PORT_NAMES
    )
    products = _split(get("PLAID_PRODUCTS")) or DEFAULT_PRODUCTS
    settings = Settings(
        plaid_client_id=get("PLAID_CLIENT_ID"),
        plaid_secret=get("PLAID_SECRET"),
        plaid_env=get("PLAID_ENV", "sandbox").lower() or "sandbox",
        plaid_products=tuple(p.lower() for p in products),
        plaid_country_codes=tuple(c.upper() for c in _split(get("PLAID_COUNTRY_CODES", "US"))),
        plaid_redirect_uri=get("PLAID_REDIRECT_URI") or DEFAULT_KORE_CALLBACK,
        app_port=app_port,
        plaid_api_url=get("PLAID_API_URL").rstrip("/") or None,
        kore_callback_urls=_split(get("KORE_CALLBACK_URLS")),
        link_redirect_uri=get("LINK_REDIRECT_URI") or None,
        link_mode=get("LINK_MODE", "page").lower() or "page",
        bridge_public_url=get("BRIDGE_PUBLIC_URL").rstrip("/") or None,
        bridge_sessions_per_address=_count(get, "BRIDGE_SESSIONS_PER_ADDRESS", 30),
        bridge_sessions_per_minute=_count(get, "BRIDGE_SESSIONS_PER_MINUTE", 600),
        bridge_db=get("BRIDGE_DB") or None,
        forwarded_allow_ips=_split(get("FORWARDED_ALLOW_IPS")),
        ngrok_authtoken=get("NGROK_AUTHTOKEN"),
        ngrok_domain=get("NGROK_DOMAIN") or None,
        ngrok_region=get("NGROK_REGION") or None,
        simulator_port=simulator_port,
        auto_ports=auto_ports,
        mode_choice=get("KORE_PLAID_MODE", "auto").lower() or "auto",
        board_url=get("KORE_PLAID_BOARD_URL").rstrip("/") or None,
        board_token=get("KORE_PLAID_BOARD_TOKEN"),
        trainee=trainee_name(values),
        home=home,
        env_file=path,
    )
    if validate:
        _validate(settings)
    return settings


def load_as_is() -> Settings:
    """The settings even when one is wrong (unchecked), for showing progress and cleaning up;
    the defaults when even the ports cannot be read. Never raises."""
    try:
        return load(validate=False)
    except SettingsError:
        return Settings()


def _port(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(
            f"{name}={value!r} is not a number.", fix=f"Set {name} to a free TCP port."
        ) from None


def _count(get: Callable[[str], str], name: str, default: int) -> int:
    value = get(name)
    if not value:
        return default
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise SettingsError(
            f"{name}={value!r} is not a number of sessions a minute.",
            fix=f"Set {name} to a whole number (0 turns the limit off), or unset it.",
        )
    return count


def save(updates: Mapping[str, str | None], env_file: Path | None = None) -> Path:
    """Write ``updates`` (env names -> value; None removes) into ``.env``, mode 0600.

    Lines for other names, comments and blank lines are kept as they were. The new content
    goes to a fresh private file (never an existing file or a symlink planted in the folder),
    which then replaces ``.env``. Raises :class:`SettingsError` when the folder is not writable.
    """
    path = env_file or env_file_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text().splitlines() if path.is_file() else []
    except OSError as exc:
        raise _unwritable(path, exc) from None
    pending = dict(updates)
    out: list[str] = []
    for line in lines:
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
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
