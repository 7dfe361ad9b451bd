"""Run notebooks with nbclient, one kernel each, in order; never store widget state."""

from __future__ import annotations

import atexit
import builtins
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .. import progress
from ..private_files import private_folder, write_private
from ..settings import Settings, mask
from .kernels import KernelPool, ipc_kernel_manager, kernel_log, start_pool, stop_kernel
from .paths import notebook_paths as notebook_paths
from .sanitize import SANITIZE_FILE_NAME, load_patterns, sanitize_text

TEARDOWN_PREFIX = "08_"
# kernels booting ahead of the notebook running: two (a short notebook is done before one
# kernel has booted and imported, ~2 s; a kernel idles at ~60 MB)
KERNELS_AHEAD = 2
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 300
# Marks, in an executed notebook's cell metadata, a cell that did not run this time.
NOT_RUN = "kore_plaid_not_run"
FIX_PREFIX = "What to do: "


@dataclass
class NotebookResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""
    tagged_outputs: dict[str, str] = field(default_factory=dict)
    fix: str = ""
    ran: bool = True


@dataclass
class RunReport:
    """Every notebook of the run, in order: passed, FAILED or not run."""

    results: list[NotebookResult] = field(default_factory=list)

    @classmethod
    def planned(cls, paths: Iterable[Path]) -> RunReport:
        """All notebooks "not run" until they run: an interrupted run still lists them all."""
        return cls([NotebookResult(p.stem, False, 0.0, ran=False) for p in paths])

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if r.ran and not r.ok]

    def replace(self, result: NotebookResult) -> None:
        for index, known in enumerate(self.results):
            if known.name == result.name:
                self.results[index] = result
                return
        self.results.append(result)

    def tagged(self, tag: str) -> str:
        return "\n".join(r.tagged_outputs[tag] for r in self.results if tag in r.tagged_outputs)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def rerun_fix(notebook: str) -> str:
    """What to do when a notebook failed without a step's own fix."""
    return (
        f"Open {notebook} in JupyterLab and run it from the top; `kore-plaid status` shows "
        "the services and their logs."
    )


def _cell_failure(exc: BaseException) -> tuple[str, str]:
    """(message, fix) of a failure, as a person reads them: a step's RunbookError arrives as
    its message and its "What to do: ..." line; a library's class name is never shown (a
    built-in one such as NameError is kept: it says what went wrong in the cell's code)."""
    if isinstance(exc, CellExecutionError):
        text = ANSI_ESCAPE.sub("", str(getattr(exc, "evalue", "") or "")).strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # the last "What to do:" is the error's own; lines above it (a service's log quoted
        # with its own advice) are part of the message
        last_fix = max(
            (i for i, line in enumerate(lines) if line.startswith(FIX_PREFIX)), default=None
        )
        message = "\n".join(lines[:last_fix] if last_fix is not None else lines[:1])
        fix = lines[last_fix].removeprefix(FIX_PREFIX) if last_fix is not None else ""
        if not fix:
            message = _with_builtin_name(getattr(exc, "ename", ""), message)
        return message or "a cell failed", fix
    if isinstance(exc, CellTimeoutError):
        return f"a cell ran longer than {CELL_TIMEOUT} s", ""
    if isinstance(exc, DeadKernelError):
        return "the notebook's kernel (its Python process) died", ""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return _with_builtin_name(type(exc).__name__, first) or "the notebook could not run", ""


def _with_builtin_name(name: str, message: str) -> str:
    if name and isinstance(getattr(builtins, name, None), type):
        return f"{name}: {message}" if message else name
    return message


