"""End users under load, for the crash tests: each runs a whole authorization against one or
several bridge replicas, and what their browsers and Kore saw is kept for the checks after
the crash (every token still refreshable, no code honoured twice)."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from bridge_support import (
    authorize_query,
    exchange,
    query_of,
    refresh,
    sandbox_public_token,
)
from http_support import TLS

USERS = 200
WORKERS = 16
JSON = {"Accept": "application/json"}


@dataclass
class Seen:
    """What the end users' browsers and Kore saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, dict] = field(default_factory=dict)  # code -> token answer (200)
    sent: set[str] = field(default_factory=set)  # codes whose token request went out
    statuses: Counter = field(default_factory=Counter)
    retry_after: set[str] = field(default_factory=set)  # Retry-After values of the 503s
    down: set[str] = field(default_factory=set)  # replicas that refused a connection
    unexpected: list[str] = field(default_factory=list)  # answers neither 200 nor 503
    failures: int = 0


def end_user(replicas: list[str], settings, seen: Seen, http: httpx.Client) -> None:
    """Authorization page -> Link -> set_access_token -> Kore's token call, each step on a
    replica picked at random (a flow starts on one and finishes on another)."""

    def send(step) -> httpx.Response:
        """Like a load balancer: a replica that refuses connections is taken out of the
        rotation and the step goes to another one (a cut request is not retried)."""
        while True:
            with seen.lock:
                alive = [url for url in replicas if url not in seen.down]
            if not alive:
                raise httpx.ConnectError("every replica refuses connections")
            url = random.choice(alive)  # noqa: S311 - load spreading, not a secret
            try:
                return note(step(url))
            except httpx.ConnectError:
                with seen.lock:
                    seen.down.add(url)
                if len(seen.down) == len(replicas):
                    raise

    def note(response: httpx.Response) -> httpx.Response:
        with seen.lock:
            seen.statuses[response.status_code] += 1
            if response.status_code not in (200, 503):
                seen.unexpected.append(f"{response.status_code} {response.text[:300]}")
            if response.status_code == 503:
                seen.retry_after.add(response.headers.get("retry-after", ""))
        if response.status_code != 200:
            raise httpx.HTTPError(response.text)
        return response

    try:
        query = authorize_query(settings, state=os.urandom(6).hex())
        start = send(lambda url: http.get(url + "/?" + query, headers=JSON))
        body = {"session": start.json()["session"], "public_token": sandbox_public_token(settings)}
        done = send(lambda url: http.post(url + "/api/set_access_token", json=body))
        code = query_of(done.json()["redirect_to"])["code"]
        with seen.lock:
            seen.sent.add(code)
        token = send(lambda url: exchange(http, url, settings, code))
        with seen.lock:
            seen.tokens[code] = token.json()
    except (httpx.HTTPError, KeyError, ValueError):
        with seen.lock:
            seen.failures += 1


def run_users(
    replicas: list[str], settings, seen: Seen, until: threading.Event, users: int = USERS
) -> None:
    """``users`` end users over ``WORKERS`` threads; returns when all are done."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def user(_: int) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=15, verify=TLS)
            clients.append(local.http)
        end_user(replicas, settings, seen, local.http)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(user, n) for n in range(users)]
        for future in futures:
            future.result(timeout=120)
    until.set()
    for http in clients:
        http.close()


@dataclass
class Outcome:
    lost: int  # refresh tokens issued before that no longer refresh
    honoured_twice: int  # codes that got a second 200
    late: int  # in-flight codes (answer lost) honoured once afterwards
    in_flight: int


def check_after(url: str, settings, seen: Seen) -> Outcome:
    """On ``url``: is every token still refreshable, is any code honoured twice?"""
    in_flight = seen.sent - set(seen.tokens)
    lost = twice = late = 0
    with httpx.Client(timeout=20) as http:
        for token in seen.tokens.values():
            again = refresh(http, url, settings, token["refresh_token"])
            ok = again.status_code == 200 and again.json()["access_token"] == token["access_token"]
            lost += not ok
        for code in seen.tokens:
            replay = exchange(http, url, settings, code)
            twice += replay.status_code == 200
            assert replay.json()["error"] == "invalid_grant", replay.text
        for code in in_flight:
            late += exchange(http, url, settings, code).status_code == 200
            replay = exchange(http, url, settings, code)
            twice += replay.status_code == 200
    return Outcome(lost, twice, late, len(in_flight))


def report(scenario: str, seen: Seen, outcome: Outcome) -> str:
    """One line of figures for the closing note (pytest -s shows it)."""
    return (
        f"{scenario}: {len(seen.tokens)} tokens issued, {seen.failures} flows cut, "
        f"statuses {dict(seen.statuses)}, {outcome.lost} refresh tokens lost, "
        f"{outcome.honoured_twice} codes honoured twice, {outcome.late} of {outcome.in_flight} "
        "in-flight codes honoured once later"
    )
