"""Bridge replicas: authorizations/s and token p99 with 1 and 2 replicas, SQLite vs PostgreSQL.

For each configuration, starts the Plaid emulator and the replicas as background processes
(``kore-plaid bridge`` on one store) and sends every leg of every end user's authorization to
a replica picked at random (a flow starts on one and finishes on another, as behind a load
balancer). Measures full authorizations at ``--users`` concurrent users, then the token
endpoint's refresh grant at ``--users`` concurrent clients. PostgreSQL is a throw-away
cluster (``tests/postgres_cluster.py``) unless ``--postgres URL`` names a database.

    .venv/bin/python benchmarks/bridge_replicas.py [--users 20] [--authorizations 300]
        [--refreshes 2000] [--configs sqlite:1,sqlite:2,postgresql:1,postgresql:2]
        [--postgres URL] [--json FILE]

Two SQLite "replicas" are two processes on one file (one host only). On a 2-core machine the
client, the emulator and the replicas share the cores: more replicas add no CPU, so the table
shows the cost of sharing the store, not scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bridge_throughput import TOKEN_PATH, Bench, summary  # noqa: E402

from kore_plaid_nb import services  # noqa: E402
from kore_plaid_nb import settings as settings_module  # noqa: E402


class SplitBench(Bench):
    """:class:`Bench` whose every request goes to one of several replicas, at random."""

    def __init__(self, urls: list[str], settings: settings_module.Settings) -> None:
        self.urls = urls
        super().__init__(urls[0], 0, settings)

    @property
    def url(self) -> str:
        return random.choice(self.urls)  # noqa: S311 - load spreading

    @url.setter
    def url(self, value: str) -> None:
        pass


def measure(bench: SplitBench, users: int, authorizations: int, refreshes: int) -> dict:
    for _ in range(5):  # warm-up
        bench.authorization(0)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(bench.authorization, range(authorizations)))
    wall = time.perf_counter() - began
    tokens = [str(r["refresh_token"]) for r in results]

    def refresh(n: int) -> float:
        began = time.perf_counter()
        bench.http().post(
            bench.url + TOKEN_PATH,
            data={"grant_type": "refresh_token", "refresh_token": tokens[n % len(tokens)]},
            auth=bench.auth,
        ).raise_for_status()
        return (time.perf_counter() - began) * 1000

    refresh_began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        refresh_ms = list(pool.map(refresh, range(refreshes)))
    refresh_wall = time.perf_counter() - refresh_began
    return {
        "authorizations_per_second": round(authorizations / wall, 1),
        "authorization": summary([float(r["total_ms"]) for r in results]),
        "token_authorization_code": summary([float(r["token_ms"]) for r in results]),
        "refresh_per_second": round(refreshes / refresh_wall, 1),
        "token_refresh": summary(refresh_ms),
    }


def run_config(backend: str, replicas: int, db_url: str | None, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        os.environ.update({"KORE_PLAID_HOME": str(home), "KORE_PLAID_ENV_FILE": str(home / ".env")})
        # a load test is the flood the session limits refuse: lift them
        os.environ.update({"BRIDGE_SESSIONS_PER_ADDRESS": "0", "BRIDGE_SESSIONS_PER_MINUTE": "0"})
        emulator_port = services.free_port()
        settings = settings_module.load().with_values(
            plaid_api_url=f"http://127.0.0.1:{emulator_port}",
            bridge_db=db_url if backend == "postgresql" else str(home / "bridge.sqlite3"),
        )
        env = settings.as_env()
        try:
            services.ensure_running(
                home, "emulator", ["sandbox", "--port", str(emulator_port)], emulator_port, env=env
            )
            urls = []
            for n in range(replicas):
                port = services.free_port()
                record = services.ensure_running(
                    home, f"bridge-{n}", ["bridge", "--port", str(port)], port, env=env
                )
                urls.append(record.url)
            return measure(
                SplitBench(urls, settings), args.users, args.authorizations, args.refreshes
            )
        finally:
            services.stop_all(home)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--authorizations", type=int, default=300)
    parser.add_argument("--refreshes", type=int, default=2000)
    parser.add_argument("--configs", default="sqlite:1,sqlite:2,postgresql:1,postgresql:2")
    parser.add_argument("--postgres", default=None, help="a database URL (default: throw-away)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith(("PLAID_", "KORE_", "BRIDGE_"))]:
        del os.environ[name]
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    cluster = None
    if any(backend == "postgresql" for backend, _ in configs) and not args.postgres:
        from postgres_cluster import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
    table = []
    try:
        for backend, replicas in configs:
            db_url = args.postgres or (cluster.create_database() if cluster else None)
            row = {"backend": backend, "replicas": replicas}
            row.update(run_config(backend, replicas, db_url, args))
            table.append(row)
            print(
                f"{backend:<10} x{replicas}: {row['authorizations_per_second']:>6} auth/s "
                f"(p50 {row['authorization']['p50_ms']} ms, p99 {row['authorization']['p99_ms']}"
                f" ms); token code leg p99 {row['token_authorization_code']['p99_ms']} ms; "
                f"refresh {row['refresh_per_second']} req/s, p50 "
                f"{row['token_refresh']['p50_ms']} ms, p99 {row['token_refresh']['p99_ms']} ms",
                flush=True,
            )
    finally:
        if cluster is not None:
            cluster.remove()
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
