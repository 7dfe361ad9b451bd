"""Shared helpers of the bridge tests (no tests here): Kore's and the browser's requests as
functions, the bridge as its own process, and :class:`Bridge`, the bridge under test served
in a thread, whose methods play the end user, Kore and Plaid (the ``bridge`` fixture of
tests/conftest.py makes it, with the options of the test's ``@pytest.mark.bridge(...)``)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from fake_clock import FakeClock
from http_support import TLS
from plaid.api import plaid_api
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from round_robin import running_round_robin
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from store_inspect import one, token_digest
from webhook_signing import KeyRing, new_key, sign

from kore_plaid_nb import plaid_client, services, serving
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.items import list_items
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.store import ItemRecord, open_bridge_store, open_store
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.settings import Settings, load

TOKEN_PATH = "/api/send_the_access_token_AUTH"
WEBHOOK_PATH = "/plaid/webhook"
ACCESS_TOKEN = "access-sandbox-11111111-2222-3333-4444-555555555555"  # what mint() issues


def authorize_params(settings: Settings, state: str = "st-1", **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.simulator_callback,
        "state": state,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize_query(settings: Settings, state: str = "st-1", **extra: str) -> str:
    return urlencode(authorize_params(settings, state, **extra))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def sandbox_public_token(
    settings: Settings, institution: str = "ins_109508", webhook: str | None = None
) -> str:
    """What Plaid Link hands the page on success (made through plaid-python); ``webhook``:
    where Plaid sends the new Item's webhooks."""
    options: dict[str, object] = {}
    if webhook is not None:
        options["options"] = SandboxPublicTokenCreateRequestOptions(webhook=webhook)
    request = SandboxPublicTokenCreateRequest(
        institution_id=institution, initial_products=[Products("transactions")], **options
    )
    return sandbox_api(settings).sandbox_public_token_create(request).public_token


def sandbox_api(settings: Settings) -> plaid_api.PlaidApi:
    """plaid-python's client for the tests' own sandbox calls, one per Plaid host and keys in
    this process (a new ``PlaidApi`` costs ~5 ms of CPU: its ~300 endpoints)."""
    key = (plaid_client.api_host(settings), settings.client_id, settings.secret)
    with _SANDBOX_APIS_LOCK:
        if key not in _SANDBOX_APIS:
            _SANDBOX_APIS[key] = plaid_client.create(settings)
        return _SANDBOX_APIS[key]


_SANDBOX_APIS: dict[tuple[str, str, str], plaid_api.PlaidApi] = {}
_SANDBOX_APIS_LOCK = threading.Lock()


