"""``kore-plaid bridge --workers N``: the folder where each worker writes its metrics
(prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), which every scrape
adds up (:func:`.exposition.scrape_registry`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ...errors import SettingsError
from . import MULTIPROC_ENV, MULTIPROC_ENV_OLD, WORKER_ENV


@contextlib.contextmanager
def worker_metrics_folder() -> Iterator[Path]:
    """The folder the workers write their metrics to, exported (with :data:`WORKER_ENV`)
    for the workers to start with: the operator's ``PROMETHEUS_MULTIPROC_DIR``, emptied of
    an earlier run's ``*.db`` files, or a new private one (0700), removed at exit."""
    given = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV_OLD)
    if given:
        folder = _emptied(Path(given))
    else:
        folder = Path(tempfile.mkdtemp(prefix="kore-plaid-metrics-"))
    saved = {name: os.environ.get(name) for name in (MULTIPROC_ENV, WORKER_ENV)}
    os.environ.update({MULTIPROC_ENV: str(folder), WORKER_ENV: "1"})
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


def _emptied(folder: Path) -> Path:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"PROMETHEUS_MULTIPROC_DIR={folder} cannot hold the workers' metrics "
            f"({exc.strerror or type(exc).__name__}).",
            fix="Point PROMETHEUS_MULTIPROC_DIR at a folder this user can write (the bridge "
            "deletes its *.db files when it starts), or unset it: the bridge then makes a "
            "private one of its own.",
        ) from None
    return folder
