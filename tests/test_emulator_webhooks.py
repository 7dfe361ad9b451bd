"""The emulator's webhooks reach a real local receiver, signed as Plaid signs them: verified
here as Plaid documents (PyJWT + the key from /webhook_verification_key/get through
plaid-python), with bodies in Plaid's documented shapes (validated against the pinned spec)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from emulator_support import client, settings, spec, url
from plaid.api import plaid_api
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.link_token_create_hosted_link import LinkTokenCreateHostedLink
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_get_request import LinkTokenGetRequest
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.webhook_type import WebhookType
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kore_plaid_nb import plaid_client
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.emulator.store import Store
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

TIMEOUT = 10.0

__all__ = ["client", "settings", "spec", "url"]  # module fixtures used by name


# ---------------------------------------------------------------------------- receiver


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


def _at(received: list[Received], path: str) -> list[Received]:
    return [r for r in received if r.path == path]


class Receiver:
    """A real HTTP server that records every webhook; ``/fail/...`` answers 500, ``/slow/...``
    answers after 3 s."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self._changed = threading.Condition()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._changed:
                self.received.append(Received(request.url.path, dict(request.headers), body))
                self._changed.notify_all()
            if request.url.path.startswith("/fail/"):
                return Response(status_code=500)
            if request.url.path.startswith("/slow/"):
                await asyncio.sleep(3)
            return Response(status_code=200)

        return Starlette(routes=[Route("/{rest:path}", hook, methods=["POST"])])

    def at(self, path: str) -> list[Received]:
        with self._changed:
            return _at(self.received, path)

    def wait(self, path: str, count: int = 1) -> list[Received]:
        """The first ``count`` webhooks received at ``path`` (waits for them)."""
        deadline = time.monotonic() + TIMEOUT
        with self._changed:
            while len(_at(self.received, path)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{count} webhook(s) never reached {path}: {self.received}"
                self._changed.wait(left)
            return _at(self.received, path)[:count]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    with serve_in_thread(hooks.app(), what="webhook receiver") as url:
        hooks.url = url
        yield hooks


# ---------------------------------------------------------------------------- emulator


_counter = iter(range(1_000_000))


def hook_path(prefix: str = "hook") -> str:
    return f"/{prefix}/{next(_counter)}"


def new_item(
    client: plaid_api.PlaidApi,
    webhook: str | None,
    products: tuple[str, ...] = ("auth",),
) -> tuple[str, str]:
    """``(access_token, item_id)`` of a new Item whose webhook is ``webhook`` (Auth only by
    default: an Item with transactions first hears INITIAL_UPDATE and HISTORICAL_UPDATE)."""
    options = SandboxPublicTokenCreateRequestOptions(webhook=webhook) if webhook else None
    request = SandboxPublicTokenCreateRequest(
        institution_id="ins_109508",
        initial_products=[Products(p) for p in products],
        **({"options": options} if options else {}),
    )
    public = client.sandbox_public_token_create(request).public_token
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public)
    )
    return exchanged.access_token, exchanged.item_id


PULL_CODES = ["INITIAL_UPDATE", "HISTORICAL_UPDATE"]
WITH_TRANSACTIONS = ("transactions", "auth")


def after_pull(client: plaid_api.PlaidApi, receiver: Receiver, path: str, count: int = 1):
    """The ``count`` webhooks a transactions Item hears after its pull's two (checked)."""
    received = receiver.wait(path, 2 + count)
    assert [verify(client, r)["webhook_code"] for r in received[:2]] == PULL_CODES
    return received[2:]


def verify(client: plaid_api.PlaidApi, received: Received) -> dict:
    """Plaid's documented verification; returns the parsed body."""
    token = received.headers["plaid-verification"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": header["kid"], "typ": "JWT"}
    key = client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=header["kid"])
    ).key
    claims = jwt.decode(token, jwt.PyJWK(key.to_dict()), algorithms=["ES256"])
    assert set(claims) == {"iat", "request_body_sha256"}
    assert abs(time.time() - claims["iat"]) < 5 * 60
    assert claims["request_body_sha256"] == hashlib.sha256(received.body).hexdigest()
    return json.loads(received.body)