def authorize_and_link(
    http: httpx.Client,
    base: str,
    settings: Settings,
    state: str = "st-1",
    webhook: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """GET / (JSON) -> Link (sandbox public token) -> set_access_token; the callback params."""
    start = http.get(
        base + "/?" + authorize_query(settings, state, **extra),
        headers={"Accept": "application/json"},
    )
    assert start.status_code == 200, start.text
    session = start.json()["session"]
    public_token = sandbox_public_token(settings, webhook=webhook)
    done = http.post(
        base + "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    assert done.status_code == 200, done.text
    return query_of(done.json()["redirect_to"])


def exchange(
    http: httpx.Client, base: str, settings: Settings, code: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, **extra}
    return http.post(base + TOKEN_PATH, data=data, auth=(settings.client_id, settings.secret))


def refresh(http: httpx.Client, base: str, settings: Settings, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post(base + TOKEN_PATH, data=data, auth=(settings.client_id, settings.secret))


class BridgeProcess:
    """``python -m kore_plaid_nb bridge`` as its own process group, killed by the test."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.app_port}"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kore_plaid_nb", "bridge", "--port", str(settings.app_port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **settings.as_env()},
                start_new_session=True,
            )
        healthy = services.wait_healthy(self.url + "/healthz", timeout=30, pid=self.process.pid)
        assert healthy, log.read_text()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the bridge under test, in a thread of the test's process


@dataclass
class StatusRecorder:
    """ASGI middleware that records the status of every response the app starts."""

    app: ASGIApp
    statuses: list[int] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, recording_send)


@dataclass(frozen=True)
class BridgeOptions:
    """What a test module asks of its bridge (``@pytest.mark.bridge(**options)``)."""

    plaid: Literal["emulator", "unreachable"] = "emulator"  # unreachable: nothing may need it
    fake_clock: bool = False  # the store's clock is ``bridge.clock``, moved by the test
    webhook_keys: bool = False  # keys from ``bridge.ring`` (one, kid-1), not from Plaid
    item_webhooks: bool = False  # authorize() gives the Item this bridge's webhook URL
    record_statuses: bool = False  # ``bridge.recorder`` sees every response status


class Grant(NamedTuple):
    """What Kore holds after the token request."""

    access_token: str
    refresh_token: str


@dataclass
class Bridge:
    """The bridge under test and the client the test talks to it with. With the "replicas"
    backend, ``url`` is a round-robin balancer over ``app`` and a second bridge on the same
    database."""

    url: str
    app: Starlette
    settings: Settings
    http: httpx.Client
    options: BridgeOptions = BridgeOptions()
    emulator_url: str | None = None
    clock: FakeClock | None = None
    recorder: StatusRecorder | None = None
    ring: KeyRing | None = None
    private: ec.EllipticCurvePrivateKey | None = None

    # Kore's side: the OAuth client.

    def basic(self) -> tuple[str, str]:
        return (self.settings.client_id, self.settings.secret)

    def exchange(self, code: str, **extra: str) -> httpx.Response:
        return exchange(self.http, self.url, self.settings, code, **extra)

    def refresh(self, token: str) -> httpx.Response:
        return refresh(self.http, self.url, self.settings, token)

    def refreshed(self, refresh_token: str) -> str:
        """Kore's refresh grant: the access token it hands the bot's actions."""
        answer = self.refresh(refresh_token)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    # The end user's side, through Plaid (the emulator).

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """A request of the bridge's pages (their script), e.g. ``/repair/{token}/done``."""
        return self.http.post(self.url + path, **kwargs)

    def link(self, state: str = "st-1", **extra: str) -> dict[str, str]:
        """The end user authorizes and links a bank: the query of Kore's callback."""
        webhook = self.url + WEBHOOK_PATH if self.options.item_webhooks else None
        return authorize_and_link(self.http, self.url, self.settings, state, webhook, **extra)

    def authorize(self) -> Grant:
        """The end user authorizes, Kore redeems the code."""
        token = self.exchange(self.link()["code"])
        assert token.status_code == 200, token.text
        return Grant(token.json()["access_token"], token.json()["refresh_token"])

    def new_item(self) -> tuple[str, str]:
        """An end user authorizes through the bridge: (Plaid item_id, access token)."""
        access_token = self.authorize().access_token
        item_id = one(self.settings, "SELECT item_id FROM items WHERE access_token_digest = ?",
                      (token_digest(self.settings, access_token),))  # fmt: skip
        return str(item_id), access_token

    def health(self, item_id: str) -> str:
        return str(one(self.settings, "SELECT health FROM items WHERE item_id = ?", (item_id,)))

    # Without Plaid: a completed Link session played in-process.

    def mint(self, query: str | None = None, access_token: str = ACCESS_TOKEN) -> dict[str, str]:
        """Play a completed Link session: returns the callback's query (code, state)."""
        query = query or authorize_query(self.settings)
        oauth, store = self.app.state.oauth, self.app.state.store
        auth = oauth.validate_authorization(query)
        session = secrets.token_urlsafe(32)
        store.create_session(session, auth.client_id, auth.redirect_uri, query, 60)
        assert store.claim_session(session).problem is None
        item = ItemRecord("item-" + secrets.token_hex(8), access_token, "ins_109508", "u1")
        return query_of(oauth.issue_code(session, query, item))

    def mint_code(self, query: str | None = None) -> str:
        """A fresh code, as a completed Link session leaves it (authorized without PKCE
        unless ``query`` asks for it)."""
        return self.mint(query)["code"]

    # Plaid's side: webhooks, and the user's bank asking for its login again.

    def post_webhook(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Plaid-Verification"] = signature
        return self.http.post(self.url + WEBHOOK_PATH, content=body, headers=headers)

    def send_webhook(self, body: bytes) -> httpx.Response:
        """A webhook signed as Plaid signs it (with the ring's key)."""
        assert self.private is not None, "@pytest.mark.bridge(webhook_keys=True)"
        return self.post_webhook(body, sign(body, self.private))

    def break_login(self, access_token: str) -> str:
        """The bank asks for its login again (Plaid's signed ITEM ERROR webhook reaches the
        bridge); the repair token ``kore-plaid items`` hands out."""
        assert self.emulator_url and self.options.item_webhooks, "mark.bridge(item_webhooks=True)"
        plaid_client.sandbox_reset_login(self.settings, access_token)
        delivered = wait_for_deliveries(
            self.emulator_url, self.settings.client_id, self.settings.secret
        )
        errors = [
            d
            for d in delivered["deliveries"]
            if d["url"].startswith(self.url + "/") and d["webhook_code"] == "ERROR"
        ]
        assert errors and errors[-1]["status_code"] == 200, delivered  # this webhook's delivery
        [item] = [i for i in list_items(self.settings, lookup=False) if i["repair_url"]]
        assert item["health"] == "ITEM_LOGIN_REQUIRED"
        return str(item["repair_url"]).rsplit("/", 1)[1]

    def link_update_mode(self, link_token: str) -> None:
        """What the user does in Plaid Link (the emulator's stand-in): log in again."""
        standin = f"{self.emulator_url}/link/_standin/"
        session = self.http.post(standin + "session", json={"link_token": link_token}).json()
        assert session["update_mode"] is True
        [institution] = session["institutions"]  # update mode: the Item's own bank only
        done = self.http.post(
            standin + "complete",
            json={
                "link_token": link_token,
                "institution_id": institution["institution_id"],
                "username": "user_good",
                "password": "pass_good",
            },
        )
        assert done.status_code == 200, done.text


@contextlib.contextmanager
def serving_bridge(
    options: BridgeOptions, store_backend: str, emulator_url: str | None
) -> Iterator[Bridge]:
    """The bridge of :class:`BridgeOptions`, served by uvicorn in a thread, on the store
    backend of the test's environment (``BRIDGE_DB``); "replicas" adds a second bridge on
    the same database and a round-robin balancer over both."""
    if options.plaid == "emulator":
        assert emulator_url is not None
        plaid_api_url = emulator_url
    else:
        plaid_api_url = f"http://127.0.0.1:{services.free_port()}"  # nothing listens there
    settings = load().with_values(plaid_api_url=plaid_api_url)
    clock = FakeClock() if options.fake_clock else None
    private, jwk = new_key("kid-1") if options.webhook_keys else (None, None)
    ring = KeyRing({"kid-1": jwk}) if jwk is not None else None
    statuses: list[int] = []

    def new_app() -> Starlette:
        store = open_store(settings.bridge_store, clock=clock) if clock else None
        return create_app(settings, store=store, webhook_keys=ring)

    def served(app: ASGIApp) -> ASGIApp:
        return StatusRecorder(app, statuses) if options.record_statuses else app

    app = new_app()
    with contextlib.ExitStack() as stack:
        front = served(app)
        url = stack.enter_context(serving.serve_in_thread(front, what="bridge"))
        if store_backend == "replicas":
            other = stack.enter_context(serving.serve_in_thread(served(new_app()), what="bridge"))
            url = stack.enter_context(running_round_robin([url, other])).url
        http = stack.enter_context(httpx.Client(timeout=20, verify=TLS))
        recorder = front if isinstance(front, StatusRecorder) else None
        yield Bridge(
            url, app, settings, http, options, emulator_url, clock, recorder, ring, private
        )


class OfflineLink(PlaidLink):
    """Link tokens without asking Plaid (these tests never reach Plaid)."""

    def create_link_token(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> str:
        return "link-sandbox-offline"

    async def create_link_token_async(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> str:
        return "link-sandbox-offline"  # the routes' path (on the event loop)


def one_item_stored() -> Settings:
    """The settings of a store that holds one Item, sealed under the configured key."""
    settings = load()
    with open_bridge_store(settings) as store:
        store.save_authorization("s", ItemRecord("i", ACCESS_TOKEN, None, "u"), "c", "client",
                                 "http://127.0.0.1/cb", None, None, 60)  # fmt: skip
    return settings


def record_completion_uris(monkeypatch: Any) -> list[str]:
    """The ``completion_redirect_uri`` of every Hosted Link token the bridge asks Plaid for
    (in order), recorded from the body it sends (``plaid_client.link_token_body``)."""
    completions: list[str] = []
    original = plaid_client.link_token_body

    def recording(*args: object, **kwargs: object) -> dict[str, object]:
        options = kwargs.get("hosted_link")
        if isinstance(options, dict):
            completions.append(str(options["completion_redirect_uri"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(plaid_client, "link_token_body", recording)
    return completions
