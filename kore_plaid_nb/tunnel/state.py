"""The tunnel as recorded in the state folder, so that a later notebook finds it.

``<home>/tunnel/tunnel.json`` is written by the tunnel service once the tunnel is open;
``<home>/tunnel/error.json`` holds the readable failure of a service that could not open it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import RunbookError
from ..private_files import private_folder, write_private

LOCAL_NOTE = "local stand-in, not reachable from Kore"


@dataclass(frozen=True)
class TunnelInfo:
    """An open tunnel: ``public_url`` forwards to ``http://127.0.0.1:<port>``."""

    public_url: str
    local: bool
    port: int
    name: str = ""
    agent_pid: int = 0
    api_url: str = ""
    opened_at: float = 0.0

    def describe(self) -> str:
        where = LOCAL_NOTE if self.local else "ngrok, reachable from the internet"
        return f"{self.public_url} -> http://127.0.0.1:{self.port} ({where})"


def tunnel_dir(home: Path) -> Path:
    return private_folder(private_folder(home) / "tunnel")


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    write_private(path, json.dumps(data, indent=2))


def write(home: Path, info: TunnelInfo) -> None:
    _write_json(tunnel_dir(home) / "tunnel.json", asdict(info))


def read(home: Path) -> TunnelInfo | None:
    try:
        return TunnelInfo(**json.loads((tunnel_dir(home) / "tunnel.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def clear(home: Path) -> None:
    (tunnel_dir(home) / "tunnel.json").unlink(missing_ok=True)


def write_error(home: Path, error: RunbookError) -> None:
    data = {"message": error.message, "fix": error.fix, "step": error.step}
    _write_json(tunnel_dir(home) / "error.json", data)


def read_error(home: Path) -> RunbookError | None:
    try:
        data = json.loads((tunnel_dir(home) / "error.json").read_text())
        return RunbookError(data["message"], data.get("fix") or "", data.get("step"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def clear_error(home: Path) -> None:
    (tunnel_dir(home) / "error.json").unlink(missing_ok=True)