# ---------------------------------------------------------------------------- signature


def test_a_webhook_verifies_with_the_published_key_and_its_body_hash(client, receiver, spec):
    path = hook_path()
    token, item_id = new_item(client, receiver.url + path, WITH_TRANSACTIONS)
    fired = client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(
            access_token=token,
            webhook_code="DEFAULT_UPDATE",
            webhook_type=WebhookType("TRANSACTIONS"),
        )
    )
    assert fired.webhook_fired is True
    (received,) = after_pull(client, receiver, path)
    assert received.headers["content-type"] == "application/json"
    body = verify(client, received)
    assert body == {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "DEFAULT_UPDATE",
        "item_id": item_id,
        "error": None,
        "new_transactions": 0,
        "environment": "sandbox",
    }
    spec.check("DefaultUpdateWebhook", body)


def test_a_changed_body_or_another_key_fails_verification(client, receiver):
    path = hook_path()
    token, _ = new_item(client, receiver.url + path)
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=token, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    )
    (received,) = receiver.wait(path)
    verify(client, received)
    tampered = Received(received.path, received.headers, received.body.replace(b"ITEM", b"AUTH"))
    with pytest.raises(AssertionError):
        verify(client, tampered)
    forged = jwt.encode(
        {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(received.body).hexdigest()},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": jwt.get_unverified_header(received.headers["plaid-verification"])["kid"]},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify(client, Received(received.path, {"plaid-verification": forged}, received.body))


def test_a_restarted_emulator_keeps_its_kid(tmp_path):
    settings = Settings(home=tmp_path / "home")
    state = tmp_path / "state" / "emulator.sqlite3"
    kids = []
    for _ in range(2):
        with running_emulator(settings, state_path=state) as base:
            kids.append(wait_for_deliveries(base, settings.client_id, settings.secret, 0)["kid"])
            client = plaid_client.create(settings.with_values(plaid_api_url=base))
            key = client.webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=kids[-1])
            ).key
            assert key.kid == kids[-1]
    assert kids[0] == kids[1]
    assert state.stat().st_mode & 0o777 == 0o600  # the private key lives here


# ---------------------------------------------------------------------------- Item webhooks


