"""Bridge replicas with their own metrics listeners, and the traffic an operator's dashboard
would show: what the Prometheus test asserts on and the screenshot tool photographs.

:func:`serving_replicas` starts ``kore-plaid bridge`` processes (:class:`BridgeProcess`) on the
store of ``settings`` (PostgreSQL: they share it), each with its ``BRIDGE_METRICS_PORT``.
:func:`drive` sends them authorizations, a replayed code, a Plaid error, a refresh and an Item
left needing its user, and returns what it sent (:class:`Traffic`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bridge_support import (
    WEBHOOK_PATH,
    BridgeProcess,
    authorize_and_link,
    authorize_query,
    exchange,
    refresh,
    sandbox_public_token,
)

from kore_plaid_nb import plaid_client, services
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.settings import Settings
from kore_plaid_nb.settings.model import VARS

METRICS_PORT = "BRIDGE_METRICS_PORT"
JSON = {"Accept": "application/json"}


def settings_field(variable: str) -> str:
    """The Settings field read from the environment variable ``variable``."""
    for name, spec in VARS.items():
        if spec.name == variable:
            return name
    raise LookupError(f"the settings declare no {variable}")


@dataclass
class Replica:
    """One bridge process and its metrics listener."""

    bridge: BridgeProcess
    metrics_port: int

    @property
    def url(self) -> str:
        return self.bridge.url

    @property
    def target(self) -> str:
        """Its metrics listener as Prometheus names it (the ``instance`` label)."""
        return f"127.0.0.1:{self.metrics_port}"


@contextlib.contextmanager
def serving_replicas(settings: Settings, count: int, log: Path) -> Iterator[list[Replica]]:
    """``count`` bridge processes on the store of ``settings``, each on free ports, with their
    metrics listeners answering; all killed afterwards."""
    started: list[BridgeProcess] = []
    try:
        replicas = []
        for _ in range(count):
            metrics_port = services.free_port()
            values = {"app_port": services.free_port(), settings_field(METRICS_PORT): metrics_port}
            started.append(BridgeProcess(settings.with_values(**values), log))
            replicas.append(Replica(started[-1], metrics_port))
        for replica in replicas:
            metrics = f"http://{replica.target}/metrics"
            answered = services.wait_healthy(metrics, 15, replica.bridge.process.pid)
            assert answered, f"{metrics} did not answer; the bridges' log:\n{log.read_text()}"
        yield replicas
    finally:
        for process in started:
            process.stop()


@dataclass
class Traffic:
    """What :func:`drive` sent, as the bridge's counters should count it."""

    started: int = 0
    completed: Counter[str] = field(default_factory=Counter)  # by replica target
    failed: Counter[str] = field(default_factory=Counter)  # by reason
    token_requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (grant, outcome)
    login_required: int = 0
    secrets: list[str] = field(default_factory=list)  # codes and tokens: never in a label


def _authorize(http: httpx.Client, replica: Replica, settings: Settings, traffic: Traffic,
               webhook: bool = False) -> tuple[str, dict[str, str]]:  # fmt: skip
    """An end user authorizes on ``replica`` and Kore redeems the code: (code, token)."""
    hook = replica.url + WEBHOOK_PATH if webhook else None
    code = authorize_and_link(http, replica.url, settings, webhook=hook)["code"]
    traffic.started += 1
    traffic.completed[replica.target] += 1
    token = exchange(http, replica.url, settings, code)
    assert token.status_code == 200, token.text
    traffic.token_requests["authorization_code", "ok"] += 1
    grant = token.json()
    traffic.secrets += [code, grant["access_token"], grant["refresh_token"]]
    return code, grant


def _plaid_error(http: httpx.Client, replica: Replica, settings: Settings, emulator: str,
                 traffic: Traffic) -> None:  # fmt: skip
    """Plaid fails the public token's exchange: the user sees a readable error."""
    start = http.get(replica.url + "/?" + authorize_query(settings, "plaid-fails"), headers=JSON)
    assert start.status_code == 200, start.text
    traffic.started += 1
    public_token = sandbox_public_token(settings)
    faults.inject(emulator, "/item/public_token/exchange", error_code="INTERNAL_SERVER_ERROR",
                  settings=settings)  # fmt: skip
    try:
        failed = http.post(
            replica.url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": public_token},
        )
    finally:
        faults.clear(emulator, settings=settings)
    assert (failed.status_code, failed.json()["error"]) == (502, "plaid_error"), failed.text
    traffic.failed["plaid_error"] += 1


def _break_login(replica: Replica, settings: Settings, emulator: str, access_token: str,
                 traffic: Traffic) -> None:  # fmt: skip
    """The bank asks for the user's login again: Plaid's ITEM ERROR webhook reaches the
    replica, which marks the Item ITEM_LOGIN_REQUIRED."""
    plaid_client.sandbox_reset_login(settings, access_token)
    delivered = wait_for_deliveries(emulator, settings.client_id, settings.secret)
    errors = [d for d in delivered["deliveries"] if d["webhook_code"] == "ERROR"]
    assert errors and errors[-1]["status_code"] == 200, delivered
    traffic.login_required += 1


def drive(replicas: list[Replica], settings: Settings, emulator: str, each: int = 3) -> Traffic:
    """``each`` authorizations on every replica, a code replayed on another replica, a Plaid
    error, a refresh, and one Item left ITEM_LOGIN_REQUIRED."""
    traffic = Traffic()
    first, second = replicas[0], replicas[-1]
    with httpx.Client(timeout=20) as http:
        codes, tokens = [], []
        for _ in range(each):
            for replica in replicas:
                code, token = _authorize(http, replica, settings, traffic, webhook=not codes)
                codes.append(code)
                tokens.append(token)
        replayed = exchange(http, first.url, settings, codes[1])  # redeemed on the second
        assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
        traffic.token_requests["authorization_code", "invalid_grant"] += 1
        traffic.failed["code_replayed"] += 1
        _plaid_error(http, second, settings, emulator, traffic)
        again = refresh(http, second.url, settings, tokens[-1]["refresh_token"])
        assert again.status_code == 200, again.text
        traffic.token_requests["refresh_token", "ok"] += 1
    # the first Item (its webhooks go to the first replica) needs its user
    _break_login(first, settings, emulator, tokens[0]["access_token"], traffic)
    return traffic
