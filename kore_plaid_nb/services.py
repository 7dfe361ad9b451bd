"""Background services that outlive a notebook kernel, recorded in the state folder.

A service is a ``kore-plaid <command>`` process started in its own session (so a kernel's
death does not take it down), logging to ``<home>/logs/<name>.log`` and described by
``<home>/services/<name>.json`` (pid, port, url). :func:`ensure_running` is idempotent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess  # argument lists only, never a shell  # nosec B404
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import parent_watch
from .errors import ServiceError
from .private_files import private_file, private_folder, write_private


@dataclass(frozen=True)
class ServiceRecord:
    name: str
    pid: int
    host: str
    port: int
    url: str
    log: str
    started_at: float

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


# the background services a runbook starts, in the order they start (each part names its own)
SERVICE_NAMES = ("emulator", "bridge", "tunnel")


def services_dir(home: Path) -> Path:
    return private_folder(private_folder(home) / "services")


def logs_dir(home: Path) -> Path:
    return private_folder(private_folder(home) / "logs")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs. A zombie (exited, not yet reaped: its parent, a kernel, may be
    gone and the container's init may not reap) counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def read(home: Path, name: str) -> ServiceRecord | None:
    """The recorded service, or None when there is none or its process is gone."""
    path = services_dir(home) / f"{name}.json"
    try:
        record = ServiceRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not record.alive:
        path.unlink(missing_ok=True)
        return None
    return record


def write(home: Path, record: ServiceRecord) -> None:
    write_private(services_dir(home) / f"{record.name}.json", json.dumps(asdict(record), indent=2))


def wait_healthy(url: str, timeout: float = 20.0, pid: int | None = None) -> bool:
    """Poll ``url`` until it answers 2xx; False on timeout or when ``pid`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http://127.0.0.1  # nosec B310
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def ensure_running(
    home: Path,
    name: str,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    health_path: str = "/healthz",
    timeout: float = 30.0,
) -> ServiceRecord:
    """Start ``kore-plaid <command>`` in the background unless it already runs; wait for it.

    Raises :class:`ServiceError` when the port is taken by something else or the process
    does not come up (the message quotes the end of its log).
    """
    existing = read(home, name)
    if existing is not None:
        if wait_healthy(existing.url + health_path, timeout=5, pid=existing.pid):
            return existing
        stop(home, name)
    if port_in_use(host, port):
        raise ServiceError(
            f"Port {port} on {host} is already in use by another program, so the {name} "
            "cannot start there.",
            fix=f"Stop that program, or pick another port (for the bridge: APP_PORT in .env; "
            f"for others: --port). `lsof -i :{port}` shows who holds it.",
        )
    log_path = logs_dir(home) / f"{name}.log"
    log_start = log_path.stat().st_size if log_path.is_file() else 0  # this start's lines after
    process_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process_env.update(parent_watch.watch_env(os.environ))  # ends with this Jupyter server
    argv = [sys.executable, "-m", "kore_plaid_nb", *command]
    with open(private_file(log_path), "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - sys.executable -m kore_plaid_nb, no shell  # nosec B603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=process_env,
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    record = ServiceRecord(name, process.pid, host, port, url, str(log_path), time.time())
    write(home, record)
    if not wait_healthy(url + health_path, timeout=timeout, pid=process.pid):
        stop(home, name)
        raise ServiceError(
            f"The {name} did not start on {url}. Last lines of its log:\n"
            f"{tail(log_path, since=log_start)}",
            fix=f"Read {log_path}; fix the setting it names, then run the cell again.",
        )
    return record


def stop(home: Path, name: str, timeout: float = 10.0) -> bool:
    """Stop a recorded service (its whole process group). True if one was running."""
    path = services_dir(home) / f"{name}.json"
    try:
        record = ServiceRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        path.unlink(missing_ok=True)
        return False
    was_running = record.alive
    if was_running:
        _signal_group(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while record.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if record.alive:
            _signal_group(record.pid, signal.SIGKILL)
            while record.alive and time.monotonic() < deadline + 5:
                time.sleep(0.05)
    path.unlink(missing_ok=True)
    return was_running


def stop_all(home: Path) -> list[str]:
    """Stop every recorded service; returns the names that were running."""
    stopped = []
    for path in sorted(services_dir(home).glob("*.json")):
        if stop(home, path.stem):
            stopped.append(path.stem)
    return stopped


def running(home: Path) -> list[ServiceRecord]:
    records = (read(home, p.stem) for p in sorted(services_dir(home).glob("*.json")))
    return [r for r in records if r is not None]


def tail(path: Path, lines: int = 15, since: int = 0) -> str:
    """The last ``lines`` of a log, from byte ``since`` on (one start's lines)."""
    try:
        with open(path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
