"""Bridge throughput: full authorizations per second, latency, token endpoint, overhead, memory.

Starts the Plaid emulator and the bridge as background processes (a throw-away state folder)
and measures, each with a bounded number of requests:

1. full end-user authorizations ``authorize (GET /, JSON) -> Link (sandbox public token,
   plaid-python) -> POST /api/set_access_token -> POST /api/send_the_access_token_AUTH`` at
   each concurrency of ``--levels``: authorizations/s and per-authorization p50/p99;
2. the token endpoint alone (refresh grant) at ``--users`` concurrent clients;
3. the bridge's overhead over the emulator's own exchange call: ``POST /api/set_access_token``
   (exchange + SQLite commits; no /item/get since issue 14) against
   ``POST /item/public_token/exchange`` sent
   straight to the emulator, one at a time, same HTTP client - as a ratio of medians;
4. the bridge process's memory (RSS, psutil) at rest and its peak under load.

    .venv/bin/python benchmarks/bridge_throughput.py [--levels 1,20,100] [--users 20]
        [--authorizations 400] [--refreshes 2000] [--overhead 100] [--json FILE]

``--authorizations`` is per level (level 1 runs a quarter of it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psutil
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kore_plaid_nb import plaid_client, services  # noqa: E402
from kore_plaid_nb import settings as settings_module  # noqa: E402

TOKEN_PATH = "/api/send_the_access_token_AUTH"  # noqa: S105 - a path


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 1),
        "p99_ms": round(percentile(values_ms, 99), 1),
    }


class RssSampler:
    """Peak resident memory of one process, sampled every 20 ms while running."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=None, help="concurrencies, e.g. 1,20,100")
    parser.add_argument("--users", type=int, default=20, help="concurrent clients (default)")
    parser.add_argument("--authorizations", type=int, default=400, help="full flows per level")
    parser.add_argument("--refreshes", type=int, default=2000, help="refresh-grant requests")
    parser.add_argument("--overhead", type=int, default=100, help="exchanges per side (0: skip)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")] if args.levels else [args.users]

    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        emulator_port, bridge_port = services.free_port(), services.free_port()
        for name in [n for n in os.environ if n.startswith(("PLAID_", "KORE_", "BRIDGE_"))]:
            del os.environ[name]
        os.environ.update({"KORE_PLAID_HOME": str(home), "KORE_PLAID_ENV_FILE": str(home / ".env")})
        # a load test is the flood the session limits refuse: lift them
        os.environ.update({"BRIDGE_SESSIONS_PER_ADDRESS": "0", "BRIDGE_SESSIONS_PER_MINUTE": "0"})
        settings = settings_module.load().with_values(
            plaid_api_url=f"http://127.0.0.1:{emulator_port}", app_port=bridge_port
        )
        try:
            services.ensure_running(
                home,
                "emulator",
                ["sandbox", "--port", str(emulator_port)],
                emulator_port,
                env=settings.as_env(),
            )
            bridge = services.ensure_running(
                home,
                "bridge",
                ["bridge", "--port", str(bridge_port)],
                bridge_port,
                env=settings.as_env(),
            )
            figures = Bench(bridge.url, bridge.pid, settings).run(levels, args)
        finally:
            services.stop_all(home)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


