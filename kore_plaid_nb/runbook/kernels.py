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
import time
from pathlib import Path

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from .. import services
from ..private_files import private_file
from ..settings import Settings

KERNEL_NAME = "python3"
SHUTDOWN_SECONDS = 5.0
WARM_UP_SECONDS = 60.0


class KernelPool:
    """Starts kernels ahead and retires them without waiting (thread-safe enough for one
    runner: ``start``/``retire`` from the runner's thread, shutdowns in threads of their own)."""

    def __init__(self, stderr_path: Path, warm_up: str = "") -> None:
        self._stderr_path = stderr_path
        self._warm_up = warm_up  # code a started kernel runs at once (silently): its imports
        self._started: list[AsyncKernelManager] = []
        self._retired: set[int] = set()
        self._shutdowns: list[threading.Thread] = []
        self.early: list[AsyncKernelManager | None] = []  # the run's first kernels, started early
        self._warming: dict[int, threading.Thread] = {}

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
        if self._warm_up:
            warming = threading.Thread(
                target=_warm_up,
                args=(manager, self._warm_up),
                name="kore-plaid-kernel-warm-up",
                daemon=True,
            )
            warming.start()
            self._warming[id(manager)] = warming
        return manager

    def warmed(self, manager: AsyncKernelManager) -> None:
        """Wait until ``manager``'s kernel ran the warm-up (at most :data:`WARM_UP_SECONDS`):
        the notebook's first request then always comes after it."""
        warming = self._warming.pop(id(manager), None)
        if warming is not None:
            warming.join(WARM_UP_SECONDS)

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


def _warm_up(manager: AsyncKernelManager, code: str) -> None:
    """Run ``code`` silently in the kernel as soon as it is ready (no output, no execution
    count: the notebook's first cell is still [1]); its imports are then done while the
    current notebook runs. A client of its own (own ZeroMQ context: the manager's belongs to
    the runner's thread). A kernel that cannot is left as it is."""
    context = zmq.Context()
    client = BlockingKernelClient(context=context)
    try:
        client.load_connection_info(manager.get_connection_info())
        client.start_channels()
        client.wait_for_ready(timeout=WARM_UP_SECONDS)
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + WARM_UP_SECONDS
        while time.monotonic() < deadline:
            reply = client.get_shell_msg(timeout=WARM_UP_SECONDS)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
    except Exception:  # noqa: BLE001, S110 - the notebook's own run imports it then  # nosec B110
        pass
    finally:
        with contextlib.suppress(Exception):
            client.stop_channels()
        context.destroy(linger=0)


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


# what every notebook's first cell imports: done in each kernel while the notebook before runs
WARM_UP = "import kore_plaid_nb.runbook.steps"


def start_pool(paths: list[Path], settings: Settings, ahead: int = 2) -> KernelPool:
    """The run's kernel pool, the first ``ahead`` notebooks' kernels booting (and importing)
    already."""
    pool = KernelPool(kernel_log(settings), warm_up=WARM_UP)
    pool.early = [pool.try_start(path) for path in paths[:ahead]]
    return pool


def kernel_log(settings: Settings) -> Path:
    return private_file(services.logs_dir(settings.home) / "kernels.log")
