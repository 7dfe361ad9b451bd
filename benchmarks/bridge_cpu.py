"""Bridge CPU per full end-user authorization, and the token endpoint's p99 under ``wrk``.

Starts the Plaid emulator and the bridge as separate background processes (``kore-plaid
sandbox`` / ``kore-plaid bridge``, a throw-away state folder), then:

1. ``--runs`` times: ``--authorizations`` full authorizations (``GET /`` -> Link stand-in ->
   ``POST /api/set_access_token`` -> ``POST /api/send_the_access_token_AUTH``) at ``--users``
   concurrent users; the bridge's own CPU time (``/proc/<pid>/stat`` utime + stime) before
   and after gives milliseconds of bridge CPU per authorization;
2. unless ``--no-wrk``: ``--runs`` times ``wrk`` (``-c --users``, ``-d --seconds``) on the
   refresh grant (form body + HTTP Basic, a refresh token from a real authorization):
   requests/s, p50 and p99;
3. unless ``--no-wrk``: the authorization_code leg under ``wrk``, each request redeeming a
   fresh code (``--codes``, minted beforehand through real authorizations) until they run
   out: p50 and p99 (wrk waits out ``--code-seconds`` whatever happens, so no rate). 6,000
   codes by default: with 600, p99 is the 6 slowest requests, all in wrk's first second,
   when its 20 new connections start at once; a bare Starlette app on the same uvicorn shows
   that start too (max 50-60 ms, BENCHMARKS.md "Issue 28" > "Round 4"), so it is no measure
   of the code grant under load.

Each wrk row also has ``bridge_cpu_ms_per_request``: the bridge's CPU over the run divided by
its requests (usable under load, unlike requests/s and the percentiles).

``--workers N`` runs ``kore-plaid bridge --workers N`` and adds up the CPU of the supervisor
and its workers; ``--store postgresql`` puts the bridge on a throw-away PostgreSQL cluster
(its server's CPU is not the bridge's). On 2 cores the client and the emulator need CPU too,
so authorizations per wall second cannot show how far N workers scale; what can is
``authorizations_per_bridge_cpu_second``: N workers, each with a core of its own, would
complete N x that many per second, so the scaling of 2 workers is
``2 x cpu_ms(1 worker) / cpu_ms(2 workers)`` (1.8 needs at most 11 % more CPU per
authorization with 2 workers), as long as nothing serializes them without spending CPU
(SQLite's one writer at a time: each authorization holds the write lock for its
transactions, a ceiling of 1 / that time; ``bridge_cpu_share`` shows how busy the bridge was).
CPU per authorization also depends on how busy each worker is: a worker that waits for work
pays the wake-ups (one worker here: 2.8 ms per authorization at 100 a second, 2.0 ms flat out,
BENCHMARKS.md "Issue 28" > "Round 5"). Flat out, 2 workers each get half the load of one, so
``--rate`` compares them at the same load per worker: 1 worker at ``--rate R``, 2 at ``2R``.
``--profile FILE`` records py-spy's collapsed stacks of the bridge (every process) during
the CPU runs (``--gil``: only the thread holding the GIL, so threads waiting on a lock are
not counted as busy); ``benchmarks/profile_shares.py FILE`` sums them by area.

    .venv/bin/python benchmarks/bridge_cpu.py [--users 20] [--authorizations 300] [--runs 3]
        [--seconds 10] [--codes 6000] [--no-wrk] [--profile FILE] [--workers 1] [--rate 0]
        [--store sqlite|postgresql] [--postgres URL] [--gil] [--json FILE]
        [--no-cpu] [--no-codes] [--profile-refresh FILE]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bridge_throughput import TOKEN_PATH, Bench  # noqa: E402

from kore_plaid_nb import services  # noqa: E402
from kore_plaid_nb import settings as settings_module  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

REFRESH_LUA = """
wrk.method = "POST"
wrk.body = "grant_type=refresh_token&refresh_token={token}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic {basic}"
"""

# Each wrk thread takes every n-th code (its own Lua state); it stops when they run out.
CODES_LUA = """
local codes = {{{codes}}}
local threads, counter = {{}}, 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
function init(args)
  step = {threads}
  next_index = tid
  failures = 0
