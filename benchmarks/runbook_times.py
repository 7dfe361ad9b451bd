"""Wall time of the embedded runbook (`make run` = `kore-plaid run`), per notebook.

Runs ``kore-plaid run`` once in a throw-away state folder (embedded mode: demo keys, no Plaid
or ngrok keys from the caller's environment, free ports), prints the runner's own
per-notebook times and the total wall time, and writes the build output to the throw-away
folder (``--build-dir`` to keep it).

    .venv/bin/python benchmarks/runbook_times.py [--runs 1] [--build-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kore_plaid_nb.services import free_port  # noqa: E402

LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (\w+) \(([\d.]+) s\)")


def run_once(build_dir: Path | None) -> tuple[float, list[tuple[str, str, float]], int, str]:
    with tempfile.TemporaryDirectory(prefix="kore-plaid-runbook-") as folder:
        home = Path(folder)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PLAID_", "KORE_", "NGROK"))
        }
        env |= {
            "KORE_PLAID_HOME": str(home / "home"),
            "KORE_PLAID_ENV_FILE": str(home / ".env"),
            "APP_PORT": str(free_port()),
            "KORE_SIMULATOR_PORT": str(free_port()),
        }
        build = build_dir or home / "build"
        began = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - this project's own command
            [str(Path(sys.executable).with_name("kore-plaid")), "run", "--build-dir", str(build)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - began
    times = [(m[3], m[4], float(m[5])) for m in map(LINE.match, done.stdout.splitlines()) if m]
    return wall, times, done.returncode, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--build-dir", type=Path, default=None)
    args = parser.parse_args()
    status = 0
    for run in range(1, args.runs + 1):
        wall, times, code, output = run_once(args.build_dir)
        print(f"run {run}: kore-plaid run exit {code}, wall {wall:.1f} s")
        for name, outcome, seconds in times:
            print(f"  {name:<20} {outcome:<6} {seconds:6.1f} s")
        if times:
            print(f"  {'sum of notebooks':<20} {'':<6} {sum(t for *_, t in times):6.1f} s")
        if code != 0:
            print(output[-3000:])
            status = code
    return status


if __name__ == "__main__":
    sys.exit(main())
