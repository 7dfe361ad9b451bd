"""``kore-plaid run``: execute the whole runbook headless and write ``build/``."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .. import progress, services
from ..settings import ENV_NAMES, home_path, load_as_is, project_root
from . import HEADLESS_ENV
from .ending import closing_text
from .kernels import start_pool
from .paths import notebook_paths


def configure(parser: argparse.ArgumentParser) -> None:
    root = project_root()
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=root / "notebooks",
        help="the folder of the runbook's notebooks (default: notebooks/ of the project)",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="where the executed notebooks and report.html go (default: build/ of the "
        "project, or <KORE_PLAID_HOME>/build when KORE_PLAID_HOME is set)",
    )
    parser.add_argument("--only", nargs="*", default=(), help="run only these (e.g. 00 03)")
    parser.add_argument(
        "--store-outputs",
        action="store_true",
        help="write the sanitized outputs back into notebooks/ (make notebooks)",
    )


def plan_line(count: int, mode: str, link_mode: str) -> str:
    """The run's first line: how many notebooks, in which mode and link mode."""
    notebooks = f"{count} notebook{'' if count == 1 else 's'}"
    return f"kore-plaid runbook: {notebooks}, {mode} mode, link mode {link_mode}"


def unknown_notebooks(paths: list[Path], only: Sequence[str]) -> list[str]:
    """The names in ``--only`` that match none of ``paths`` (by number or full name)."""
    known = {path.stem for path in paths} | {path.stem[:2] for path in paths}
    return [name for name in only if name.removesuffix(".ipynb") not in known]


def _isolate_for_storage() -> None:
    """Stored outputs come from a fresh embedded run: its own state folder, no keys."""
    root = Path(tempfile.mkdtemp(prefix="kore-plaid-notebooks-"))
    for name in ENV_NAMES:
        os.environ.pop(name, None)
    os.environ["KORE_PLAID_HOME"] = str(root / "home")
    os.environ["KORE_PLAID_ENV_FILE"] = str(root / ".env")


def _default_build_dir() -> Path:
    """The project's build/, or the trainee's own when their state folder is set (trainees
    sharing a checkout must not overwrite each other's report)."""
    if os.environ.get("KORE_PLAID_HOME"):
        return home_path() / "build"
    return project_root() / "build"


def run(args: argparse.Namespace) -> int:
    if args.store_outputs:
        _isolate_for_storage()
    os.environ[HEADLESS_ENV] = "1"
    settings = load_as_is()  # a wrong setting fails notebook 01 (with its fix), not the run
    if args.build_dir is None:
        args.build_dir = project_root() / "build" if args.store_outputs else _default_build_dir()
    paths = notebook_paths(args.notebooks)
    if not paths:
        print(f"No notebooks found in {args.notebooks}.")
        return 1
    unknown = unknown_notebooks(paths, args.only)
    if unknown:
        print(
            f"No notebook {', '.join(unknown)} in {args.notebooks}. The runbook's notebooks: "
            + ", ".join(path.stem for path in paths)
            + " (--only takes their numbers, e.g. --only 00 03)."
        )
        return 2
    paths = notebook_paths(args.notebooks, args.only)
    print(plan_line(len(paths), settings.mode, settings.link_mode))
    started = time.monotonic()
    # the first kernel boots and imports while this process imports the runner (~3 s)
    pool = start_pool(paths, settings)  # as many ahead as the runner keeps
    try:
        from .report import ExporterWarmUp, remove_report, write_html_report
        from .runner import FIX_PREFIX, RunReport, run_notebooks
    except BaseException:
        pool.close()
        raise
    remove_report(args.build_dir)  # whatever ends this run, an older report never stands for it
    warm = ExporterWarmUp()
    report = RunReport.planned(paths)
    interrupted = False
    try:
        run_notebooks(paths, settings, args.build_dir, args.store_outputs, report=report, pool=pool)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.close()  # run_notebooks closed it; again (a no-op) if it broke off first
        services.stop_all(settings.home)
        html_path = write_html_report(
            report, args.build_dir, settings.mode, link_mode=settings.link_mode, warm=warm
        )
    for tag, title in (("profile", "Kore authorization profile"), ("verification", "Verification")):
        text = report.tagged(tag)
        if text:
            print(f"\n{title}\n{text}")
    print(f"\nReport: {html_path}  ({time.monotonic() - started:.1f} s)")
    if progress.board_refuses_token(settings):
        print(f"\n{progress.token_refusal_note(settings)}")
    if interrupted:
        print("Interrupted: the services were stopped; `make run` starts again from the top.")
        return 130
    if not report.ok:
        for failed in report.failed:
            print(f"FAILED: {failed.name}: {failed.error}\n{FIX_PREFIX}{failed.fix}")
        return 1
    print(f"\n{closing_text(settings)}\n")
    print("All steps passed.")
    return 0
