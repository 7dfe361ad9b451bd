"""A real Prometheus server for tests and tools (Debian's ``/usr/bin/prometheus``).

:func:`running_prometheus` writes a scrape configuration for the given targets (every second,
rules evaluated every second), starts the server on a free loopback port with a throw-away data
folder (0700), waits for ``/-/ready`` and always stops it: no process is left behind.
:class:`Prometheus` asks its HTTP API (``/api/v1/query``, ``/api/v1/alerts``).
:func:`rules_test_copy` copies an alert rule file with every ``for:`` shortened, so a rule can
fire while a test runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from http_support import TLS

from kore_plaid_nb import services

BINARY = "/usr/bin/prometheus"
MISSING = (
    f"{BINARY} is missing: install Debian's prometheus package (`apt-get install prometheus`, "
    "as the project's CI steps do)"
)
JOB = "kore-plaid-bridge"
READY_SECONDS = 20.0
STOP_SECONDS = 10.0

T = TypeVar("T")


class PrometheusFailed(RuntimeError):
    """The server did not start, or a query failed; the message carries its log's tail."""


def find_prometheus() -> Path | None:
    """Debian's server binary, else one on PATH; None when there is none."""
    found = BINARY if os.access(BINARY, os.X_OK) else shutil.which("prometheus")
    return Path(found) if found else None


def scrape_config(targets: Sequence[str], rules: Path | None) -> dict[str, Any]:
    """Prometheus' configuration: ``targets`` (``host:port``) scraped every second."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
    }
    if rules is not None:
        config["rule_files"] = [str(rules)]
    return config


def rules_test_copy(source: Path, destination: Path, hold: str = "2s") -> list[dict[str, Any]]:
    """Copy the rule file ``source`` to ``destination`` with every ``for:`` set to ``hold``;
    returns the copy's alerting rules."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    alerting = []
    for group in document.get("groups", []):
        group.pop("interval", None)  # the global one second
        for rule in group.get("rules", []):
            if "for" in rule:
                rule["for"] = hold
            if "alert" in rule:
                alerting.append(rule)
    destination.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return alerting


@dataclass
class Prometheus:
    """A running server: its URL, and its HTTP API as small functions."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data``; raises :class:`PrometheusFailed` on an error."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10, verify=TLS)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise PrometheusFailed(f"{path} {params}: {answer.status_code} {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant vector: ``[{"metric": {labels}, "value": [time, "text"]}, ...]``."""
        data = self.api("query", query=promql)
        if data["resultType"] != "vector":
            raise PrometheusFailed(f"{promql!r} is a {data['resultType']}, not a vector")
        return list(data["result"])

    def value(self, promql: str) -> float | None:
        """The one number of a one-element vector; None when the vector is empty."""
        rows = self.query(promql)
        if len(rows) > 1:
            raise PrometheusFailed(f"{promql!r} has {len(rows)} series, not one")
        return float(rows[0]["value"][1]) if rows else None

    def series(self, match: str) -> list[dict[str, str]]:
        """The label sets of every series ``match`` selects."""
        answer = httpx.get(f"{self.url}/api/v1/series", params={"match[]": match}, timeout=10)
        if answer.status_code != 200:
            raise PrometheusFailed(f"series {match}: {answer.status_code} {answer.text}")
        return list(answer.json()["data"])

    def alerts(self) -> list[dict[str, Any]]:
        """The active alerts: ``[{"labels": {"alertname": ...}, "state": ...}, ...]``."""
        return list(self.api("alerts")["alerts"])

    def firing(self) -> set[str]:
        return {a["labels"]["alertname"] for a in self.alerts() if a["state"] == "firing"}

    def wait_for(
        self,
        read: Callable[[], T],
        what: str,
        until: Callable[[T], object] = bool,
        timeout: float = 20.0,
    ) -> T:
        """Poll ``read()`` until ``until`` holds for what it returns (by default: until it is
        truthy), and return that; fail after ``timeout`` seconds, saying what was awaited
        and what the last read saw."""
        deadline = time.monotonic() + timeout
        while True:
            seen = read()
            if until(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f} s for {what}; last saw {seen!r}")
            time.sleep(0.2)

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:]


def _start(binary: Path, config: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)


@contextlib.contextmanager
def running_prometheus(
    targets: Sequence[str], rules: Path | None = None, binary: Path | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (and evaluating ``rules``) for the ``with`` block; its
    folder (configuration, data, log) is removed afterwards."""
    binary = binary or find_prometheus()
    if binary is None:
        raise PrometheusFailed(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="prometheus-test-"))  # 0700
    try:
        config, data, log = folder / "prometheus.yml", folder / "data", folder / "server.log"
        data.mkdir(mode=0o700)
        config.write_text(yaml.safe_dump(scrape_config(targets, rules)), encoding="utf-8")
        port = services.free_port()
        server = Prometheus(
            f"http://127.0.0.1:{port}", _start(binary, config, data, port, log), log
        )
        try:
            if not services.wait_healthy(
                server.url + "/-/ready", READY_SECONDS, server.process.pid
            ):
                raise PrometheusFailed(f"Prometheus did not get ready:\n{server.tail()}")
            yield server
        finally:
            _stop(server.process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
