"""The emulator, closer to Plaid (issue 25, points 1, 3, 4 and 8): each answer and webhook is
read through plaid-python and validated against the pinned spec.

1. ``/link/token/get`` echoes every metadata field ``/link/token/create`` was given;
3. ``/webhook_verification_key/get`` answers Plaid's published Sandbox key id;
4. TRANSACTIONS webhooks as Plaid sends them (Item creation, the first /transactions/sync or
   /transactions/get, refresh, fire_webhook);
8. API errors carry exactly Plaid's fields (no ``causes``, no ``status``)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import httpx
import jwt
import plaid
import pytest
from emulator_support import client, settings, spec, url
from plaid.api import plaid_api
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.credit_account_subtype import CreditAccountSubtype
from plaid.model.credit_account_subtypes import CreditAccountSubtypes
from plaid.model.credit_filter import CreditFilter
from plaid.model.depository_account_subtype import DepositoryAccountSubtype
from plaid.model.depository_account_subtypes import DepositoryAccountSubtypes
from plaid.model.depository_filter import DepositoryFilter
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_account_filters import LinkTokenAccountFilters
from plaid.model.link_token_create_institution_data import LinkTokenCreateInstitutionData
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_get_request import LinkTokenGetRequest
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest
from plaid_spec import load_spec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kore_plaid_nb import plaid_client
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.emulator.store import Store
from kore_plaid_nb.emulator.webhooks import SANDBOX_KID, WebhookSender, wait_for_deliveries
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

TIMEOUT = 10.0
# exactly the fields Plaid's API sends in an error answer
API_ERROR_FIELDS = {
    "error_type",
    "error_code",
    "error_message",
    "display_message",
    "request_id",
    "documentation_url",
    "suggested_action",
}

__all__ = ["client", "settings", "spec", "url"]  # module fixtures used by name


class Receiver:
    """A real HTTP server that records every webhook body by path."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self._changed = threading.Condition()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._changed:
                self.received.append((request.url.path, dict(request.headers), body))
                self._changed.notify_all()
            return Response(status_code=200)

        return Starlette(routes=[Route("/{rest:path}", hook, methods=["POST"])])

    def wait(self, path: str, count: int) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + TIMEOUT
        with self._changed:
            while len(self.at(path)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{count} webhook(s) never reached {path}: {self.at(path)}"
                self._changed.wait(left)
            return self.at(path)

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.received if p == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    with serve_in_thread(hooks.app(), what="webhook receiver") as url:
        hooks.url = url
        yield hooks


_counter = iter(range(1_000_000))


def hook_path() -> str:
    return f"/hook/{next(_counter)}"


def raw(client: plaid_api.PlaidApi) -> dict:
    return json.loads(client.api_client.last_response.data)


def new_item(
    client: plaid_api.PlaidApi,
    webhook: str | None,
    *products: str,
    institution_id: str = "ins_109508",
) -> tuple[str, str]:
    options = (
        {"options": SandboxPublicTokenCreateRequestOptions(webhook=webhook)} if webhook else {}
    )
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id=institution_id,
            initial_products=[Products(p) for p in products],
            **options,
        )
    ).public_token
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public)
    )
    return exchanged.access_token, exchanged.item_id


def verified(client: plaid_api.PlaidApi, headers: dict[str, str], body: bytes) -> dict:
    """Plaid's documented verification (key through plaid-python); the parsed body."""
    token = headers["plaid-verification"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=kid)).key
    claims = jwt.decode(token, jwt.PyJWK(key.to_dict()), algorithms=["ES256"])
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    return json.loads(body)


def webhooks_at(client, receiver, settings, url, path: str, count: int) -> list[dict]:
    """Exactly ``count`` verified webhooks reached ``path`` once the emulator is idle."""
    receiver.wait(path, count)
    assert wait_for_deliveries(url, settings.client_id, settings.secret, TIMEOUT)["idle"]
    received = receiver.at(path)
    assert len(received) == count, [json.loads(b)["webhook_code"] for _, b in received]
    return [verified(client, headers, body) for headers, body in received]


def codes(bodies: list[dict]) -> list[str]:
    return [b["webhook_code"] for b in bodies]


def all_transactions(client: plaid_api.PlaidApi, access_token: str) -> list:
    added, cursor, more = [], "", True
    while more:
        page = client.transactions_sync(
            TransactionsSyncRequest(access_token=access_token, cursor=cursor, count=500)
        )
        added += page.added
        cursor, more = page.next_cursor, page.has_more
    return added


