"""The running stack, in order: emulator (embedded mode) -> bridge -> tunnel.

Each ``ensure_*`` is idempotent and returns what runs, so any notebook or command can start
what it needs without knowing what ran before.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import services
from .errors import ServiceError
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
    if record is None:
        if not start:
            raise ServiceError(
                "The embedded Plaid emulator is not running.",
                fix="Start it with `kore-plaid sandbox`, or run notebook 03_bridge.",
            )
        from .emulator import ensure_emulator

        record = ensure_emulator(settings)
    return settings.with_values(plaid_api_url=record.url)


def ensure_bridge(settings: Settings) -> tuple[Settings, services.ServiceRecord]:
    """Emulator (embedded mode) and bridge running; returns the Plaid settings and the
    bridge's record."""
    from .bridge import ensure_bridge as start_bridge

    effective = plaid_settings(settings)
    return effective, start_bridge(effective)


def ensure_stack(settings: Settings, tunnel: bool = True) -> Stack:
    """Emulator, bridge and (when ``tunnel``) the tunnel to the bridge, all running."""
    effective, bridge = ensure_bridge(settings)
    if not tunnel:
        return Stack(effective, bridge.url, bridge.url, True)
    from .tunnel import open_tunnel

    info = open_tunnel(effective, effective.app_port)
    return Stack(effective, bridge.url, info.public_url.rstrip("/"), info.local)


def teardown(settings: Settings, remove_items: bool = True) -> list[str]:
    """Close the tunnel, remove the bridge's Items at Plaid, stop every service.

    Returns what was done, one line each.
    """
    done: list[str] = []
    from .tunnel import close_all

    done.extend(f"closed {what}" for what in close_all(settings))
    if remove_items:
        running_emulator = settings.embedded and services.read(settings.home, EMULATOR)
        if not settings.embedded or running_emulator:
            from .bridge import remove_items

            removed = remove_items(plaid_settings(settings, start=False))
            done.append(f"removed {removed} Item(s) at Plaid")
    done.extend(f"stopped {name}" for name in services.stop_all(settings.home))
    return done