def _cell_failure_in(exc: BaseException) -> BaseException:
    """The cell's own failure when a later one (the kernel's shutdown) hid it, else ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (CellExecutionError, CellTimeoutError, DeadKernelError)):
            return seen
        seen = seen.__context__
    return exc


def _text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts).rstrip("\n")


def redact(nb: nbformat.NotebookNode, secrets: Iterable[str]) -> int:
    """Replace any configured secret that reached an output by its mask; returns the count."""
    secrets = [s for s in secrets if s and len(s) >= 8]
    found = 0

    def masked(value: str) -> str:
        nonlocal found
        for secret in secrets:
            if secret in value:
                found += value.count(secret)
                value = value.replace(secret, mask(secret))
        return value

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            _rewrite_texts(output, masked)
    return found


def _rewrite_texts(output: nbformat.NotebookNode, rewrite: Callable[[str], str]) -> None:
    """Rewrite every text of an output in place: stream text, rich data, error value and
    traceback lines."""
    for key in ("text", "evalue"):
        if isinstance(output.get(key), str):
            output[key] = rewrite(output[key])
    data = output.get("data", {})
    for mime, value in data.items():
        if isinstance(value, str):
            data[mime] = rewrite(value)
    traceback = output.get("traceback") or []
    for index, line in enumerate(traceback):
        if isinstance(line, str):
            traceback[index] = rewrite(line)


def normalize_for_storage(nb: nbformat.NotebookNode, notebooks_dir: Path) -> None:
    """Make stored outputs deterministic: sanitize text, drop timings and run metadata."""
    patterns = load_patterns(notebooks_dir / SANITIZE_FILE_NAME)
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    _as_jupyterlab_writes(nb.metadata)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = _coalesced(cell.outputs)  # as nbval compares them
        for output in cell.get("outputs", []):
            # a widget view names a random model that is never stored: keep its text form
            output.get("data", {}).pop(WIDGET_VIEW, None)
            _rewrite_texts(output, lambda text: sanitize_text(text, patterns))


def _as_jupyterlab_writes(metadata: nbformat.NotebookNode) -> None:
    """The kernel's metadata as JupyterLab sets it once the kernel is up (its spec's display
    name, the language's version), so opening a stored notebook does not mark it modified."""
    spec = metadata.get("kernelspec") or {}
    try:
        installed = KernelSpecManager().get_kernel_spec(spec.get("name") or "python3")
    except NoSuchKernel:
        return
    spec.update(display_name=installed.display_name, language=installed.language)
    metadata["kernelspec"] = spec