def test_reset_login_sends_item_error_with_item_login_required(client, receiver, spec):
    path = hook_path()
    token, item_id = new_item(client, receiver.url + path)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    body = verify(client, receiver.wait(path)[0])
    spec.check("ItemErrorWebhook", body)
    assert (body["webhook_type"], body["webhook_code"], body["item_id"]) == (
        "ITEM",
        "ERROR",
        item_id,
    )
    assert body["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    assert body["error"]["error_type"] == "ITEM_ERROR"
    assert body["environment"] == "sandbox"


FIRED = [
    ("DEFAULT_UPDATE", None, "TRANSACTIONS", "DefaultUpdateWebhook"),
    ("DEFAULT_UPDATE", "AUTH", "AUTH", "AuthDefaultUpdateWebhook"),
    ("NEW_ACCOUNTS_AVAILABLE", None, "ITEM", "NewAccountsAvailableWebhook"),
    ("ERROR", "ITEM", "ITEM", "ItemErrorWebhook"),
    ("PENDING_DISCONNECT", None, "ITEM", "PendingDisconnectWebhook"),
    ("USER_PERMISSION_REVOKED", None, "ITEM", "UserPermissionRevokedWebhook"),
    ("USER_ACCOUNT_REVOKED", None, "ITEM", "UserAccountRevokedWebhook"),
    ("LOGIN_REPAIRED", None, "ITEM", "ItemLoginRepairedWebhook"),
    ("SYNC_UPDATES_AVAILABLE", None, "TRANSACTIONS", "SyncUpdatesAvailableWebhook"),
    ("RECURRING_TRANSACTIONS_UPDATE", None, "TRANSACTIONS", "RecurringTransactionsUpdateWebhook"),
]


@pytest.mark.parametrize(("code", "kind", "sent_type", "schema"), FIRED)
def test_fire_webhook_sends_plaids_documented_body(
    client, receiver, spec, code, kind, sent_type, schema
):
    path = hook_path()
    transactions = sent_type == "TRANSACTIONS"
    token, item_id = new_item(
        client, receiver.url + path, WITH_TRANSACTIONS if transactions else ("auth",)
    )
    extra = {"webhook_type": WebhookType(kind)} if kind else {}
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=token, webhook_code=code, **extra)
    )
    fired = after_pull(client, receiver, path) if transactions else receiver.wait(path)
    body = verify(client, fired[0])
    spec.check(schema, body)
    assert (body["webhook_type"], body["webhook_code"], body["item_id"]) == (
        sent_type,
        code,
        item_id,
    )
    assert body["environment"] == "sandbox"
    if code == "ERROR":
        assert body["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    if code == "USER_PERMISSION_REVOKED":
        assert body["error"]["error_code"] == "USER_PERMISSION_REVOKED"


def test_webhook_update_acknowledges_to_the_new_url(client, receiver, spec):
    old, new = hook_path(), hook_path()
    token, item_id = new_item(client, receiver.url + old)
    answer = client.item_webhook_update(
        ItemWebhookUpdateRequest(access_token=token, webhook=receiver.url + new)
    )
    assert answer.item.webhook == receiver.url + new
    body = verify(client, receiver.wait(new)[0])
    spec.check("WebhookUpdateAcknowledgedWebhook", body)
    assert body == {
        "webhook_type": "ITEM",
        "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
        "item_id": item_id,
        "error": None,
        "new_webhook_url": receiver.url + new,
        "environment": "sandbox",
    }
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    assert verify(client, receiver.wait(new, 2)[1])["webhook_code"] == "ERROR"
    assert receiver.at(old) == []


def test_delivery_never_blocks_the_api_call(client, receiver):
    path = hook_path("slow")
    token, _ = new_item(client, receiver.url + path)
    started = time.monotonic()
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=token, webhook_code="LOGIN_REPAIRED")
    )
    assert time.monotonic() - started < 2.0  # the receiver takes 3 s
    receiver.wait(path)


