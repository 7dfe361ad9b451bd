"""Faults (issue 8): with the emulator's fault injection (429, 500, slow answers,
ITEM_LOGIN_REQUIRED) during the authorization page, Link success (set_access_token) and
Kore's calls, the bridge

* answers a readable error (the page's JSON says what happened and what to do; Kore gets
  RFC 6749 errors, never a 5xx from the token endpoint),
* retries only what is safe: /link/token/create and reads with backoff on 429/5xx;
  /item/public_token/exchange only after a 429, never after an ambiguous failure (5xx,
  timeout) - not even when the page sends the same public token again,
* loses no Item it already stored.

How many calls reached the emulator is read from the faults left pending: a fault is
consumed by each call of its endpoint.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bridge_support import authorize_query, exchange, query_of, refresh, sandbox_public_token
from http_support import TLS

from kore_plaid_nb import services, serving
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.plaid_link import PlaidLink, RetryPolicy
from kore_plaid_nb.bridge.routes import create_app
from kore_plaid_nb.emulator import faults, running_emulator
from kore_plaid_nb.kore.simulator import KORE_ACTIONS, KoreFlowError, simulator

EXCHANGE = "/item/public_token/exchange"
LINK_TOKEN = "/link/token/create"
ATTEMPTS = 3
BRIDGE_TIMEOUT = 1.0  # seconds the bridge waits for Plaid in these tests

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("store_backend")]


@dataclass
class Stack:
    settings: settings_module.Settings
    emulator: str
    bridge: str
    app: object
    http: httpx.Client

    def inject(self, endpoint: str, **fault: object) -> None:
        faults.inject(self.emulator, endpoint, settings=self.settings, **fault)

    def left(self, endpoint: str) -> int:
        """Calls a fault on ``endpoint`` can still absorb (0 when none is pending)."""
        pending = faults.pending(self.emulator, settings=self.settings)
        return sum(int(f["count"]) for f in pending if f["endpoint"] == endpoint)

    def start(self, accept_json: bool = True) -> httpx.Response:
        headers = {"Accept": "application/json"} if accept_json else {}
        return self.http.get(self.bridge + "/?" + authorize_query(self.settings), headers=headers)

    def session(self) -> str:
        start = self.start()
        assert start.status_code == 200, start.text
        return start.json()["session"]

    def link_success(self, session: str, public_token: str) -> httpx.Response:
        body = {"session": session, "public_token": public_token}
        return self.http.post(self.bridge + "/api/set_access_token", json=body)

    def live_items(self) -> list[tuple[int, str]]:
        return self.app.state.store.live_items()


@pytest.fixture
def stack(home: Path, tmp_path: Path) -> Iterator[Stack]:
    base = settings_module.load().with_values(simulator_port=services.free_port())
    with running_emulator(base, state_path=tmp_path / "emulator.sqlite3") as emulator:
        s = base.with_values(plaid_api_url=emulator)
        link = PlaidLink(
            s, RetryPolicy(attempts=ATTEMPTS, first_delay=0.02, max_delay=0.1), BRIDGE_TIMEOUT
        )
        app = create_app(s, link=link)
        with (
            serving.serve_in_thread(app, what="bridge") as bridge,
            httpx.Client(timeout=20, verify=TLS) as http,
        ):
            yield Stack(s, emulator, bridge, app, http)


def assert_readable(response: httpx.Response, status: int, code: str) -> dict:
    """The page's JSON error: status, Plaid code, a message and what to do - no secret."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == "plaid_error" and body["plaid_error_code"] == code, body
    assert len(body["message"]) > 20 and len(body["fix"]) > 20, body
    assert "access-sandbox-" not in response.text and "public-sandbox-" not in response.text
    assert response.headers["cache-control"] == "no-store"
    return body


# The authorization page: /link/token/create is retried (it creates nothing that matters).


@pytest.mark.parametrize("code", ["RATE_LIMIT", "INTERNAL_SERVER_ERROR"])
def test_link_token_create_is_retried_after_429_and_500(stack: Stack, code: str) -> None:
    stack.inject(LINK_TOKEN, error_code=code, count=ATTEMPTS - 1)
    start = stack.start()
    assert start.status_code == 200, start.text
    assert start.json()["link_token"].startswith("link-")
    assert stack.left(LINK_TOKEN) == 0


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [("RATE_LIMIT", 503, "rate limiting"), ("INTERNAL_SERVER_ERROR", 502, "temporary problem")],
)
def test_link_token_create_gives_up_after_bounded_retries_with_a_readable_page(
    stack: Stack, code: str, status: int, words: str
) -> None:
    stack.inject(LINK_TOKEN, error_code=code, count=10)
    body = assert_readable(stack.start(), status, code)
    assert words in body["message"] and "try again" in body["fix"].lower()
    assert stack.left(LINK_TOKEN) == 10 - ATTEMPTS  # bounded: exactly ATTEMPTS calls
    # the end user's HTML page asks for its Link token only when Link opens, and shows
    # the same message and fix (bridge.js renders them; tests/test_browser_page.py)
    page = stack.start(accept_json=False)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    session = re.search(r'data-session="([^"]+)"', page.text).group(1)
    opened = stack.http.post(stack.bridge + "/api/link_token", json={"session": session})
    body = assert_readable(opened, status, code)
    assert words in body["message"] and "try again" in body["fix"].lower()
    stack.http.get(stack.emulator + "/healthz")
    faults.clear(stack.emulator, settings=stack.settings)
    assert stack.start().status_code == 200


