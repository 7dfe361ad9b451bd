"""Kernels for a run: the next notebook's kernel boots while the current notebook runs, and a
finished notebook's kernel shuts down in the background; every notebook still gets a fresh
kernel of its own, started in its folder.

A kernel is launched, not waited for: the notebook's client waits until it is ready, which by
then it usually is. :meth:`KernelPool.close` ends every kernel the pool started (graceful
first, killed after ``SHUTDOWN_SECONDS``) and returns only when they are gone.

Kernels talk over IPC sockets in a private folder (0700) of their own, not TCP ports: runs
started at the same moment (a class on one machine) cannot race for a port, and no other
user of the machine can reach a kernel.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

KERNEL_NAME = "python3"
SHUTDOWN_SECONDS = 5.0


class KernelPool:
    """Starts kernels ahead and retires them without waiting (thread-safe enough for one
    runner: ``start``/``retire`` from the runner's thread, shutdowns in threads of their own)."""

    def __init__(self, stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        self._started: list[AsyncKernelManager] = []
        self._retired: set[int] = set()
        self._shutdowns: list[threading.Thread] = []

    def start(self, notebook: Path) -> AsyncKernelManager:
        """Launch a kernel for ``notebook`` (working directory: its folder)."""
        manager = ipc_kernel_manager()
        try:
            with open(self._stderr_path, "ab") as stderr:  # the kernel keeps its own copy
                run_sync(manager.start_kernel)(cwd=str(notebook.parent), stderr=stderr)
        except BaseException:
            _remove_socket_folder(manager)
            raise
        self._started.append(manager)
        return manager

    def try_start(self, notebook: Path) -> AsyncKernelManager | None:
        """:meth:`start`, or None when the kernel cannot be launched (the notebook's own run
        then starts one and reports why it failed)."""
        try:
            return self.start(notebook)
        except Exception:  # noqa: BLE001 - reported by the notebook's run, not here
            return None

    def retire(self, manager: AsyncKernelManager) -> None:
        """Shut ``manager``'s kernel down in the background."""
        self._retired.add(id(manager))
        thread = threading.Thread(
            target=_shutdown, args=(manager,), name="kore-plaid-kernel-shutdown", daemon=True
        )
        thread.start()
        self._shutdowns.append(thread)

    def close(self) -> None:
        """Retire every kernel still up and wait until all have ended."""
        for manager in self._started:
            if id(manager) not in self._retired:
                self.retire(manager)
        for thread in self._shutdowns:
            thread.join(SHUTDOWN_SECONDS + 5.0)
        for manager in self._started:
            if _alive(manager):  # a graceful shutdown that failed or hangs: no survivor
                _kill(manager)
            _remove_socket_folder(manager)
        self._started.clear()
        self._retired.clear()
        self._shutdowns.clear()


def ipc_kernel_manager() -> AsyncKernelManager:
    """A kernel manager whose kernel will listen on IPC sockets in a new private folder
    (short, so that socket paths stay under the system's limit of about 100 bytes)."""
    folder = tempfile.mkdtemp(prefix="kore-plaid-kernel-")
    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME, transport="ipc", ip=str(Path(folder) / "socket")
    )
    manager.shutdown_wait_time = SHUTDOWN_SECONDS
    return manager


def stop_kernel(manager: AsyncKernelManager) -> None:
    """Shut ``manager``'s kernel down now (graceful first) and remove its socket folder."""
    _shutdown(manager)
    if _alive(manager):
        _kill(manager)
    _remove_socket_folder(manager)


def _remove_socket_folder(manager: AsyncKernelManager) -> None:
    folder = Path(manager.ip).parent
    if manager.transport == "ipc" and folder.name.startswith("kore-plaid-kernel-"):
        shutil.rmtree(folder, ignore_errors=True)


def _shutdown(manager: AsyncKernelManager) -> None:
    with contextlib.suppress(Exception):  # already gone, or killed by the signal handlers
        run_sync(manager.shutdown_kernel)(now=False)


def _alive(manager: AsyncKernelManager) -> bool:
    try:
        return bool(run_sync(manager.is_alive)())
    except Exception:  # noqa: BLE001 - a manager that cannot say has no kernel left to kill
        return False


def _kill(manager: AsyncKernelManager) -> None:
    with contextlib.suppress(Exception):
        run_sync(manager.shutdown_kernel)(now=True)