def test_a_failed_delivery_is_one_log_line_without_secrets(client, receiver, settings, url, caplog):
    path = hook_path("fail")
    secret_query = "receiver_secret=s3cr3t-value"
    token, _ = new_item(client, f"{receiver.url}{path}?{secret_query}")
    caplog.set_level(logging.WARNING, logger="kore_plaid_nb.emulator")
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    receiver.wait(path)
    report = wait_for_deliveries(url, settings.client_id, settings.secret, TIMEOUT)
    assert report["pending"] == 0 and report["idle"] is True
    attempt = [d for d in report["deliveries"] if d["url"].endswith(path)]
    assert [(d["webhook_code"], d["status_code"], d["error"]) for d in attempt] == [
        ("ERROR", 500, "HTTP 500")
    ]
    lines = [r.getMessage() for r in caplog.records if path in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "ITEM ERROR" in lines[0] and "HTTP 500" in lines[0]
    for secret in ("s3cr3t", token, settings.secret):
        assert secret not in caplog.text
        assert secret not in str(report)


def test_the_outbox_needs_the_keys(url, settings):
    response = httpx.get(url + "/_emulator/webhooks", headers={"PLAID-CLIENT-ID": "x"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "MISSING_FIELDS"


# ---------------------------------------------------------------------------- Link


def standin(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=TIMEOUT)


def link_token(client: plaid_api.PlaidApi, **extra: object) -> object:
    request = LinkTokenCreateRequest(
        client_name="Kore runbook",
        language="en",
        country_codes=[CountryCode("US")],
        user=LinkTokenCreateRequestUser(client_user_id="user-1"),
        **extra,
    )
    return client.link_token_create(request)


def test_update_mode_repairs_the_same_item_and_sends_login_repaired(client, receiver, url):
    path = hook_path()
    token, item_id = new_item(client, receiver.url + path)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    update = link_token(client, access_token=token).link_token
    session = standin(url, "/link/_standin/session", {"link_token": update}).json()
    assert session["update_mode"] is True
    done = standin(
        url,
        "/link/_standin/complete",
        {"link_token": update, "institution_id": "ins_109508", "username": "user_good",
         "password": "pass_good", "link_session_id": "update-session-1"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["public_token"].startswith("public-sandbox-")
    assert client.item_get(ItemGetRequest(access_token=token)).item.error is None
    assert client.accounts_get(AccountsGetRequest(access_token=token)).item.item_id == item_id
    error, repaired = (verify(client, r) for r in receiver.wait(path, 2))
    assert (error["webhook_code"], repaired["webhook_code"]) == ("ERROR", "LOGIN_REPAIRED")
    assert repaired == {
        "webhook_type": "ITEM",
        "webhook_code": "LOGIN_REPAIRED",
        "item_id": item_id,
        "environment": "sandbox",
    }


def test_link_token_get_lists_the_sessions_public_token(client, url, spec):
    created = link_token(client, products=[Products("auth")], webhook="http://127.0.0.1:9/x")
    done = standin(
        url,
        "/link/_standin/complete",
        {"link_token": created.link_token, "institution_id": "ins_109508",
         "username": "user_good", "password": "pass_good", "link_session_id": "session-1"},
    ).json()  # fmt: skip
    got = client.link_token_get(LinkTokenGetRequest(link_token=created.link_token))
    raw = json.loads(client.api_client.last_response.data)
    spec.check("LinkTokenGetResponse", raw)
    assert got.link_token == created.link_token and got.expiration == created.expiration
    assert got.metadata.webhook == "http://127.0.0.1:9/x"
    assert [p.value for p in got.metadata.initial_products] == ["auth"]
    (session,) = got.link_sessions
    assert session.link_session_id == "session-1" and session.finished_at
    (result,) = session.results.item_add_results
    assert result.public_token == done["public_token"]
    assert result.institution.institution_id == "ins_109508"
    assert [a.mask for a in result.accounts][:2] == ["0000", "1111"]


def hosted(client: plaid_api.PlaidApi, webhook: str, redirect: str | None) -> object:
    options = {"completion_redirect_uri": redirect} if redirect else {}
    return link_token(
        client,
        products=[Products("auth")],
        webhook=webhook,
        hosted_link=LinkTokenCreateHostedLink(**options),
    )


def test_hosted_link_finishes_with_signed_link_webhooks_and_redirects(client, receiver, url, spec):
    path = hook_path()
    created = hosted(client, receiver.url + path, "https://app.example/done?x=1")
    page_url = created.hosted_link_url
    assert page_url.startswith(url + "/hosted-link/")
    assert created.link_token not in page_url
    with httpx.Client(timeout=TIMEOUT) as browser:
        page = browser.get(page_url)
        assert page.status_code == 200 and 'value="user_good"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        session_id = page.text.split('name="link_session_id" value="')[1].split('"')[0]
        form = {"link_session_id": session_id, "institution_id": "ins_109508",
                "username": "user_good", "password": "pass_good"}  # fmt: skip
        done = browser.post(page_url, data=form)
    assert done.status_code == 303
    assert done.headers["location"] == "https://app.example/done?x=1"
    added, finished = (verify(client, r) for r in receiver.wait(path, 2))
    spec.check("ItemAddResultWebhook", added)
    spec.check("LinkSessionFinishedWebhook", finished)
    public_token = added["public_token"]
    assert finished == {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "status": "SUCCESS",
        "link_session_id": session_id,
        "link_token": created.link_token,
        "public_tokens": [public_token],
        "environment": "sandbox",
    }
    got = client.link_token_get(LinkTokenGetRequest(link_token=created.link_token))
    (session,) = got.link_sessions
    assert session.link_session_id == session_id
    assert session.results.item_add_results[0].public_token == public_token
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public_token)
    )
    assert exchanged.access_token.startswith("access-sandbox-")


def test_hosted_link_wrong_password_shows_the_error_and_an_unknown_id_is_404(client, url):
    created = hosted(client, "http://127.0.0.1:9/x", None)
    wrong = {"institution_id": "ins_109508", "username": "user_good", "password": "nope"}
    answer = httpx.post(created.hosted_link_url, data=wrong, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert "The provided credentials were not correct" in answer.text
    assert httpx.get(url + "/hosted-link/nope", timeout=TIMEOUT).status_code == 404
    right = {**wrong, "password": "pass_good"}
    done = httpx.post(created.hosted_link_url, data=right, timeout=TIMEOUT)
    assert done.status_code == 200 and "You are connected" in done.text


def test_hosted_link_exit_sends_exited_and_redirects_without_results(
    client, receiver, url, spec, settings
):
    path = hook_path()
    created = hosted(client, receiver.url + path, "https://app.example/done?x=1")
    with httpx.Client(timeout=TIMEOUT) as browser:
        page = browser.get(created.hosted_link_url)
        assert 'id="plaid-standin-exit"' in page.text
        session_id = page.text.split('name="link_session_id" value="')[1].split('"')[0]
        left = browser.post(
            created.hosted_link_url, data={"link_session_id": session_id, "action": "exit"}
        )
    assert left.status_code == 303
    assert left.headers["location"] == "https://app.example/done?x=1"
    (finished,) = (verify(client, r) for r in receiver.wait(path, 1))
    spec.check("LinkSessionFinishedWebhook", finished)
    assert finished == {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "status": "EXITED",
        "link_session_id": session_id,
        "link_token": created.link_token,
        "environment": "sandbox",
    }
    got = client.link_token_get(LinkTokenGetRequest(link_token=created.link_token))
    spec.check("LinkTokenGetResponse", json.loads(client.api_client.last_response.data))
    (session,) = got.link_sessions
    assert session.link_session_id == session_id and session.finished_at
    assert session.results.item_add_results == []
    assert session.exit.error is None
    assert session.exit.metadata.link_session_id == session_id
    assert session.exit.metadata.status == "requires_credentials"
    # the session is over: a second Exit (or a login) for it sends nothing more
    again = {"link_session_id": session_id, "action": "exit"}
    assert httpx.post(created.hosted_link_url, data=again, timeout=TIMEOUT).status_code == 303
    wait_for_deliveries(url, settings.client_id, settings.secret, TIMEOUT)
    assert len(receiver.at(path)) == 1


def test_hosted_link_exit_without_redirect_shows_a_closed_page(client, url):
    created = hosted(client, "http://127.0.0.1:9/x", None)
    left = httpx.post(created.hosted_link_url, data={"action": "exit"}, timeout=TIMEOUT)
    assert left.status_code == 200 and "You left without connecting a bank" in left.text
    got = client.link_token_get(LinkTokenGetRequest(link_token=created.link_token))
    (session,) = got.link_sessions
    assert session.finished_at and session.results.item_add_results == []


def test_a_state_file_from_before_link_exits_gains_the_exit_column(tmp_path):
    path = tmp_path / "emulator.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE link_sessions (link_session_id TEXT PRIMARY KEY, link_token TEXT NOT "
            "NULL, started_at REAL NOT NULL, finished_at REAL, item_add_results TEXT NOT NULL "
            "DEFAULT '[]')"
        )
        db.execute("INSERT INTO link_sessions VALUES ('old', 'link-sandbox-1', 1.0, NULL, '[]')")
        db.commit()
    store = Store(path)
    try:
        assert store.exit_link_session("link-sandbox-1", "old", {"error": None})
        assert not store.exit_link_session("link-sandbox-1", "old", {"error": None})
        (session,) = store.link_sessions("link-sandbox-1")
        assert session["finished_at"] and session["exit"] == {"error": None}
    finally:
        store.close()
