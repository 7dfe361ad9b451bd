"""A class on one machine: wall time of ``kore-plaid run`` for 1 trainee, then N at once.

Each trainee differs only in KORE_PLAID_HOME and KORE_PLAID_TRAINEE (default ports, the
embedded mode); a board (``kore-plaid board``) receives every step's event. Prints each run's
wall time and result, and what the board shows afterwards.

    .venv/bin/python benchmarks/class_runs.py [--trainees 3] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kore_plaid_nb import services  # noqa: E402
from kore_plaid_nb.settings import ENV_NAMES  # noqa: E402

TOKEN = "benchmark-board-token-0123456789abcdef"  # noqa: S105 - a throw-away board's token
TRAINEE_TOKENS: dict[str, str] = {}  # each trainee's own (`kore-plaid board add-trainee`)
BOARD_HOME: list[Path] = []  # the board's state folder, where add-trainee keeps the tokens


def environ(**more: str) -> dict[str, str]:
    drop = {*ENV_NAMES, "KORE_PLAID_HOME", "KORE_PLAID_ENV_FILE", "JUPYTERHUB_USER"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **more}


def start_board(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = services.free_port()
    process = subprocess.Popen(  # noqa: S603 - this project's own command
        [sys.executable, "-m", "kore_plaid_nb", "board", "--port", str(port)],
        env=environ(KORE_PLAID_BOARD_TRAINER_TOKEN=TOKEN, KORE_PLAID_HOME=str(folder / "trainer")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    if not services.wait_healthy(url + "/healthz", timeout=30, pid=process.pid):
        raise SystemExit("the board did not start")
    BOARD_HOME[:] = [folder / "trainer"]
    return process, url


def trainee_token(name: str) -> str:
    if name not in TRAINEE_TOKENS:
        done = subprocess.run(  # noqa: S603 - this project's own command
            [sys.executable, "-m", "kore_plaid_nb", "board", "add-trainee", name],
            env=environ(KORE_PLAID_HOME=str(BOARD_HOME[0])),
            capture_output=True,
            text=True,
            check=True,
        )
        TRAINEE_TOKENS[name] = done.stdout.strip()
    return TRAINEE_TOKENS[name]


def run_class(folder: Path, names: list[str], board: str) -> dict[str, tuple[float, int]]:
    """Start one ``kore-plaid run`` per trainee at once; (wall seconds, exit code) each."""
    started = time.monotonic()
    runs = {}
    for name in names:
        home = folder / name
        env = environ(
            KORE_PLAID_HOME=str(home),
            KORE_PLAID_ENV_FILE=str(home / ".env"),
            KORE_PLAID_TRAINEE=name,
            KORE_PLAID_BOARD_URL=board,
            KORE_PLAID_BOARD_TRAINEE_TOKEN=trainee_token(name),
        )
        runs[name] = subprocess.Popen(  # noqa: S603 - this project's own command
            [str(ROOT / ".venv" / "bin" / "kore-plaid"), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    results = {}
    for name, run in runs.items():
        code = run.wait(timeout=900)
        results[name] = (time.monotonic() - started, code)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kore-plaid-class-"))
    board, url = start_board(folder)
    figures: dict[str, list[float]] = {"1": [], str(args.trainees): []}
    try:
        for round_ in range(args.repeat):
            alone = run_class(folder / f"alone-{round_}", ["solo"], url)
            together = run_class(
                folder / f"class-{round_}", [f"t{i}" for i in range(args.trainees)], url
            )
            for label, results in (("1", alone), (str(args.trainees), together)):
                codes = [code for _, code in results.values()]
                if any(codes):
                    raise SystemExit(f"a run failed: {results}")
                figures[label].append(max(seconds for seconds, _ in results.values()))
            print(
                f"round {round_ + 1}: 1 trainee {figures['1'][-1]:.1f} s, "
                f"{args.trainees} at once {figures[str(args.trainees)][-1]:.1f} s (slowest)"
            )
        answer = httpx.get(f"{url}/api/progress", headers={"Authorization": f"Bearer {TOKEN}"})
        done = sum(
            all(n["status"] == "pass" for n in t["notebooks"]) for t in answer.json()["trainees"]
        )
        print(f"board: {done} of {len(answer.json()['trainees'])} trainees finished every notebook")
    finally:
        board.terminate()
        board.wait(timeout=10)
    for label, values in figures.items():
        print(f"{label} trainee(s): median {statistics.median(values):.1f} s, runs {values}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
