"""The bridge's Prometheus metrics: :mod:`.catalog` declares them, :mod:`.recording` records
them, :mod:`.exposition` builds what a scrape shows, :mod:`.listener` serves it on its own
port and :mod:`.worker_files` prepares ``--workers N``'s multiprocess mode.

prometheus-client decides once, when it is first imported, whether values live in memory or
in files (when ``PROMETHEUS_MULTIPROC_DIR`` is set). Only a worker started by ``kore-plaid
bridge --workers N`` (:data:`WORKER_ENV`) keeps its values in files; any other process (the
command's supervisor, a single-worker bridge, tests, notebooks) imports prometheus-client
with that variable hidden, so its values stay in memory.
"""

from __future__ import annotations

import os
import sys
from typing import Final

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_ENV_OLD: Final = "prometheus_multiproc_dir"  # prometheus-client reads it too
WORKER_ENV: Final = "KORE_PLAID_METRICS_WORKER"  # "1" in the workers of --workers N


def _values_in_memory_unless_worker() -> None:
    if os.environ.get(WORKER_ENV) == "1" or "prometheus_client.values" in sys.modules:
        return
    names = (MULTIPROC_ENV, MULTIPROC_ENV_OLD)
    hidden = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        import prometheus_client.values  # noqa: F401  (chooses its value class now)
    finally:
        os.environ.update(hidden)


_values_in_memory_unless_worker()
