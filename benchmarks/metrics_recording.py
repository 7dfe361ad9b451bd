"""What recording the bridge's metrics costs one authorization, measured alone (issue 24).

Times the recording calls one end-user authorization makes (3 Plaid calls, 4 store
transactions, started and completed, 2 token requests), best of 3 x 20,000, with INFO logging
off. ``--multiprocess`` keeps the values in files, as a worker of ``kore-plaid bridge
--workers N`` does.

    .venv/bin/python benchmarks/metrics_recording.py [--multiprocess]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = 20_000
PLAID_ENDPOINTS = ("/link/token/create", "/item/public_token/exchange", "/accounts/get")


def one_authorization() -> None:
    from kore_plaid_nb.bridge.metrics import recording

    recording.authorization_started()
    for endpoint in PLAID_ENDPOINTS:
        recording.plaid_call(endpoint, "ok", 0.05, "abcDEF1234567")
    for _ in range(4):
        with recording.store_transaction(contextlib.nullcontext()):
            pass
    recording.authorization_completed(2.0)
    for grant_type in ("authorization_code", "refresh_token"):
        recording.token_request(grant_type, 200, None, time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multiprocess", action="store_true", help="values in files")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if arguments.multiprocess:
            os.environ["KORE_PLAID_METRICS_WORKER"] = "1"
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        from kore_plaid_nb.bridge.metrics import recording

        logging.getLogger().setLevel(logging.WARNING)
        recording.precreate()
        best = min(timeit.repeat(one_authorization, number=ROUNDS, repeat=3)) / ROUNDS
    mode = "multiprocess (values in files)" if arguments.multiprocess else "in memory"
    print(f"metrics recording, {mode}: {best * 1e6:.1f} us per authorization")


if __name__ == "__main__":
    main()
