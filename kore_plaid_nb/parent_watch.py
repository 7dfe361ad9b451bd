"""A background service started from a notebook ends with the Jupyter server that ran it.

The runbook's services (emulator, bridge, tunnel) outlive a kernel on purpose: a restarted
kernel finds them running. They must not outlive the Jupyter server itself: under JupyterHub,
stopping a trainee's server would leave ~130 MB of their services running. A kernel knows
its server's pid (``JPY_PARENT_PID``, set by jupyter_client); :func:`watch_env` passes it to
the service, and :func:`start_watching` in the service sends itself SIGTERM (its usual, clean
stop) once that process is gone. The process' start time guards against a reused pid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

PID_ENV = "KORE_PLAID_STOP_WITH_PID"
START_ENV = "KORE_PLAID_STOP_WITH_START"
POLL_SECONDS = 1.0


def started_at(pid: int) -> str | None:
    """The process' start time in clock ticks since boot (``/proc/<pid>/stat``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name may hold spaces


def watch_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What a service started now must watch: the Jupyter server of this kernel, if any."""
    parent = environ.get("JPY_PARENT_PID", "")
    start = started_at(int(parent)) if parent.isdigit() else None
    return {PID_ENV: parent, START_ENV: start} if start else {}


def alive(pid: int, start: str) -> bool:
    return started_at(pid) == start


def start_watching(environ: Mapping[str, str] | None = None) -> threading.Thread | None:
    """In a service: stop (SIGTERM to itself) once the watched process is gone."""
    environ = os.environ if environ is None else environ
    pid, start = environ.get(PID_ENV, ""), environ.get(START_ENV, "")
    if not (pid.isdigit() and start):
        return None
    stopped = threading.Event()

    def watch() -> None:
        while not stopped.wait(POLL_SECONDS):
            if not alive(int(pid), start):
                print(
                    f"kore-plaid: the Jupyter server that started this service (pid {pid}) "
                    "has stopped, so this service stops too.",
                    file=sys.stderr,
                    flush=True,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="kore-plaid-parent-watch", daemon=True)
    thread.start()
    return thread