# ---------------------------------------------------------------------------- point 1


def link_token_request(**extra: object) -> LinkTokenCreateRequest:
    return LinkTokenCreateRequest(
        client_name="Plaid Test",
        language="en",
        country_codes=[CountryCode("US")],
        user=LinkTokenCreateRequestUser(client_user_id="user-1"),
        **extra,
    )


def test_link_token_get_echoes_every_metadata_field_create_was_given(client, spec):
    filters = {
        "depository": {"account_subtypes": ["checking", "savings"]},
        "credit": {"account_subtypes": ["credit card"]},
    }
    created = client.link_token_create(
        link_token_request(
            products=[Products("auth"), Products("transactions")],
            webhook="https://sample-webhook-uri.com",
            redirect_uri="http://localhost:8000/oauth-return",
            account_filters=LinkTokenAccountFilters(
                depository=DepositoryFilter(
                    account_subtypes=DepositoryAccountSubtypes(
                        [DepositoryAccountSubtype("checking"), DepositoryAccountSubtype("savings")]
                    )
                ),
                credit=CreditFilter(
                    account_subtypes=CreditAccountSubtypes([CreditAccountSubtype("credit card")])
                ),
            ),
            institution_data=LinkTokenCreateInstitutionData(routing_number="011401533"),
        )
    )
    got = client.link_token_get(LinkTokenGetRequest(link_token=created.link_token))
    spec.check("LinkTokenGetResponse", raw(client))
    metadata = got.metadata
    # plaid-python reads every field (an absent one would raise ApiAttributeError)
    assert [p.value for p in metadata.initial_products] == ["auth", "transactions"]
    assert metadata.webhook == "https://sample-webhook-uri.com"
    assert [c.value for c in metadata.country_codes] == ["US"]
    assert metadata.language == "en" and metadata.client_name == "Plaid Test"
    assert metadata.redirect_uri == "http://localhost:8000/oauth-return"
    depository = metadata.account_filters.depository.account_subtypes
    assert [s.value for s in depository.value] == ["checking", "savings"]
    assert [s.value for s in metadata.account_filters.credit.account_subtypes.value] == [
        "credit card"
    ]
    assert metadata.institution_data.routing_number == "011401533"
    assert raw(client)["metadata"]["account_filters"] == filters  # as Plaid's client test reads


