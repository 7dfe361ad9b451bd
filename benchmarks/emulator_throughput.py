"""Emulator start time and /accounts/get throughput at 20 concurrent clients.

Run from the checkout: ``.venv/bin/python benchmarks/emulator_throughput.py``
(options: ``--clients 20 --requests 4000 --starts 3``). It starts ``kore-plaid sandbox`` as a
separate process with a throwaway state folder, times process start -> ``/healthz`` answering,
creates one Item, runs a bounded number of loopback ``/accounts/get`` calls from N concurrent
keep-alive clients (plain HTTP/1.1 on asyncio), prints req/s and latency p50/p99, and stops
the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kore_plaid_nb.services import free_port  # noqa: E402
from kore_plaid_nb.settings import DEMO_CLIENT_ID, DEMO_SECRET  # noqa: E402

HEADERS = {"PLAID-CLIENT-ID": DEMO_CLIENT_ID, "PLAID-SECRET": DEMO_SECRET}


def start(home: str, port: int) -> tuple[subprocess.Popen, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAID_", "KORE_"))}
    env |= {"KORE_PLAID_HOME": home, "KORE_PLAID_ENV_FILE": str(Path(home) / ".env")}
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - this project's own command
        [sys.executable, "-m", "kore_plaid_nb", "sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/healthz"
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.perf_counter() - started > 60:
            raise SystemExit("the emulator did not start")
        time.sleep(0.005)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def access_token(base: str) -> str:
    public = httpx.post(
        base + "/sandbox/public_token/create",
        json={"institution_id": "ins_109508", "initial_products": ["auth"]},
        headers=HEADERS,
    ).json()["public_token"]
    return httpx.post(
        base + "/item/public_token/exchange", json={"public_token": public}, headers=HEADERS
    ).json()["access_token"]


async def load(base: str, token: str, clients: int, total: int) -> tuple[float, list[float]]:
    """``total`` POST /accounts/get calls from ``clients`` keep-alive connections.

    The client speaks plain HTTP/1.1 on asyncio streams so that it costs little CPU: on a
    2-core machine a heavier client (httpx) would measure itself more than the emulator.
    """
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps({"access_token": token}).encode()
    request = (
        f"POST /accounts/get HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"PLAID-CLIENT-ID: {DEMO_CLIENT_ID}\r\nPLAID-SECRET: {DEMO_SECRET}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    latencies: list[float] = []
    remaining = total

    async def client() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while remaining > 0:
                remaining -= 1
                sent = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - sent)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"unexpected answer: {head[:40]!r} {body[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=4000, help="total, after warm-up")
    parser.add_argument("--starts", type=int, default=3, help="start-time samples")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as home:
        start_times = []
        for _ in range(args.starts - 1):
            process, seconds = start(home, free_port())
            start_times.append(seconds)
            stop(process)
        port = free_port()
        process, seconds = start(home, port)
        start_times.append(seconds)
        try:
            base = f"http://127.0.0.1:{port}"
            token = access_token(base)
            asyncio.run(load(base, token, args.clients, 200))  # warm-up
            cpu_before = cpu_seconds(process.pid)
            elapsed, latencies = asyncio.run(load(base, token, args.clients, args.requests))
            server_cpu = cpu_seconds(process.pid) - cpu_before
        finally:
            stop(process)

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(
        f"start (process start -> /healthz 200), {len(start_times)} runs: "
        f"median {statistics.median(start_times):.2f} s, "
        f"min {min(start_times):.2f} s, max {max(start_times):.2f} s"
    )
    print(
        f"/accounts/get, {args.clients} concurrent clients, {len(latencies)} requests: "
        f"{len(latencies) / elapsed:.0f} req/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms"
    )
    if server_cpu > 0:
        print(
            f"emulator CPU: {server_cpu / len(latencies) * 1e6:.0f} us per request "
            f"({server_cpu / elapsed:.0%} of one core; the rest of the machine ran the clients)"
        )


if __name__ == "__main__":
    main()