def test_slow_link_token_create_still_succeeds(stack: Stack) -> None:
    stack.inject(LINK_TOKEN, delay=BRIDGE_TIMEOUT / 2)
    assert stack.start().status_code == 200


# Link success: the public token is single use.


def test_exchange_is_retried_after_429_only(stack: Stack) -> None:
    session = stack.session()
    stack.inject(EXCHANGE, error_code="RATE_LIMIT", count=1)
    done = stack.link_success(session, sandbox_public_token(stack.settings))
    assert done.status_code == 200, done.text
    assert "code" in query_of(done.json()["redirect_to"])
    assert stack.left(EXCHANGE) == 0 and len(stack.live_items()) == 1


def test_persistent_429_on_exchange_lets_the_user_retry_the_same_public_token(
    stack: Stack,
) -> None:
    session = stack.session()
    public_token = sandbox_public_token(stack.settings)
    stack.inject(EXCHANGE, error_code="RATE_LIMIT", count=10)
    body = assert_readable(stack.link_success(session, public_token), 503, "RATE_LIMIT")
    assert "wait" in body["fix"].lower()
    assert stack.left(EXCHANGE) == 10 - ATTEMPTS
    faults.clear(stack.emulator, settings=stack.settings)
    # Plaid did nothing with a rate-limited call: the same token works once the limit lifts.
    done = stack.link_success(session, public_token)
    assert done.status_code == 200, done.text
    assert len(stack.live_items()) == 1


@pytest.mark.parametrize("code", ["INTERNAL_SERVER_ERROR", "PLANNED_MAINTENANCE"])
def test_exchange_is_never_sent_twice_after_an_ambiguous_failure(stack: Stack, code: str) -> None:
    session = stack.session()
    public_token = sandbox_public_token(stack.settings)
    stack.inject(EXCHANGE, error_code=code, count=5)
    failed = stack.link_success(session, public_token)
    assert failed.status_code in (502, 503), failed.text
    body = failed.json()
    assert body["plaid_error_code"] == code and "link again" in body["fix"].lower()
    assert stack.left(EXCHANGE) == 4  # one call, no retry
    # The page (or a user's reload) sends the same public token again: refused here.
    again = stack.link_success(session, public_token)
    assert again.status_code == 409, again.text
    assert again.json()["plaid_error_code"] == "PUBLIC_TOKEN_ALREADY_SENT"
    assert "link again" in again.json()["fix"].lower()
    assert stack.left(EXCHANGE) == 4  # Plaid never saw it twice
    faults.clear(stack.emulator, settings=stack.settings)
    # A fresh Link login on the same page completes the authorization.
    done = stack.link_success(session, sandbox_public_token(stack.settings))
    assert done.status_code == 200, done.text
    assert len(stack.live_items()) == 1


def test_slow_exchange_is_waited_for_once_and_a_double_submit_is_refused(stack: Stack) -> None:
    session = stack.session()
    public_token = sandbox_public_token(stack.settings)
    stack.inject(EXCHANGE, delay=BRIDGE_TIMEOUT / 2)
    answers: list[httpx.Response] = []

    def submit() -> None:
        answers.append(stack.link_success(session, public_token))

    first = threading.Thread(target=submit)
    first.start()
    time.sleep(BRIDGE_TIMEOUT / 8)
    submit()  # a double click while Plaid is slow
    first.join(timeout=20)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["error"] == "session_used"
    assert stack.left(EXCHANGE) == 0 and len(stack.live_items()) == 1