def _coalesced(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Consecutive prints to one stream as one output: how they arrive in messages depends on
    timing, so a stored notebook would differ from run to run."""
    merged: list[nbformat.NotebookNode] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None
            and output.get("output_type") == "stream" == last.get("output_type")
            and output.get("name") == last.get("name")
        ):
            last["text"] = last["text"] + output["text"]
        else:
            merged.append(output)
    return merged


def execute(
    path: Path,
    settings: Settings,
    out_path: Path | None = None,
    store_outputs: bool = False,
    kernel: AsyncKernelManager | None = None,
) -> NotebookResult:
    """Execute one notebook in a fresh kernel (working directory: its folder): ``kernel``,
    already launched for it (:class:`KernelPool`; the caller shuts it down), else one started
    and shut down here.

    The stored outputs are cleared first: the result shows only what ran this time, and the
    cells after a failing one are empty and marked as not run."""
    started = time.monotonic()
    nb, executed, skip_tag, failure = _run_cells(path, settings, kernel)
    if failure is not None and not executed and _died_booting(failure):
        # a kernel that died before its first reply gets one more, fresh one
        nb, executed, skip_tag, failure = _run_cells(path, settings, None)
    error = fix = ""
    if failure is not None:
        error, fix = _cell_failure(_cell_failure_in(failure))
        fix = fix or rerun_fix(path.stem)
    seconds = time.monotonic() - started
    _mark_not_run(nb, executed, skip_tag)
    leaked = redact(nb, settings.secret_values)
    if leaked and not error:
        error = f"a cell printed a configured secret ({leaked}x); it was masked"
        fix = "Find the cell that prints it in this notebook and print the value masked."
    tagged = {}
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag.startswith("report-"):
                tagged[tag.removeprefix("report-")] = _text_of(cell)
    if out_path is not None:
        private_folder(out_path.parent)
        write_private(out_path, nbformat.writes(nb) + "\n")  # as nbformat.write, but 0600
    if store_outputs and not error:
        normalize_for_storage(nb, path.parent)
        nbformat.write(nb, path)
    return NotebookResult(path.stem, not error, seconds, error, tagged, fix)


def _run_cells(
    path: Path, settings: Settings, kernel: AsyncKernelManager | None
) -> tuple[nbformat.NotebookNode, set[int], str, BaseException | None]:
    """Run the notebook's cells once: (notebook, cells run, skip tag, failure or None)."""
    nb = nbformat.read(path, as_version=4)
    clear_outputs(nb)
    executed: set[int] = set()
    own = kernel is None
    manager = kernel if kernel is not None else ipc_kernel_manager()
    client = NotebookClient(
        nb,
        km=manager,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
        on_cell_execute=lambda cell, cell_index: executed.add(cell_index),
    )
    failure: BaseException | None = None
    try:
        with open(kernel_log(settings), "ab") as log:
            client.execute(stderr=log)
    except Exception as exc:  # nbclient can also fail shutting a kernel down (a loaded machine)
        failure = exc
    finally:
        atexit.unregister(client._cleanup_kernel)  # left registered when the kernel died booting
        if client.kc is not None:
            client.kc.stop_channels()  # a kernel passed in: nbclient leaves its client open
        if own:
            stop_kernel(manager)
    return nb, executed, client.skip_cells_with_tag, failure


def _died_booting(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RuntimeError) and "died before replying" in str(seen):
            return True
        seen = seen.__context__
    return False


def clear_outputs(nb: nbformat.NotebookNode) -> None:
    """Drop every stored output (notebooks/ keeps them for nbval) and every not-run mark."""
    for cell in nb.cells:
        cell.metadata.pop(NOT_RUN, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def _mark_not_run(nb: nbformat.NotebookNode, executed: set[int], skip_tag: str) -> None:
    for index, cell in enumerate(nb.cells):
        runnable = cell.cell_type == "code" and cell.source.strip()
        if runnable and index not in executed and skip_tag not in cell.metadata.get("tags", []):
            cell.metadata[NOT_RUN] = True


def is_not_run(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.metadata.get(NOT_RUN))


def remove_stale_results(build_dir: Path) -> None:
    """Executed notebooks of an earlier run must not pass for this run's."""
    for stale in (build_dir / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        stale.unlink(missing_ok=True)


def run_notebooks(
    paths: list[Path],
    settings: Settings,
    build_dir: Path,
    store_outputs: bool = False,
    progress: Callable[[str], None] = print,
    report: RunReport | None = None,
    pool: KernelPool | None = None,
) -> RunReport:
    """Run ``paths`` in order; after a failure skip to teardown so nothing stays running.

    ``report`` (every notebook planned as not run) is filled in as they run, so that a caller
    holding it can still write what happened when the run is interrupted. ``pool``: one the
    caller made (:func:`start_pool`, its first kernel already booting); closed here."""
    report = report if report is not None else RunReport.planned(paths)
    private_folder(private_folder(build_dir) / "notebooks")
    remove_stale_results(build_dir)
    pool = pool if pool is not None else start_pool(paths, settings, KERNELS_AHEAD)
    try:
        _run_in_order(paths, settings, build_dir, store_outputs, progress, report, pool)
    finally:
        pool.close()  # every kernel ended, whatever happened
    return report


def _run_in_order(
    paths: list[Path],
    settings: Settings,
    build_dir: Path,
    store_outputs: bool,
    progress: Callable[[str], None],
    report: RunReport,
    pool: KernelPool,
) -> None:
    failed = False
    ahead: dict[int, AsyncKernelManager | None] = dict(enumerate(pool.early))

    def will_run(index: int) -> bool:
        return not failed or paths[index].stem.startswith(TEARDOWN_PREFIX)

    def start_ahead(index: int) -> None:
        if index < len(paths) and will_run(index) and index not in ahead:
            ahead[index] = pool.try_start(paths[index])  # None: execute starts its own

    if not ahead:
        start_ahead(0)
    for index, path in enumerate(paths):
        shown = f"[{index + 1}/{len(paths)}] {path.stem}"
        if not will_run(index):
            progress(f"{shown}: skipped (an earlier step failed)")
            continue
        kernel = ahead.pop(index, None)
        progress(f"{shown} ...")
        if kernel is not None:
            pool.warmed(kernel)
        for following in range(index + 1, index + 1 + KERNELS_AHEAD):
            start_ahead(following)  # the next kernels boot while this notebook runs
        try:
            result = execute(
                path, settings, build_dir / "notebooks" / path.name, store_outputs, kernel
            )
        finally:
            if kernel is not None:
                pool.retire(kernel)
        failed = failed or not result.ok
        for waiting in [i for i in ahead if not will_run(i)]:
            unused = ahead.pop(waiting)
            if unused is not None:
                pool.retire(unused)  # its notebook is skipped now
        report.replace(result)
        if not result.ok:
            _record_failure(settings, path.stem, result.error)
            progress(
                f"{shown}: FAILED ({result.seconds:.1f} s): "
                f"{result.error}\n    {FIX_PREFIX}{result.fix}"
            )
        else:
            progress(f"{shown}: ok ({result.seconds:.1f} s)")


def _record_failure(settings: Settings, notebook: str, error: str) -> None:
    """A notebook that failed outside a step (its kernel died, a cell timed out) still shows
    as failed in the trainee's progress."""
    status = next((n for n in progress.checklist(settings) if n.notebook == notebook), None)
    if status is not None and status.status != "fail":
        progress.record(
            settings,
            notebook,
            progress.FINISH,
            "fail",
            error,
            rerun_fix(notebook),
        )