end
function request()
  local code = codes[next_index]
  next_index = next_index + step
  if code == nil then code = "exhausted" end
  return wrk.format("POST", nil, {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic {basic}"}},
    "grant_type=authorization_code&code=" .. code)
end
function response(status, headers, body)
  if next_index > #codes then wrk.thread:stop() end
end
"""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (every thread) and of its children (``--workers N``: the
    supervisor and its workers), from /proc/<pid>/stat."""
    user = system = 0.0
    for one in [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11]) / CLOCK_TICKS
        system += int(fields[12]) / CLOCK_TICKS
    return user, system


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) of the process ``pid``: its main thread (the event loop)
    and the others together (thread pool, the recorder's writer, the checkpointer)."""
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            name = "main" if task.name == str(pid) else "others"
            by_name[name] = by_name.get(name, 0.0) + used
    return by_name


def cpu_per_authorization(
    bench: Bench, users: int, count: int, rate: float = 0.0
) -> dict[str, float]:
    """Bridge CPU (ms) per authorization over ``count`` authorizations at ``users``; with a
    ``rate``, the n-th starts no sooner than n / ``rate`` seconds after the first."""
    before = cpu_seconds(bench.pid)
    began = time.perf_counter()

    def paced(n: int) -> dict[str, object]:
        if rate:
            time.sleep(max(0.0, began + n / rate - time.perf_counter()))
        return bench.authorization(n)

    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(paced, range(count)))
    wall = time.perf_counter() - began
    after = cpu_seconds(bench.pid)
    user, system = after[0] - before[0], after[1] - before[1]
    used = user + system
    return {
        "authorizations": len(results),
        "per_second": round(count / wall, 1),
        "bridge_cpu_ms_per_authorization": round(used * 1000 / count, 2),
        "authorizations_per_bridge_cpu_second": round(count / used, 1) if used else 0.0,
        "of_which_kernel_ms": round(system * 1000 / count, 2),
        "bridge_cpu_share": round(used / wall, 2),
    }


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, script: str, users: int, seconds: int, pid: int | None = None
) -> dict[str, float]:
    """Run wrk with ``script``; requests/s, p50, p99 and non-2xx answers; with ``pid``, the
    bridge's CPU (ms) per request too (usable under load, unlike requests/s)."""
    before = cpu_seconds(pid) if pid else (0.0, 0.0)
    threads_before = thread_cpu(pid) if pid else {}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        out = subprocess.run(  # noqa: S603 - wrk with fixed arguments
            ["wrk", "-t", "2", "-c", str(users), "-d", f"{seconds}s", "--latency", "-s",  # noqa: S607 - Debian's wrk on PATH
             lua.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(lua.name)
    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", out, re.M))
    if "99" not in pct:
        raise RuntimeError(f"wrk gave no percentiles:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    row = {
        "requests": requests,
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(to_ms(pct["50"]), 2),
        "p99_ms": round(to_ms(pct["99"]), 2),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }
    if pid:
        after = cpu_seconds(pid)
        used = after[0] - before[0] + after[1] - before[1]
        row["bridge_cpu_ms_per_request"] = round(used * 1000 / max(requests, 1), 3)
        row["of_which_kernel_ms"] = round((after[1] - before[1]) * 1000 / max(requests, 1), 3)
        threads_after = thread_cpu(pid)
        row["by_thread_ms"] = {  # per request; threads that ended meanwhile are missing
            name: round((used - threads_before.get(name, 0.0)) * 1000 / max(requests, 1), 3)
            for name, used in threads_after.items()
            if used > threads_before.get(name, 0.0)
        }
    return row


def fresh_codes(bench: Bench, users: int, count: int) -> list[str]:
    """``count`` unredeemed authorization codes, through real authorizations."""

    def one(_: int) -> str:
        http = bench.http()
        start = http.get(bench.url + "/?" + bench.query, headers={"Accept": "application/json"})
        done = http.post(
            bench.url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": bench.public_token()},
        )
        done.raise_for_status()
        return parse_qs(urlsplit(done.json()["redirect_to"]).query)["code"][0]

    with ThreadPoolExecutor(max_workers=users) as pool:
        return list(pool.map(one, range(count)))


def start_profiler(
    pid: int, out: Path, gil: bool = False, native: bool = False
) -> subprocess.Popen[bytes]:
    """py-spy (a dev tool: ``pip install py-spy``) sampling ``pid`` into ``out`` (collapsed
    stacks, one per line with its count: ``--format raw``), every thread, idle ones left out;
    ``gil``: only the thread holding the GIL (a thread waiting for a lock is not counted)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "1000",
               "--output", str(out), "--nonblocking", "--subprocesses"]  # fmt: skip
    if gil:
        command.append("--gil")
    if native:  # C frames too (the garbage collector, SQLite, OpenSSL): pauses the process
        command[command.index("--nonblocking")] = "--native"
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    time.sleep(1.0)  # attached before the load starts
    return profiler


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    profiler.wait(timeout=60)


def measure(bench: Bench, args: argparse.Namespace) -> dict[str, object]:
    for _ in range(10):  # warm-up: imports, connection pools, SQLite pages
        refresh_token = str(bench.authorization(0)["refresh_token"])
    figures: dict[str, object] = {"cpu": [], "refresh_wrk": [], "code_wrk": []}
    profiler = (
        start_profiler(bench.pid, args.profile, args.gil, args.native) if args.profile else None
    )
    try:
        for run in range(0 if args.no_cpu else args.runs):
            row = cpu_per_authorization(bench, args.users, args.authorizations, args.rate)
            figures["cpu"].append(row)
            print(f"run {run + 1}: {row}", flush=True)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
    if args.no_wrk or not shutil.which("wrk"):
        return figures
    basic = base64.b64encode(f"{bench.auth[0]}:{bench.auth[1]}".encode()).decode()
    token_url = bench.url + TOKEN_PATH
    refresh_lua = REFRESH_LUA.format(token=refresh_token, basic=basic)
    profiler = (
        start_profiler(bench.pid, args.profile_refresh, args.gil, args.native)
        if args.profile_refresh
        else None
    )
    try:
        for run in range(args.runs):
            row = run_wrk(token_url, refresh_lua, args.users, args.seconds, bench.pid)
            figures["refresh_wrk"].append(row)
            print(f"refresh grant, wrk run {run + 1}: {row}", flush=True)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
    for run in range(0 if args.no_codes else args.runs):
        codes = fresh_codes(bench, args.users, args.codes)
        script = CODES_LUA.format(codes=",".join(f'"{c}"' for c in codes), threads=2, basic=basic)
        row = run_wrk(token_url, script, args.users, args.code_seconds, bench.pid)
        figures["code_wrk"].append(row)
        print(f"authorization_code grant, wrk run {run + 1}: {row}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--authorizations", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run (refresh grant)")
    parser.add_argument("--codes", type=int, default=6000, help="per wrk run (code grant)")
    parser.add_argument(
        "--code-seconds",
        type=int,
        default=5,
        help="per wrk run (code grant; wrk always runs"
        " this long, its threads stop when the codes run out, so its requests/s means nothing)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="authorizations started per second (0: as fast as --users go); for --workers "
        "scaling at the same load per worker: 1 worker at R against N workers at N x R",
    )
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--no-cpu", action="store_true", help="skip the authorization runs")
    parser.add_argument("--no-codes", action="store_true", help="skip the code grant's wrk")
    parser.add_argument(
        "--profile-refresh",
        type=Path,
        default=None,
        help="py-spy the bridge during the refresh grant's wrk runs into this file",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="bridge processes (kore-plaid bridge --workers N); CPU is summed over them all",
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: a throw-away cluster (tests/postgres_cluster.py), or --postgres",
    )
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL for --store postgresql")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the bridge during the CPU runs (--format raw: collapsed stacks) into this"
        " file; summarize with benchmarks/profile_shares.py (py-spy's own CPU is not the bridge's)",
    )
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: sample only the GIL's holder"
    )
    parser.add_argument(
        "--native", action="store_true", help="with --profile: C frames too (py-spy --native)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith(("PLAID_", "KORE_", "BRIDGE_"))]:
        del os.environ[name]
    with contextlib.ExitStack() as cleanup:
        db_url = store_url(args, cleanup)
        figures = run(args, db_url)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def store_url(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> str | None:
    """BRIDGE_DB for ``--store postgresql``: ``--postgres``, else a throw-away cluster's."""
    if args.store != "postgresql":
        return None
    if args.postgres:
        return str(args.postgres)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from postgres_cluster import PostgresCluster

    cluster = cleanup.enter_context(PostgresCluster())
    return str(cluster.create_database())


def run(args: argparse.Namespace, db_url: str | None) -> dict[str, object]:
    """Start the emulator and the bridge in a throw-away state folder and measure."""
    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        os.environ.update({"KORE_PLAID_HOME": str(home), "KORE_PLAID_ENV_FILE": str(home / ".env")})
        # a load test is the flood the session limits refuse: lift them
        os.environ.update({"BRIDGE_SESSIONS_PER_ADDRESS": "0", "BRIDGE_SESSIONS_PER_MINUTE": "0"})
        emulator_port, bridge_port = services.free_port(), services.free_port()
        settings = settings_module.load().with_values(
            plaid_api_url=f"http://127.0.0.1:{emulator_port}", app_port=bridge_port
        )
        if db_url:
            settings = settings.with_values(bridge_db=db_url)
        bridge_command = ["bridge", "--port", str(bridge_port), "--workers", str(args.workers)]
        env = settings.as_env()
        try:
            services.ensure_running(
                home, "emulator", ["sandbox", "--port", str(emulator_port)], emulator_port, env=env
            )
            bridge = services.ensure_running(home, "bridge", bridge_command, bridge_port, env=env)
            return measure(Bench(bridge.url, bridge.pid, settings), args)
        finally:
            services.stop_all(home)


if __name__ == "__main__":
    sys.exit(main())
