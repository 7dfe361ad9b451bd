"""The offline Plaid Sandbox emulator (embedded mode): Plaid's API, a Link stand-in, faults.

In-process (tests, notebooks)::

    with running_emulator(settings) as url:
        client = plaid_client.create(settings.with_values(plaid_api_url=url))

As a background service that outlives a kernel: :func:`ensure_emulator` /
:func:`stop_emulator`; in a terminal: ``kore-plaid sandbox [--host H] [--port N]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..serving import serve_in_thread
from ..settings import Settings
from ..settings import load as load_settings
from .app import create_app, default_state_path
from .service import SERVICE_NAME, ensure_emulator, stop_emulator, sync_dashboard

__all__ = [
    "SERVICE_NAME",
    "create_app",
    "default_state_path",
    "ensure_emulator",
    "running_emulator",
    "stop_emulator",
    "sync_dashboard",
]


@contextlib.contextmanager
def running_emulator(
    settings: Settings | None = None,
    *,
    state_path: Path | str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Run the emulator in a thread of this process; yields its base URL (no trailing /)."""
    settings = settings or load_settings()
    app = create_app(settings, state_path=state_path)
    with serve_in_thread(app, host=host, port=port, what="Plaid emulator") as url:
        yield url
