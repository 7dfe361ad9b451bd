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
   out: p50 and p99 (wrk waits out ``--code-seconds`` whatever happens, so no rate).

    .venv/bin/python benchmarks/bridge_cpu.py [--users 20] [--authorizations 300] [--runs 3]
        [--seconds 10] [--codes 600] [--no-wrk] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
    """(utime, stime) of a process (every thread), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_per_authorization(bench: Bench, users: int, count: int) -> dict[str, float]:
    """Bridge CPU (ms) per authorization over ``count`` authorizations at ``users``."""
    before = cpu_seconds(bench.pid)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(bench.authorization, range(count)))
    wall = time.perf_counter() - began
    after = cpu_seconds(bench.pid)
    user, system = after[0] - before[0], after[1] - before[1]
    used = user + system
    return {
        "authorizations": len(results),
        "per_second": round(count / wall, 1),
        "bridge_cpu_ms_per_authorization": round(used * 1000 / count, 2),
        "of_which_kernel_ms": round(system * 1000 / count, 2),
        "bridge_cpu_share": round(used / wall, 2),
    }


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: str, users: int, seconds: int) -> dict[str, float]:
    """Run wrk with ``script``; requests/s, p50, p99 and non-2xx answers."""
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
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(to_ms(pct["50"]), 2),
        "p99_ms": round(to_ms(pct["99"]), 2),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


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


def measure(bench: Bench, args: argparse.Namespace) -> dict[str, object]:
    for _ in range(10):  # warm-up: imports, connection pools, SQLite pages
        refresh_token = str(bench.authorization(0)["refresh_token"])
    figures: dict[str, object] = {"cpu": [], "refresh_wrk": [], "code_wrk": []}
    for run in range(args.runs):
        row = cpu_per_authorization(bench, args.users, args.authorizations)
        figures["cpu"].append(row)
        print(f"run {run + 1}: {row}", flush=True)
    if args.no_wrk or not shutil.which("wrk"):
        return figures
    basic = base64.b64encode(f"{bench.auth[0]}:{bench.auth[1]}".encode()).decode()
    token_url = bench.url + TOKEN_PATH
    refresh_lua = REFRESH_LUA.format(token=refresh_token, basic=basic)
    for run in range(args.runs):
        row = run_wrk(token_url, refresh_lua, args.users, args.seconds)
        figures["refresh_wrk"].append(row)
        print(f"refresh grant, wrk run {run + 1}: {row}", flush=True)
    for run in range(args.runs):
        codes = fresh_codes(bench, args.users, args.codes)
        script = CODES_LUA.format(codes=",".join(f'"{c}"' for c in codes), threads=2, basic=basic)
        row = run_wrk(token_url, script, args.users, args.code_seconds)
        figures["code_wrk"].append(row)
        print(f"authorization_code grant, wrk run {run + 1}: {row}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--authorizations", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run (refresh grant)")
    parser.add_argument("--codes", type=int, default=600, help="per wrk run (code grant)")
    parser.add_argument(
        "--code-seconds",
        type=int,
        default=3,
        help="per wrk run (code grant; wrk always runs"
        " this long, its threads stop when the codes run out, so its requests/s means nothing)",
    )
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith(("PLAID_", "KORE_", "BRIDGE_"))]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        os.environ.update({"KORE_PLAID_HOME": str(home), "KORE_PLAID_ENV_FILE": str(home / ".env")})
        # a load test is the flood the session limits refuse: lift them
        os.environ.update({"BRIDGE_SESSIONS_PER_ADDRESS": "0", "BRIDGE_SESSIONS_PER_MINUTE": "0"})
        emulator_port, bridge_port = services.free_port(), services.free_port()
        settings = settings_module.load().with_values(
            plaid_api_url=f"http://127.0.0.1:{emulator_port}", app_port=bridge_port
        )
        env = settings.as_env()
        try:
            services.ensure_running(
                home, "emulator", ["sandbox", "--port", str(emulator_port)], emulator_port, env=env
            )
            bridge = services.ensure_running(
                home, "bridge", ["bridge", "--port", str(bridge_port)], bridge_port, env=env
            )
            figures = measure(Bench(bridge.url, bridge.pid, settings), args)
        finally:
            services.stop_all(home)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