def test_link_token_create_refuses_malformed_account_filters(client, settings, url, spec):
    def create(filters: object) -> httpx.Response:
        body = {"client_name": "x", "language": "en", "country_codes": ["US"],
                "user": {"client_user_id": "u"}, "products": ["auth"],
                "account_filters": filters}  # fmt: skip
        return httpx.post(
            url + "/link/token/create",
            json=body,
            headers={"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret},
        )

    for filters, words in (
        ({"savings": {"account_subtypes": ["checking"]}}, "unknown account types"),
        ({"depository": {"account_subtypes": ["credit card"]}}, "not allowed: credit card"),
        ({"depository": {}}, "account_subtypes"),
        ({"depository": ["checking"]}, "must be an object"),
        ("checking", "must be an object"),
    ):
        answer = create(filters)
        assert answer.status_code == 400, filters
        error = answer.json()
        spec.check("PlaidError", error)
        assert error["error_type"] == "INVALID_REQUEST" and words in error["error_message"]


def test_account_filters_are_checked_field_by_field_and_other_is_echoed(
    client, settings, url, spec
):
    keys = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    base = {"client_name": "x", "language": "en", "country_codes": ["US"],
            "user": {"client_user_id": "u"}, "products": ["auth"]}  # fmt: skip
    for filters, field, words in (
        ({"other": {"account_subtypes": ["checking"]}}, "other.account_subtypes", "checking"),
        ({"depository": {"account_subtypes": ["checking"], "limited_purpose_types": ["RENT"]}},
         "depository.limited_purpose_types", "RENT"),
        ({"credit": {"account_subtypes": ["savings"]}}, "credit.account_subtypes", "savings"),
        ({"loan": {}}, "loan.account_subtypes", ""),
    ):  # fmt: skip
        answer = httpx.post(
            url + "/link/token/create", json={**base, "account_filters": filters}, headers=keys
        )
        error = answer.json()
        spec.check("PlaidError", error)
        assert answer.status_code == 400 and error["error_type"] == "INVALID_REQUEST", filters
        assert (
            f"account_filters.{field}" in error["error_message"] and words in error["error_message"]
        )
    filters = {
        "other": {"account_subtypes": ["other"]},
        "depository": {"account_subtypes": ["limited purpose checking"],
                       "limited_purpose_types": ["RENT_MORTGAGE"]},
    }  # fmt: skip
    created = httpx.post(
        url + "/link/token/create", json={**base, "account_filters": filters}, headers=keys
    ).json()
    client.link_token_get(LinkTokenGetRequest(link_token=created["link_token"]))
    spec.check("LinkTokenGetResponse", raw(client))
    assert raw(client)["metadata"]["account_filters"] == filters


# ---------------------------------------------------------------------------- point 3


def test_plaids_published_sandbox_kid_answers_a_valid_p256_key(tmp_path):
    settings = Settings(home=tmp_path / "home")
    state = tmp_path / "emulator.sqlite3"
    spec = load_spec()
    keys = []
    for _ in range(2):  # the key stays the same across restarts
        with running_emulator(settings, state_path=state) as base:
            client = plaid_client.create(settings.with_values(plaid_api_url=base))
            key = client.webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=SANDBOX_KID)
            ).key
            spec.check("WebhookVerificationKeyGetResponse", raw(client))
            keys.append(key.to_dict())
            own = wait_for_deliveries(base, settings.client_id, settings.secret, 0)["kid"]
    assert keys[0] == keys[1]
    key = keys[0]
    assert (key["kid"], key["alg"], key["kty"], key["crv"], key["use"]) == (
        SANDBOX_KID, "ES256", "EC", "P-256", "sig",
    )  # fmt: skip
    assert key["expired_at"] is None
    assert own != SANDBOX_KID  # deliveries are still signed with the emulator's own key
    # the emulator can sign under Plaid's Sandbox kid too; the served key verifies it
    store = Store(state)
    try:
        body = b'{\n  "webhook_type": "ITEM"\n}'
        token = WebhookSender(store).sign(body, kid=SANDBOX_KID)
    finally:
        store.close()
    assert jwt.get_unverified_header(token)["kid"] == SANDBOX_KID
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["ES256"])  # a point on P-256
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------------------- point 4


def test_a_new_transactions_item_hears_initial_then_historical_update(
    client, receiver, settings, url, spec
):
    path = hook_path()
    token, item_id = new_item(client, receiver.url + path, "transactions", "auth")
    initial, historical = webhooks_at(client, receiver, settings, url, path, 2)
    spec.check("InitialUpdateWebhook", initial)
    spec.check("HistoricalUpdateWebhook", historical)
    assert initial == {"webhook_type": "TRANSACTIONS", "webhook_code": "INITIAL_UPDATE",
                       "item_id": item_id, "error": None,
                       "new_transactions": initial["new_transactions"],
                       "environment": "sandbox"}  # fmt: skip
    assert (historical["webhook_type"], historical["item_id"]) == ("TRANSACTIONS", item_id)
    # the counts are what /transactions/sync then pages through: 30 days, then the rest
    everything = all_transactions(client, token)
    since = datetime.now(UTC).date() - timedelta(days=30)
    recent = [t for t in everything if t.date > since]
    assert 0 < initial["new_transactions"] == len(recent)
    assert initial["new_transactions"] + historical["new_transactions"] == len(everything)
    # /transactions/sync was not called before: no SYNC_UPDATES_AVAILABLE yet
    assert "SYNC_UPDATES_AVAILABLE" not in codes(webhooks_at(client, receiver, settings, url,
                                                             path, 2))  # fmt: skip


