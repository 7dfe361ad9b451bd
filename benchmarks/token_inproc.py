"""The token endpoint's refresh grant in-process: CPU per request through the bridge's ASGI
app, no HTTP server nor client in the loop (usable on a busy machine: it reads the event
loop thread's CPU time, not the wall clock).

Starts the emulator and the bridge (a throw-away state folder) for one real authorization,
stops the bridge, builds the app in this process on the same store, warms it up, then sends
``--n`` refresh requests, 20 at a time, on uvloop when installed. ``--profile FILE``: a
cProfile of the measured requests (slower), with the shares by area of
:mod:`profile_shares` (each function's own time; the profiler's overhead inflates Python
calls, so read them as directions).

    .venv/bin/python benchmarks/token_inproc.py [--n 3000] [--runs 3] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bridge_throughput import TOKEN_PATH, Bench  # noqa: E402
from profile_shares import AREAS  # noqa: E402

from kore_plaid_nb import services  # noqa: E402
from kore_plaid_nb import settings as settings_module  # noqa: E402
from kore_plaid_nb.bridge import create_app  # noqa: E402

CONCURRENT = 20
WARM_UP = 200


def scope_for(body: bytes, basic: str) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"authorization", f"Basic {basic}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": TOKEN_PATH,
        "raw_path": TOKEN_PATH.encode(),
        "query_string": b"",
        "state": {},
        "headers": headers,
    }


async def drive(app: Any, n: int, runs: int, body: bytes, basic: str, profile: str | None) -> None:
    statuses: list[int] = []

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope_for(body, basic), receive, send)

    async with app.router.lifespan_context(app):
        for _ in range(WARM_UP):
            await one()
        for _ in range(runs):
            statuses.clear()
            profiler = cProfile.Profile() if profile else None
            cpu, wall = time.thread_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            batches = []
            for _ in range(n // CONCURRENT):
                batch = time.thread_time()
                await asyncio.gather(*(one() for _ in range(CONCURRENT)))
                batches.append((time.thread_time() - batch) / CONCURRENT)
            if profiler:
                profiler.disable()
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            bad = sum(1 for status in statuses if status != 200)
            batches.sort()
            print(
                f"{len(statuses)} refreshes, {bad} not 200: CPU per request "
                f"{1000 * cpu / len(statuses):.3f} ms (event loop thread; batches of "
                f"{CONCURRENT}: p10 {1000 * batches[len(batches) // 10]:.3f} ms), wall "
                f"{1000 * wall / len(statuses):.3f} ms"
            )
            if profiler and profile:
                profiler.dump_stats(profile)
                print_shares(profile)


def print_shares(path: str) -> None:
    """Each function's own time, by the first area of :data:`profile_shares.AREAS` its file
    matches; a function of none (the standard library, a builtin) counts for its callers'
    areas, in proportion to the time each call took."""
    stats: Any = pstats.Stats(path)
    rows: dict[Any, Any] = stats.stats
    areas: Counter[str] = Counter()
    for func, row in rows.items():
        for area, share in areas_of(func, rows, set()).items():
            areas[area] += row[2] * share
    total = sum(areas.values())
    for area, seconds in areas.most_common():
        print(f"  {area:<20} {100 * seconds / total:5.1f} %")


def areas_of(func: Any, rows: dict[Any, Any], seen: set[Any]) -> Counter[str]:
    file, _line, function = func
    where = f"{function} ({file})"
    area = next((name for name, pattern in AREAS if re.search(pattern, where)), None)
    if area is not None:
        return Counter({area: 1.0})
    callers = {caller: row[3] for caller, row in rows[func][4].items() if caller not in seen}
    total = sum(callers.values())
    if not total:
        return Counter({"other": 1.0})
    shares: Counter[str] = Counter()
    for caller, seconds in callers.items():
        for name, share in areas_of(caller, rows, seen | {func}).items():
            shares[name] += share * seconds / total
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith(("PLAID_", "KORE_", "BRIDGE_"))]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="token-inproc-") as folder:
        home = Path(folder)
        os.environ.update(
            {
                "KORE_PLAID_HOME": str(home),
                "KORE_PLAID_ENV_FILE": str(home / ".env"),
                "BRIDGE_SESSIONS_PER_ADDRESS": "0",
                "BRIDGE_SESSIONS_PER_MINUTE": "0",
            }
        )
        emulator_port, bridge_port = services.free_port(), services.free_port()
        settings = settings_module.load().with_values(
            plaid_api_url=f"http://127.0.0.1:{emulator_port}", app_port=bridge_port
        )
        env = settings.as_env()
        os.environ.update(env)
        try:
            services.ensure_running(
                home, "emulator", ["sandbox", "--port", str(emulator_port)], emulator_port, env=env
            )
            bridge = services.ensure_running(
                home, "bridge", ["bridge", "--port", str(bridge_port)], bridge_port, env=env
            )
            bench = Bench(bridge.url, bridge.pid, settings)
            token = str(bench.authorization(0)["refresh_token"])
            services.stop(home, "bridge")
            app = create_app(settings_module.load())
            basic = base64.b64encode(f"{bench.auth[0]}:{bench.auth[1]}".encode()).decode()
            body = f"grant_type=refresh_token&refresh_token={token}".encode()
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
            asyncio.run(drive(app, args.n, args.runs, body, basic, args.profile))
        finally:
            services.stop_all(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
