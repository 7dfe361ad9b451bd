"""The running stack, in order: emulator (embedded mode) -> bridge -> tunnel.

Each ``ensure_*`` is idempotent and returns what runs, so any notebook or command can start
what it needs without knowing what ran before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import bridge, emulator, ports, progress, services, tunnel
from .errors import RunbookError, ServiceError
from .settings import Settings

EMULATOR = "emulator"


@dataclass(frozen=True)
class Stack:
    settings: Settings  # with PLAID_API_URL pointing at the emulator in embedded mode
    bridge_url: str
    public_url: str
    public_is_local: bool


def plaid_settings(settings: Settings, start: bool = True) -> Settings:
    """The settings Plaid calls use: in embedded mode, pointed at the running emulator
    (started when ``start``)."""
    if not settings.embedded or settings.plaid_api_url:
        return settings
    record = services.read(settings.home, EMULATOR)
    if record is not None and start and not emulator.sync_dashboard(record.url, settings):
        record = emulator.ensure_emulator(settings)  # gone, or of an older version: restarted
    if record is None:
        if not start:
            raise ServiceError(
                "The embedded Plaid emulator is not running.",
                fix="Start it with `kore-plaid sandbox`, or run notebook 03_bridge.",
            )
        record = emulator.ensure_emulator(settings)
    return settings.with_values(plaid_api_url=record.url)


def ensure_bridge(settings: Settings) -> tuple[Settings, services.ServiceRecord]:
    """Emulator (embedded mode) and bridge running; returns the Plaid settings and the
    bridge's record."""
    effective = plaid_settings(settings)
    if (
        "APP_PORT" in settings.auto_ports
        and services.read(settings.home, bridge.SERVICE_NAME) is None
        and services.port_in_use("127.0.0.1", effective.app_port)
    ):  # another program took the port chosen for this trainee: choose again
        effective = effective.with_values(app_port=ports.reassign(settings.home, "APP_PORT"))
    return effective, bridge.ensure_bridge(effective)


def ensure_stack(settings: Settings, with_tunnel: bool = True) -> Stack:
    """Emulator, bridge and (when ``with_tunnel``) the tunnel to the bridge, all running."""
    effective, record = ensure_bridge(settings)
    if not with_tunnel:
        return Stack(effective, record.url, record.url, True)
    info = tunnel.open_tunnel(effective, effective.app_port)
    return Stack(effective, record.url, info.public_url.rstrip("/"), info.local)


def teardown(settings: Settings, remove_items: bool = True) -> list[str]:
    """Close the tunnel, remove the bridge's Items at Plaid, stop every service.

    Returns what was done, one line each.
    """
    done: list[str] = []
    done.extend(f"closed {what}" for what in tunnel.close_all(settings))
    if remove_items:
        emulator_up = settings.embedded and services.read(settings.home, EMULATOR) is not None
        if not settings.embedded or emulator_up:
            done.append(_remove_items(settings))
    done.extend(f"stopped {name}" for name in services.stop_all(settings.home))
    return done


def _remove_items(settings: Settings) -> str:
    """Remove the bridge's Items at Plaid; a store or Plaid that cannot be reached is said
    (with its fix) and does not keep the services from stopping."""
    try:
        removed = bridge.remove_items(plaid_settings(settings, start=False))
    except RunbookError as exc:
        return (
            f"Items NOT removed at Plaid: {exc.message} What to do: {exc.fix} Then run this "
            "teardown again (the Items stay at Plaid until then)."
        )
    return f"removed {removed} Item(s) at Plaid"


def reset(settings: Settings, clear_progress: bool = False) -> list[str]:
    """Start over: :func:`teardown`, then forget this state folder's Items (the emulator's
    and the bridge's own SQLite files; a shared PostgreSQL store is never touched) and, on
    request, the progress. Settings, keys and recorded ports stay."""
    done = teardown(settings)
    owned = [emulator.default_state_path(settings)] if settings.embedded else []
    if settings.bridge_db is None:
        owned.append(settings.bridge_db_path)
    for path in owned:
        if _remove_sqlite(path):
            done.append(f"removed {path.name}")
    done.extend(progress.reset(settings, clear=clear_progress))
    return done


def _remove_sqlite(path: Path) -> bool:
    """Delete a SQLite file and its journal files; True when the database existed."""
    existed = path.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return existed