def test_an_item_linked_through_link_hears_the_same(client, receiver, settings, url):
    path = hook_path()
    created = client.link_token_create(
        link_token_request(products=[Products("transactions")], webhook=receiver.url + path)
    )
    done = httpx.post(
        url + "/link/_standin/complete",
        json={"link_token": created.link_token, "institution_id": "ins_109508",
              "username": "user_good", "password": "pass_good"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    bodies = webhooks_at(client, receiver, settings, url, path, 2)
    assert codes(bodies) == ["INITIAL_UPDATE", "HISTORICAL_UPDATE"]


def test_an_item_without_transactions_hears_nothing_until_sync_then_sync_updates_twice(
    client, receiver, settings, url, spec
):
    path = hook_path()
    token, item_id = new_item(client, receiver.url + path, "auth")
    assert wait_for_deliveries(url, settings.client_id, settings.secret, TIMEOUT)["idle"]
    assert receiver.at(path) == []
    first = client.transactions_sync(TransactionsSyncRequest(access_token=token))
    spec.check("TransactionsSyncResponse", raw(client))
    # nothing is pulled yet: the spec's NOT_READY, empty arrays and an empty cursor
    assert raw(client)["transactions_update_status"] == "NOT_READY"
    assert (first.added, first.modified, first.removed, first.accounts) == ([], [], [], [])
    assert (first.next_cursor, first.has_more) == ("", False)
    bodies = webhooks_at(client, receiver, settings, url, path, 4)
    assert codes(bodies) == [
        "INITIAL_UPDATE",
        "SYNC_UPDATES_AVAILABLE",
        "HISTORICAL_UPDATE",
        "SYNC_UPDATES_AVAILABLE",
    ]
    first, second = bodies[1], bodies[3]
    for body in (first, second):
        spec.check("SyncUpdatesAvailableWebhook", body)
    assert (first["initial_update_complete"], first["historical_update_complete"]) == (True, False)
    assert second == {"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE",
                      "item_id": item_id, "initial_update_complete": True,
                      "historical_update_complete": True, "environment": "sandbox"}  # fmt: skip
    # after the pull's webhooks, the next call (with the empty cursor) gets the data
    again = client.transactions_sync(TransactionsSyncRequest(access_token=token, count=500))
    assert raw(client)["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
    assert again.added and again.accounts and again.next_cursor


def test_transactions_get_on_an_item_without_transactions_is_not_ready_at_first(
    client, receiver, settings, url, spec
):
    path = hook_path()
    token, _ = new_item(client, receiver.url + path, "auth")
    days = {"start_date": date(2000, 1, 1), "end_date": date(2100, 1, 1)}
    request = TransactionsGetRequest(access_token=token, **days)
    with pytest.raises(plaid.ApiException) as caught:
        client.transactions_get(request)
    error = json.loads(caught.value.body)
    spec.check(spec.error_schema("/transactions/get"), error)
    assert (caught.value.status, error["error_type"], error["error_code"]) == (
        400, "ITEM_ERROR", "PRODUCT_NOT_READY",
    )  # fmt: skip
    bodies = webhooks_at(client, receiver, settings, url, path, 2)
    assert codes(bodies) == ["INITIAL_UPDATE", "HISTORICAL_UPDATE"]
    got = client.transactions_get(request)
    assert got.transactions and got.total_transactions == len(got.transactions)


def test_refresh_of_an_item_without_transactions_is_refused(client, settings, url, spec):
    token, _ = new_item(client, None, "auth")
    with pytest.raises(plaid.ApiException) as caught:
        client.transactions_refresh(TransactionsRefreshRequest(access_token=token))
    error = json.loads(caught.value.body)
    spec.check(spec.error_schema("/transactions/refresh"), error)
    assert (caught.value.status, error["error_code"]) == (400, "PRODUCTS_NOT_SUPPORTED")
    assert "/transactions/sync" in error["error_message"]
    item = client.item_get(ItemGetRequest(access_token=token)).item
    assert [p.value for p in item.billed_products] == ["auth"]  # the refusal adds nothing


def test_refresh_finds_no_change_in_the_fixed_sandbox_data_and_fires_nothing(
    client, receiver, settings, url, spec
):
    """Plaid fires DEFAULT_UPDATE / SYNC_UPDATES_AVAILABLE after a refresh only if it finds
    new or changed transactions; user_good's are fixed."""
    path = hook_path()
    token, _ = new_item(client, receiver.url + path, "transactions")
    webhooks_at(client, receiver, settings, url, path, 2)  # INITIAL_UPDATE, HISTORICAL_UPDATE
    before = all_transactions(client, token)
    for _ in range(2):  # before and after /transactions/sync was called
        answer = client.transactions_refresh(TransactionsRefreshRequest(access_token=token))
        spec.check("TransactionsRefreshResponse", raw(client))
        assert answer.request_id
        assert len(webhooks_at(client, receiver, settings, url, path, 2)) == 2
    assert [t.transaction_id for t in all_transactions(client, token)] == [
        t.transaction_id for t in before
    ]


@pytest.mark.parametrize("institution_id", ["ins_117650", "ins_43", "ins_990101"])
def test_fired_webhooks_name_the_accounts_of_the_items_own_country(
    client, receiver, settings, url, spec, institution_id
):
    path = hook_path()
    token, _ = new_item(client, receiver.url + path, "auth", institution_id=institution_id)
    own = {
        a.account_id for a in client.accounts_get(AccountsGetRequest(access_token=token)).accounts
    }
    for code in ("USER_ACCOUNT_REVOKED", "RECURRING_TRANSACTIONS_UPDATE"):
        if code == "RECURRING_TRANSACTIONS_UPDATE":  # needs transactions: the pull's 4 first
            client.transactions_sync(TransactionsSyncRequest(access_token=token))
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=token, webhook_code=code)
        )
    bodies = webhooks_at(client, receiver, settings, url, path, 6)
    revoked = next(b for b in bodies if b["webhook_code"] == "USER_ACCOUNT_REVOKED")
    recurring = next(b for b in bodies if b["webhook_code"] == "RECURRING_TRANSACTIONS_UPDATE")
    spec.check("UserAccountRevokedWebhook", revoked)
    spec.check("RecurringTransactionsUpdateWebhook", recurring)
    assert revoked["account_id"] in own
    assert set(recurring["account_ids"]) == own


def test_fire_webhook_sends_sync_updates_available_only_for_transactions_items(
    client, receiver, settings, url, spec
):
    path = hook_path()
    token, _ = new_item(client, receiver.url + path, "transactions")
    fire = SandboxItemFireWebhookRequest(access_token=token, webhook_code="SYNC_UPDATES_AVAILABLE")
    assert client.sandbox_item_fire_webhook(fire).webhook_fired is True
    fired = webhooks_at(client, receiver, settings, url, path, 3)[2]
    spec.check("SyncUpdatesAvailableWebhook", fired)
    auth_only, _ = new_item(client, receiver.url + hook_path(), "auth")
    with pytest.raises(plaid.ApiException) as caught:
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(
                access_token=auth_only, webhook_code="SYNC_UPDATES_AVAILABLE"
            )
        )
    error = json.loads(caught.value.body)
    spec.check("PlaidError", error)
    assert error["error_code"] == "SANDBOX_PRODUCT_NOT_ENABLED"