class Bench:
    def __init__(self, url: str, pid: int, settings: settings_module.Settings) -> None:
        self.url = url
        self.pid = pid
        self.settings = settings
        self.plaid = plaid_client.create(settings)
        self.auth = (settings.client_id, settings.secret)
        self.query = urlencode(
            {
                "response_type": "code",
                "client_id": settings.client_id,
                "redirect_uri": settings.simulator_callback,
                "state": "bench",
            }
        )
        self._local = threading.local()
        self._clients: list[httpx.Client] = []

    def http(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(timeout=60)
            self._clients.append(self._local.client)
        return self._local.client

    def public_token(self) -> str:
        """What Plaid Link hands the page on success (the emulator's sandbox endpoint)."""
        request = SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("transactions")]
        )
        return self.plaid.sandbox_public_token_create(request).public_token

    def authorization(self, _: int) -> dict[str, object]:
        """One end user's whole authorization; times the whole and its last two legs."""
        http = self.http()
        began = time.perf_counter()
        start = http.get(self.url + "/?" + self.query, headers={"Accept": "application/json"})
        start.raise_for_status()
        public_token = self.public_token()
        linked = time.perf_counter()
        done = http.post(
            self.url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": public_token},
        )
        done.raise_for_status()
        code = parse_qs(urlsplit(done.json()["redirect_to"]).query)["code"][0]
        exchanged = time.perf_counter()
        token = http.post(
            self.url + TOKEN_PATH,
            data={"grant_type": "authorization_code", "code": code},
            auth=self.auth,
        )
        token.raise_for_status()
        ended = time.perf_counter()
        return {
            "total_ms": (ended - began) * 1000,
            "set_access_token_ms": (exchanged - linked) * 1000,
            "token_ms": (ended - exchanged) * 1000,
            "refresh_token": token.json()["refresh_token"],
        }

    def run(self, levels: list[int], args: argparse.Namespace) -> dict[str, object]:
        rss = RssSampler(self.pid)
        figures: dict[str, object] = {"bridge": self.url, "levels": {}}
        figures["rss_at_start_mib"] = round(rss.now() / 2**20, 1)
        for _ in range(5):  # warm-up: imports, connection pools, SQLite pages
            self.authorization(0)
        figures["rss_at_rest_mib"] = round(rss.now() / 2**20, 1)
        print(f"bridge {self.url}, emulator {self.settings.plaid_api_url}")
        print(
            f"bridge RSS: {figures['rss_at_start_mib']} MiB after start, "
            f"{figures['rss_at_rest_mib']} MiB at rest after 5 authorizations"
        )

        refresh_tokens: list[str] = []
        with rss:
            for level in levels:
                count = max(level, args.authorizations // 4 if level == 1 else args.authorizations)
                began = time.perf_counter()
                with ThreadPoolExecutor(max_workers=level) as pool:
                    results = list(pool.map(self.authorization, range(count)))
                wall = time.perf_counter() - began
                refresh_tokens += [str(r["refresh_token"]) for r in results]
                row = {
                    "authorizations": count,
                    "seconds": round(wall, 2),
                    "per_second": round(count / wall, 1),
                    "authorization": summary([float(r["total_ms"]) for r in results]),
                    "set_access_token": summary([float(r["set_access_token_ms"]) for r in results]),
                    "token_authorization_code": summary([float(r["token_ms"]) for r in results]),
                }
                figures["levels"][str(level)] = row
                a = row["authorization"]
                print(
                    f"{level:>3} concurrent users: {count} full authorizations in {wall:.2f} s = "
                    f"{row['per_second']} auth/s; per authorization p50 {a['p50_ms']} ms, "
                    f"p99 {a['p99_ms']} ms (token leg p50 "
                    f"{row['token_authorization_code']['p50_ms']} ms)"
                )
            figures["rss_peak_under_load_mib"] = round(rss.peak / 2**20, 1)

            def refresh(n: int) -> float:
                began = time.perf_counter()
                response = self.http().post(
                    self.url + TOKEN_PATH,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_tokens[n % len(refresh_tokens)],
                    },
                    auth=self.auth,
                )
                response.raise_for_status()
                return (time.perf_counter() - began) * 1000

            figures["token_endpoint_refresh"] = {}
            for clients in sorted({1, args.users}):
                requests = args.refreshes if clients > 1 else max(1, args.refreshes // 4)
                began = time.perf_counter()
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    refresh_ms = list(pool.map(refresh, range(requests)))
                wall = time.perf_counter() - began
                t = {
                    "concurrency": clients,
                    "per_second": round(len(refresh_ms) / wall, 1),
                    **summary(refresh_ms),
                }
                figures["token_endpoint_refresh"][str(clients)] = t
                print(
                    f"token endpoint alone (refresh_token grant), {clients} concurrent clients, "
                    f"{len(refresh_ms)} requests: {t['per_second']} req/s, p50 {t['p50_ms']} ms, "
                    f"p99 {t['p99_ms']} ms"
                )
        figures["rss_after_load_mib"] = round(rss.now() / 2**20, 1)
        figures["rss_peak_under_load_mib"] = round(max(rss.peak, rss.now()) / 2**20, 1)
        print(
            f"bridge RSS peak under load: {figures['rss_peak_under_load_mib']} MiB; "
            f"after load: {figures['rss_after_load_mib']} MiB"
        )
        if args.overhead:
            figures["exchange_overhead"] = self.overhead(args.overhead)
        for client in self._clients:
            client.close()
        return figures

    def overhead(self, count: int) -> dict[str, object]:
        """Median set_access_token at the bridge / median exchange at the emulator."""
        http = self.http()
        headers = {"PLAID-CLIENT-ID": self.settings.client_id, "PLAID-SECRET": self.settings.secret}
        emulator = self.settings.plaid_api_url
        direct, item_get, bridge = [], [], []
        for _ in range(count):
            public_token = self.public_token()
            began = time.perf_counter()
            answer = http.post(
                emulator + "/item/public_token/exchange",
                json={"public_token": public_token},
                headers=headers,
            )
            direct.append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
            began = time.perf_counter()
            http.post(
                emulator + "/item/get",
                json={"access_token": answer.json()["access_token"]},
                headers=headers,
            ).raise_for_status()
            item_get.append((time.perf_counter() - began) * 1000)
        for _ in range(count):
            start = http.get(self.url + "/?" + self.query, headers={"Accept": "application/json"})
            public_token = self.public_token()
            began = time.perf_counter()
            http.post(
                self.url + "/api/set_access_token",
                json={"session": start.json()["session"], "public_token": public_token},
            ).raise_for_status()
            bridge.append((time.perf_counter() - began) * 1000)
        result = {
            "emulator_exchange": summary(direct),
            "emulator_exchange_plus_item_get": summary(
                [a + b for a, b in zip(direct, item_get, strict=True)]
            ),
            "bridge_set_access_token": summary(bridge),
        }
        ratio = statistics.median(bridge) / statistics.median(direct)
        ratio_both = statistics.median(bridge) / statistics.median(
            [a + b for a, b in zip(direct, item_get, strict=True)]
        )
        result["ratio_vs_exchange"] = round(ratio, 2)
        result["ratio_vs_exchange_plus_item_get"] = round(ratio_both, 2)
        print(
            f"exchange overhead, one at a time, {count} each: emulator /item/public_token/exchange "
            f"p50 {result['emulator_exchange']['p50_ms']} ms (+ /item/get "
            f"{result['emulator_exchange_plus_item_get']['p50_ms']} ms); bridge "
            f"/api/set_access_token p50 {result['bridge_set_access_token']['p50_ms']} ms "
            f"= {ratio:.2f}x the exchange alone, {ratio_both:.2f}x exchange + item/get"
        )
        return result


if __name__ == "__main__":
    sys.exit(main())
