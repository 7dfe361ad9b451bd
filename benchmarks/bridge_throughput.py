"""Bridge throughput: full authorizations per second and token-endpoint latency.

Starts the Plaid emulator and the bridge as background processes (a throw-away state folder),
runs ``authorize (GET /, JSON) -> Link (sandbox public token, plaid-python) ->
POST /api/set_access_token -> POST /api/send_the_access_token_AUTH`` for a bounded number of
end users at a fixed concurrency, then a refresh-grant phase, prints the figures and stops
everything.

    .venv/bin/python benchmarks/bridge_throughput.py [--users 20] [--authorizations 400]
                                                      [--refreshes 2000]
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent end users")
    parser.add_argument("--authorizations", type=int, default=400, help="full flows in total")
    parser.add_argument("--refreshes", type=int, default=2000, help="refresh-grant requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        emulator_port, bridge_port = services.free_port(), services.free_port()
        base_env = {
            "KORE_PLAID_HOME": str(home),
            "KORE_PLAID_ENV_FILE": str(home / ".env"),
            "PLAID_CLIENT_ID": "",
            "PLAID_SECRET": "",
        }
        os.environ.update(base_env)
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
            return run(bridge.url, settings, args)
        finally:
            services.stop_all(home)


def run(url: str, settings: settings_module.Settings, args: argparse.Namespace) -> int:
    plaid = plaid_client.create(settings)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": settings.simulator_callback,
            "state": "bench",
        }
    )
    auth = (settings.client_id, settings.secret)
    clients: dict[int, httpx.Client] = {}

    def client() -> httpx.Client:
        key = threading.get_ident()
        if key not in clients:
            clients[key] = httpx.Client(timeout=30)
        return clients[key]

    def authorization(_: int) -> tuple[float, str]:
        http = client()
        start = http.get(url + "/?" + query, headers={"Accept": "application/json"}).json()
        public_token = plaid.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("transactions")]
            )
        ).public_token
        done = http.post(
            url + "/api/set_access_token",
            json={"session": start["session"], "public_token": public_token},
        ).json()
        code = parse_qs(urlsplit(done["redirect_to"]).query)["code"][0]
        began = time.perf_counter()
        token = http.post(
            url + TOKEN_PATH, data={"grant_type": "authorization_code", "code": code}, auth=auth
        )
        elapsed = time.perf_counter() - began
        token.raise_for_status()
        return elapsed, token.json()["refresh_token"]

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.users) as pool:
        results = list(pool.map(authorization, range(args.authorizations)))
    wall = time.perf_counter() - began
    exchange_ms = [elapsed * 1000 for elapsed, _ in results]
    refresh_tokens = [token for _, token in results]

    def refresh(n: int) -> float:
        http = client()
        began = time.perf_counter()
        response = http.post(
            url + TOKEN_PATH,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_tokens[n % len(refresh_tokens)],
            },
            auth=auth,
        )
        elapsed = time.perf_counter() - began
        response.raise_for_status()
        return elapsed * 1000

    with ThreadPoolExecutor(max_workers=args.users) as pool:
        refresh_ms = list(pool.map(refresh, range(args.refreshes)))
    for http in clients.values():
        http.close()

    print(f"bridge {url}, emulator {settings.plaid_api_url}, {args.users} concurrent users")
    print(
        f"full authorizations (authorize -> Link public token -> set_access_token -> token): "
        f"{args.authorizations} in {wall:.2f} s = {args.authorizations / wall:.1f} auth/s"
    )
    print(
        f"token endpoint, authorization_code ({len(exchange_ms)} requests): "
        f"p50 {statistics.median(exchange_ms):.1f} ms, p99 {percentile(exchange_ms, 99):.1f} ms"
    )
    print(
        f"token endpoint, refresh_token ({len(refresh_ms)} requests): "
        f"p50 {statistics.median(refresh_ms):.1f} ms, p99 {percentile(refresh_ms, 99):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