# ---------------------------------------------------------------------------- point 8


def test_api_errors_carry_exactly_plaids_fields(client, settings, url, spec):
    keys = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    answers = {
        "INVALID_ACCESS_TOKEN": httpx.post(url + "/item/get", json={"access_token": "x"},
                                           headers=keys),
        "MISSING_FIELDS": httpx.post(url + "/item/get", json={}, headers=keys),
        "INVALID_API_KEYS": httpx.post(url + "/item/get", json={"access_token": "x"},
                                       headers={**keys, "PLAID-SECRET": "wrong"}),
        "NOT_FOUND": httpx.post(url + "/no/such/endpoint", json={}, headers=keys),
        "INVALID_LINK_TOKEN": httpx.post(url + "/link/_standin/session",
                                         json={"link_token": "link-sandbox-x"}),
    }  # fmt: skip
    for code, answer in answers.items():
        error = answer.json()
        assert set(error) == API_ERROR_FIELDS, (code, sorted(error))
        assert error["error_code"] == code
        spec.check("PlaidError", error)
        client.api_client.deserialize(SimpleNamespace(data=answer.text), (PlaidError,), True)
    # through plaid-python and the runbook's parser, as the bridge reads it
    with pytest.raises(plaid.ApiException) as caught:
        client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token="access-x"))
    body = json.loads(caught.value.body)
    spec.check(spec.error_schema("/sandbox/item/reset_login"), body)
    assert "causes" not in body and "status" not in body
    parsed = plaid_client.error_from_exception(caught.value)
    assert (parsed.status, parsed.error_type, parsed.error_code) == (
        400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
    )  # fmt: skip
    assert parsed.request_id == body["request_id"] and len(parsed.request_id) == 15


def test_webhook_errors_keep_their_status(client, receiver, settings, url, spec):
    path = hook_path()
    token, _ = new_item(client, receiver.url + path, "auth")
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    (error_webhook,) = webhooks_at(client, receiver, settings, url, path, 1)
    spec.check("ItemErrorWebhook", error_webhook)
    assert error_webhook["error"]["status"] == 400  # the spec sends status in webhooks only
    assert error_webhook["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