def test_exchange_timeout_is_ambiguous_readable_and_not_resent(stack: Stack) -> None:
    session = stack.session()
    public_token = sandbox_public_token(stack.settings)
    stack.inject(EXCHANGE, delay=BRIDGE_TIMEOUT * 1.5)
    failed = stack.link_success(session, public_token)
    assert failed.status_code == 504, failed.text
    body = failed.json()
    assert "did not answer in time" in body["message"] and "link again" in body["fix"].lower()
    again = stack.link_success(session, public_token)
    assert again.status_code == 409, again.text
    time.sleep(BRIDGE_TIMEOUT)  # the emulator finishes the slow exchange meanwhile
    done = stack.link_success(session, sandbox_public_token(stack.settings))
    assert done.status_code == 200, done.text


def test_item_login_required_at_exchange_tells_the_user_to_log_in_again(stack: Stack) -> None:
    session = stack.session()
    public_token = sandbox_public_token(stack.settings)
    stack.inject(EXCHANGE, error_code="ITEM_LOGIN_REQUIRED")
    body = assert_readable(stack.link_success(session, public_token), 400, "ITEM_LOGIN_REQUIRED")
    assert "log in" in body["fix"].lower()
    assert stack.left(EXCHANGE) == 0  # a definite refusal: not retried
    done = stack.link_success(session, sandbox_public_token(stack.settings))
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("code", ["ITEM_LOGIN_REQUIRED", "INTERNAL_SERVER_ERROR", "RATE_LIMIT"])
def test_a_failing_item_get_after_the_exchange_does_not_lose_the_item(
    stack: Stack, code: str
) -> None:
    session = stack.session()
    stack.inject("/item/get", error_code=code, count=10)
    done = stack.link_success(session, sandbox_public_token(stack.settings))
    assert done.status_code == 200, done.text  # the institution name is only for display
    code_value = query_of(done.json()["redirect_to"])["code"]
    token = exchange(stack.http, stack.bridge, stack.settings, code_value)
    assert token.status_code == 200 and token.json()["access_token"].startswith("access-")
    assert len(stack.live_items()) == 1


# Kore's calls: the token endpoint never depends on Plaid; Plaid errors reach Kore readably.


def test_kore_calls_under_faults_keep_every_item(stack: Stack) -> None:
    s = stack.settings
    with simulator(s, stack.bridge) as sim:
        tokens = []
        for _ in range(2):
            request, code = sim.authorize()
            tokens.append(sim.exchange_code_form_basic(request, code))
        balance = KORE_ACTIONS[0]
        assert sim.call_plaid(balance, tokens[0].access_token).status == 200

        for code, words in (
            ("RATE_LIMIT", "RATE_LIMIT"),
            ("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"),
        ):
            stack.inject(balance.path, error_code=code)
            with pytest.raises(KoreFlowError) as failure:
                sim.call_plaid(balance, tokens[0].access_token)
            assert words in failure.value.message and failure.value.fix

        # The bank asks the user to log in again: Plaid says so to Kore; the bridge keeps
        # the Item (update mode can repair it) and the refresh grant keeps answering.
        reset = stack.http.post(
            s.plaid_api_url + "/sandbox/item/reset_login",
            json={"access_token": tokens[0].access_token},
            headers={"PLAID-CLIENT-ID": s.client_id, "PLAID-SECRET": s.secret},
        )
        assert reset.status_code == 200, reset.text
        with pytest.raises(KoreFlowError) as failure:
            sim.call_plaid(balance, tokens[0].access_token)
        assert "ITEM_LOGIN_REQUIRED" in failure.value.message

        # Plaid down for everything: Kore's token and refresh calls do not need it.
        stack.inject("*", error_code="INTERNAL_SERVER_ERROR", count=1000)
        for token in tokens:
            again = refresh(stack.http, stack.bridge, s, token.refresh_token)
            assert again.status_code == 200, again.text
            assert again.json()["access_token"] == token.access_token
        faults.clear(stack.emulator, settings=s)
        assert sim.call_plaid(balance, tokens[1].access_token).status == 200
    assert len(stack.live_items()) == 2


def test_replayed_code_is_refused_per_rfc_even_when_plaid_fails(stack: Stack) -> None:
    s = stack.settings
    session = stack.session()
    done = stack.link_success(session, sandbox_public_token(s))
    code = query_of(done.json()["redirect_to"])["code"]
    assert exchange(stack.http, stack.bridge, s, code).status_code == 200
    stack.inject("/item/remove", error_code="INTERNAL_SERVER_ERROR", count=1000)
    replay = exchange(stack.http, stack.bridge, s, code)
    assert replay.status_code == 400, replay.text
    assert replay.json()["error"] == "invalid_grant"
    assert replay.headers["cache-control"] == "no-store"
    bad_client = stack.http.post(
        stack.bridge + "/api/send_the_access_token_AUTH",
        data={"grant_type": "authorization_code", "code": code},
        auth=(s.client_id, "wrong"),
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    assert bad_client.headers["www-authenticate"].startswith("Basic ")
