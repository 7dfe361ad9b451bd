"""Conformance: every emulator answer, success or error, passes plaid-python (called through
the real client, which type-checks) AND validates against Plaid's OpenAPI spec."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import (
    call_error,
    call_ok,
    check_error_body,
    client,
    institutions_get,
    is_152_png,
    raw_post,
    settings,
    spec,
    url,
)
from http_support import TLS
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.institutions_get_by_id_request_options import InstitutionsGetByIdRequestOptions
from plaid.model.institutions_get_request import InstitutionsGetRequest
from plaid.model.institutions_search_request import InstitutionsSearchRequest
from plaid.model.institutions_search_request_options import InstitutionsSearchRequestOptions
from plaid.model.investments_holdings_get_request import InvestmentsHoldingsGetRequest
from plaid.model.investments_transactions_get_request import InvestmentsTransactionsGetRequest
from plaid.model.investments_transactions_get_request_options import (
    InvestmentsTransactionsGetRequestOptions,
)
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.liabilities_get_request import LiabilitiesGetRequest
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
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_get_request_options import TransactionsGetRequestOptions
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_type import WebhookType
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest
from plaid_spec import SPEC_PATH

from kore_plaid_nb import plaid_client
from kore_plaid_nb.emulator import data, faults
from kore_plaid_nb.settings import Settings

ALL_PATHS = (
    "/link/token/create",
    "/sandbox/public_token/create",
    "/item/public_token/exchange",
    "/item/get",
    "/item/remove",
    "/accounts/get",
    "/accounts/balance/get",
    "/auth/get",
    "/transactions/sync",
    "/identity/get",
    "/investments/holdings/get",
    "/investments/transactions/get",
    "/liabilities/get",
    "/institutions/get_by_id",
    "/sandbox/item/reset_login",
    "/transactions/get",
    "/transactions/refresh",
    "/institutions/get",
    "/institutions/search",
    "/categories/get",
    "/item/access_token/invalidate",
    "/link/token/get",
    "/item/webhook/update",
    "/sandbox/item/fire_webhook",
    "/webhook_verification_key/get",
)
NO_KEY_PATHS = ("/categories/get",)  # security: [] in Plaid's spec
KEYED_PATHS = tuple(p for p in ALL_PATHS if p not in NO_KEY_PATHS)
ACCESS_TOKEN_PATHS = tuple(
    p
    for p in KEYED_PATHS
    if p
    not in (
        "/link/token/create",
        "/sandbox/public_token/create",
        "/item/public_token/exchange",
        "/institutions/get_by_id",
        "/institutions/get",
        "/institutions/search",
        "/link/token/get",
        "/webhook_verification_key/get",
    )
)
DATA_PATHS = tuple(
    p
    for p in ACCESS_TOKEN_PATHS
    if p
    not in (
        "/item/get",
        "/item/remove",
        "/sandbox/item/reset_login",
        "/item/access_token/invalidate",
        "/item/webhook/update",
        "/sandbox/item/fire_webhook",
    )
)
# nothing listens here: deliveries fail (logged) and the endpoints answer all the same
DEAD_WEBHOOK = "http://127.0.0.1:9/plaid-webhook"

__all__ = ["client", "settings", "spec", "url"]  # module fixtures used by name


# ---------------------------------------------------------------------------- spec


def test_the_spec_is_pinned_inside_the_repository() -> None:
    """A clone alone checks conformance: nothing outside the checkout is read."""
    root = Path(__file__).resolve().parents[1]
    assert SPEC_PATH.resolve().is_relative_to(root)
    assert SPEC_PATH.is_file()
    assert "2020-09-14_1.697.4" in (SPEC_PATH.parent / "SOURCE.md").read_text()


# ---------------------------------------------------------------------------- emulator


@pytest.fixture(scope="module")
def wrong_key_client(settings: Settings, url: str) -> plaid_api.PlaidApi:
    wrong = settings.with_values(
        plaid_api_url=url, plaid_client_id=settings.client_id, plaid_secret="x" * 30
    )
    return plaid_client.create(wrong)


def new_access_token(client: plaid_api.PlaidApi, institution_id: str = "ins_109508") -> str:
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id=institution_id, initial_products=[Products("transactions")]
        )
    ).public_token
    return client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public)
    ).access_token


@pytest.fixture(scope="module")
def access_token(client: plaid_api.PlaidApi) -> str:
    return new_access_token(client)


# ---------------------------------------------------------------------------- calls per endpoint


def emulator_kid(client: plaid_api.PlaidApi) -> str:
    """The emulator's webhook key id (as every webhook's JWT header carries it)."""
    conf = client.api_client.configuration
    keys = {"PLAID-CLIENT-ID": conf.api_key["clientId"], "PLAID-SECRET": conf.api_key["secret"]}
    answer = httpx.get(conf.host + "/_emulator/webhooks", headers=keys, verify=TLS).json()
    return answer.get("kid", "unknown")  # wrong keys: the call fails on them first


def request_for(path: str, access_token: str) -> Callable[[plaid_api.PlaidApi], Any]:
    """A valid plaid-python call of ``path``."""
    calls: dict[str, Callable[[plaid_api.PlaidApi], Any]] = {
        "/link/token/create": lambda c: c.link_token_create(
            LinkTokenCreateRequest(
                client_name="Kore runbook",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="user-1"),
                products=[Products("auth"), Products("transactions")],
                redirect_uri="http://localhost:8000/oauth-return",
            )
        ),
        "/sandbox/public_token/create": lambda c: c.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("auth")]
            )
        ),
        "/item/get": lambda c: c.item_get(ItemGetRequest(access_token=access_token)),
        "/item/remove": lambda c: c.item_remove(ItemRemoveRequest(access_token=access_token)),
        "/accounts/get": lambda c: c.accounts_get(AccountsGetRequest(access_token=access_token)),
        "/accounts/balance/get": lambda c: c.accounts_balance_get(
            AccountsBalanceGetRequest(access_token=access_token)
        ),
        "/auth/get": lambda c: c.auth_get(AuthGetRequest(access_token=access_token)),
        "/transactions/sync": lambda c: c.transactions_sync(
            TransactionsSyncRequest(access_token=access_token, count=5)
        ),
        "/identity/get": lambda c: c.identity_get(IdentityGetRequest(access_token=access_token)),
        "/investments/holdings/get": lambda c: c.investments_holdings_get(
            InvestmentsHoldingsGetRequest(access_token=access_token)
        ),
        "/investments/transactions/get": lambda c: c.investments_transactions_get(
            InvestmentsTransactionsGetRequest(
                access_token=access_token,
                start_date=__import__("datetime").date(2000, 1, 1),
                end_date=__import__("datetime").date(2100, 1, 1),
            )
        ),
        "/liabilities/get": lambda c: c.liabilities_get(
            LiabilitiesGetRequest(access_token=access_token)
        ),
        "/institutions/get_by_id": lambda c: c.institutions_get_by_id(
            InstitutionsGetByIdRequest(
                institution_id="ins_127287", country_codes=[CountryCode("US")]
            )
        ),
        "/sandbox/item/reset_login": lambda c: c.sandbox_item_reset_login(
            SandboxItemResetLoginRequest(access_token=access_token)
        ),
        "/transactions/get": lambda c: c.transactions_get(
            TransactionsGetRequest(
                access_token=access_token,
                start_date=__import__("datetime").date(2000, 1, 1),
                end_date=__import__("datetime").date(2100, 1, 1),
            )
        ),
        "/transactions/refresh": lambda c: c.transactions_refresh(
            TransactionsRefreshRequest(access_token=access_token)
        ),
        "/institutions/get": lambda c: c.institutions_get(
            InstitutionsGetRequest(count=10, offset=0, country_codes=[CountryCode("US")])
        ),
        "/institutions/search": lambda c: c.institutions_search(
            InstitutionsSearchRequest(query="platypus", country_codes=[CountryCode("US")])
        ),
        "/categories/get": lambda c: c.categories_get({}),
        "/item/access_token/invalidate": lambda c: c.item_access_token_invalidate(
            ItemAccessTokenInvalidateRequest(access_token=access_token)
        ),
        "/link/token/get": lambda c: c.link_token_get(
            LinkTokenGetRequest(link_token=request_for("/link/token/create", "")(c).link_token)
        ),
        "/item/webhook/update": lambda c: c.item_webhook_update(
            ItemWebhookUpdateRequest(access_token=access_token, webhook=DEAD_WEBHOOK)
        ),
        "/sandbox/item/fire_webhook": lambda c: (
            c.item_webhook_update(
                ItemWebhookUpdateRequest(access_token=access_token, webhook=DEAD_WEBHOOK)
            ),
            c.sandbox_item_fire_webhook(
                SandboxItemFireWebhookRequest(
                    access_token=access_token,
                    webhook_code="DEFAULT_UPDATE",
                    webhook_type=WebhookType("TRANSACTIONS"),
                )
            ),
        )[-1],
        "/webhook_verification_key/get": lambda c: c.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=emulator_kid(c))
        ),
        "/item/public_token/exchange": lambda c: c.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(
                public_token=c.sandbox_public_token_create(
                    SandboxPublicTokenCreateRequest(
                        institution_id="ins_109508", initial_products=[Products("auth")]
                    )
                ).public_token
            )
        ),
    }
    return calls[path]


# ---------------------------------------------------------------------------- success


@pytest.mark.parametrize("path", ALL_PATHS)
def test_success_passes_plaid_python_and_the_spec(spec, client, path):
    token = new_access_token(client)
    model = call_ok(spec, client, path, lambda: request_for(path, token)(client))
    assert model.request_id


def test_every_sandbox_institution_conforms(spec, client):
    for institution_id in data.INSTITUTION_IDS:
        model = call_ok(
            spec,
            client,
            "/institutions/get_by_id",
            lambda i=institution_id: client.institutions_get_by_id(
                InstitutionsGetByIdRequest(
                    institution_id=i, country_codes=[CountryCode(data.country(i))]
                )
            ),
        )
        us_oauth = institution_id in ("ins_127287", "ins_132241")
        abroad = institution_id.startswith(("ins_99", "ins_11"))  # the UK and EU banks
        assert model.institution.oauth is (us_oauth or abroad)
        assert model.institution.logo is None and model.institution.url is None


def test_item_with_an_error_conforms(spec, client):
    token = new_access_token(client)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    model = call_ok(
        spec, client, "/item/get", lambda: client.item_get(ItemGetRequest(access_token=token))
    )
    assert model.item.error.error_code == "ITEM_LOGIN_REQUIRED"


def test_every_transactions_sync_page_conforms(spec, client, access_token):
    cursor, pages = "", 0
    while True:
        page = call_ok(
            spec,
            client,
            "/transactions/sync",
            lambda c=cursor: client.transactions_sync(
                TransactionsSyncRequest(access_token=access_token, cursor=c, count=17)
            ),
        )
        pages += 1
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert pages > 1


def test_paged_investment_transactions_conform(spec, client, access_token):
    model = call_ok(
        spec,
        client,
        "/investments/transactions/get",
        lambda: client.investments_transactions_get(
            InvestmentsTransactionsGetRequest(
                access_token=access_token,
                start_date=__import__("datetime").date(2000, 1, 1),
                end_date=__import__("datetime").date(2100, 1, 1),
                options=InvestmentsTransactionsGetRequestOptions(count=3, offset=2),
            )
        ),
    )
    assert len(model.investment_transactions) == 3
    assert model.total_investment_transactions > 3


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("path", KEYED_PATHS)
def test_wrong_keys_fail_with_invalid_api_keys(spec, client, wrong_key_client, path):
    token = new_access_token(client)
    status, body = call_error(
        spec, client, path, lambda: request_for(path, token)(wrong_key_client)
    )
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "INVALID_INPUT",
        "INVALID_API_KEYS",
    )


@pytest.mark.parametrize("path", KEYED_PATHS)
def test_missing_fields_fail_with_missing_fields(spec, client, settings, url, path):
    response = raw_post(url, settings, path, "{}")
    body = check_error_body(spec, client, path, response.text)
    assert response.status_code == 400
    assert (body["error_type"], body["error_code"]) == ("INVALID_REQUEST", "MISSING_FIELDS")


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("content", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"{", b"null"])
def test_malformed_body_is_a_plaid_error(spec, client, settings, url, path, content):
    response = raw_post(url, settings, path, content)
    body = check_error_body(spec, client, path, response.text)
    assert response.status_code == 400
    assert body["error_code"] == "INVALID_BODY"


@pytest.mark.parametrize("path", KEYED_PATHS)
def test_wrong_types_fail_with_invalid_field(spec, client, settings, url, access_token, path):
    wrong = {
        "access_token": 12,
        "public_token": ["x"],
        "institution_id": {"a": 1},
        "initial_products": "auth",
        "client_name": 3,
        "language": "en",
        "country_codes": "US",
        "user": "someone",
        "start_date": 20240101,
        "end_date": "2024-02-01",
        "query": 7,
        "key_id": 5,
        "link_token": 6,
        "webhook_code": 8,
        "count": "10",
        "offset": "0",
    }
    response = raw_post(url, settings, path, json.dumps(wrong))
    body = check_error_body(spec, client, path, response.text)
    assert response.status_code == 400
    assert (body["error_type"], body["error_code"]) == ("INVALID_REQUEST", "INVALID_FIELD")


@pytest.mark.parametrize("path", ACCESS_TOKEN_PATHS)
@pytest.mark.parametrize(
    "token", ["access-sandbox-00000000-0000-4000-8000-000000000000", "not-a-token"]
)
def test_unknown_access_token_fails(spec, client, path, token):
    status, body = call_error(spec, client, path, lambda: request_for(path, token)(client))
    assert (status, body["error_code"]) == (400, "INVALID_ACCESS_TOKEN")


@pytest.mark.parametrize("path", DATA_PATHS)
def test_reset_login_makes_data_calls_fail_with_item_login_required(spec, client, path):
    token = new_access_token(client)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    status, body = call_error(spec, client, path, lambda: request_for(path, token)(client))
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "ITEM_ERROR",
        "ITEM_LOGIN_REQUIRED",
    )
    assert body["display_message"]


@pytest.mark.parametrize("path", ACCESS_TOKEN_PATHS)
def test_removed_item_token_fails(spec, client, path):
    token = new_access_token(client)
    client.item_remove(ItemRemoveRequest(access_token=token))
    status, body = call_error(spec, client, path, lambda: request_for(path, token)(client))
    if path == "/item/remove":  # removing twice: Plaid no longer finds the Item
        assert (status, body["error_type"], body["error_code"]) == (
            400,
            "ITEM_ERROR",
            "ITEM_NOT_FOUND",
        )
        assert body["error_message"].startswith("the requested item was not found")
    else:
        assert (status, body["error_type"], body["error_code"]) == (
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
        )


@pytest.mark.parametrize("path", ALL_PATHS)
def test_injected_rate_limit_is_a_429(spec, client, settings, url, path):
    token = new_access_token(client)
    faults.inject(url, path, error_code="RATE_LIMIT", settings=settings)
    status, body = call_error(spec, client, path, lambda: request_for(path, token)(client))
    assert (status, body["error_type"], body["error_code"]) == (
        429,
        "RATE_LIMIT_EXCEEDED",
        "RATE_LIMIT",
    )
    call_ok(spec, client, path, lambda: request_for(path, token)(client))


def test_public_token_is_single_use(spec, client):
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("auth")]
        )
    ).public_token
    client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public))
    status, body = call_error(
        spec,
        client,
        "/item/public_token/exchange",
        lambda: client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public)
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_PUBLIC_TOKEN")


@pytest.mark.parametrize("public", ["public-sandbox-00000000-0000-4000-8000-000000000000", "x"])
def test_unknown_public_token_fails(spec, client, public):
    status, body = call_error(
        spec,
        client,
        "/item/public_token/exchange",
        lambda: client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public)
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_PUBLIC_TOKEN")


@pytest.mark.parametrize("path", ["/sandbox/public_token/create", "/institutions/get_by_id"])
def test_unknown_institution_fails(spec, client, path):
    def call():
        if path == "/institutions/get_by_id":
            return client.institutions_get_by_id(
                InstitutionsGetByIdRequest(
                    institution_id="ins_0", country_codes=[CountryCode("US")]
                )
            )
        return client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_0", initial_products=[Products("auth")]
            )
        )

    status, body = call_error(spec, client, path, call)
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "INVALID_INPUT",
        "INVALID_INSTITUTION",
    )


@pytest.mark.parametrize("code", ["ITEM_LOCKED", "INVALID_CREDENTIALS", "INSTITUTION_DOWN"])
def test_override_password_fails_with_that_code(spec, client, code):
    status, body = call_error(
        spec,
        client,
        "/sandbox/public_token/create",
        lambda: client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508",
                initial_products=[Products("auth")],
                options=SandboxPublicTokenCreateRequestOptions(
                    override_username="user_good", override_password=f"error_{code}"
                ),
            )
        ),
    )
    assert (status, body["error_code"]) == (400, code)


def test_unlisted_redirect_uri_fails_with_invalid_field(spec, client):
    status, body = call_error(
        spec,
        client,
        "/link/token/create",
        lambda: client.link_token_create(
            LinkTokenCreateRequest(
                client_name="Kore runbook",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="user-1"),
                products=[Products("auth")],
                redirect_uri="https://attacker.example/oauth",
            )
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_FIELD")
    assert "redirect_uri" in body["error_message"]


@pytest.mark.parametrize("count", [0, 501, "5", True])
def test_transactions_sync_count_out_of_range(spec, client, settings, url, access_token, count):
    # plaid-python refuses these before sending, so they go out raw
    body = json.dumps({"access_token": access_token, "count": count})
    response = raw_post(url, settings, "/transactions/sync", body)
    error = check_error_body(spec, client, "/transactions/sync", response.text)
    assert (response.status_code, error["error_code"]) == (400, "INVALID_FIELD")


def test_transactions_sync_foreign_cursor(spec, client, access_token):
    status, body = call_error(
        spec,
        client,
        "/transactions/sync",
        lambda: client.transactions_sync(
            TransactionsSyncRequest(access_token=access_token, cursor="bm90LWEtY3Vyc29y")
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_FIELD")


def test_unknown_path_and_wrong_method_are_plaid_errors(spec, client, url, settings):
    response = raw_post(url, settings, "/accounts/nope", "{}")
    assert response.status_code == 404
    check_error_body(spec, client, "/accounts/get", response.text)
    response = httpx.get(url + "/accounts/get")
    assert response.status_code == 405
    check_error_body(spec, client, "/accounts/get", response.text)


def fuzzed_bodies(access_token: str) -> list[object]:
    """Bodies of every wrong shape a caller might send (deterministic)."""
    odd_values = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": None}, "2024-02-30"]
    names = [
        "access_token",
        "public_token",
        "institution_id",
        "initial_products",
        "options",
        "count",
        "cursor",
        "start_date",
        "end_date",
        "country_codes",
        "user",
        "products",
        "redirect_uri",
        "client_name",
        "language",
    ]
    bodies: list[object] = []
    for index, name in enumerate(names):
        for value in odd_values:
            bodies.append({"access_token": access_token, name: value})
        bodies.append({name: odd_values[index % len(odd_values)]})
    bodies.append({"access_token": access_token, "options": {"account_ids": "x", "count": "9"}})
    bodies.append({"access_token": access_token, "options": {"count": 0, "offset": -1}})
    return bodies


@pytest.mark.parametrize("path", ALL_PATHS)
def test_no_body_shape_gets_a_5xx_or_a_non_plaid_error(spec, client, settings, url, path):
    token = new_access_token(client)
    checked: set[tuple[int, str]] = set()
    with httpx.Client(headers={"PLAID-CLIENT-ID": settings.client_id}, verify=TLS) as http:
        for body in fuzzed_bodies(token):
            response = http.post(url + path, json=body, headers={"PLAID-SECRET": settings.secret})
            assert response.status_code < 500, (body, response.text)
            if response.status_code == 200:
                continue
            error = response.json()
            assert {"error_type", "error_code", "error_message"} <= set(error), error
            kind = (response.status_code, error["error_code"])
            if kind not in checked:  # one full check per kind of error keeps this fast
                check_error_body(spec, client, path, response.text)
                checked.add(kind)


# ---------------------------------------------------------------------------- transactions/get


def far_range() -> dict[str, Any]:
    return {
        "start_date": __import__("datetime").date(2000, 1, 1),
        "end_date": __import__("datetime").date(2100, 1, 1),
    }


def test_transactions_get_pages_newest_first_and_adds_the_product(spec, client):
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("auth")]
        )
    ).public_token
    token = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public)
    ).access_token
    products = client.item_get(ItemGetRequest(access_token=token)).item.products
    assert "transactions" not in [str(p) for p in products]
    # the first call adds the product and starts the pull: not ready yet, as Plaid answers
    request = TransactionsGetRequest(access_token=token, **far_range())
    status, error = call_error(
        spec, client, "/transactions/get", lambda: client.transactions_get(request)
    )
    assert (status, error["error_code"]) == (400, "PRODUCT_NOT_READY")
    whole = call_ok(
        spec,
        client,
        "/transactions/get",
        lambda: client.transactions_get(
            TransactionsGetRequest(
                access_token=token, options=TransactionsGetRequestOptions(count=500), **far_range()
            )
        ),
    )
    everything = whole.transactions
    assert whole.total_transactions == len(everything) > 20
    dates = [t.date for t in everything]
    assert dates == sorted(dates, reverse=True)  # reverse chronological, as Plaid
    assert "transactions" in [str(p) for p in whole.item.products]
    pages = []
    for offset in range(0, len(everything), 7):
        page = call_ok(
            spec,
            client,
            "/transactions/get",
            lambda o=offset: client.transactions_get(
                TransactionsGetRequest(
                    access_token=token,
                    options=TransactionsGetRequestOptions(count=7, offset=o),
                    **far_range(),
                )
            ),
        )
        assert page.total_transactions == len(everything)
        pages += page.transactions
    assert [t.transaction_id for t in pages] == [t.transaction_id for t in everything]
    # the same transactions as /transactions/sync serves
    synced = client.transactions_sync(TransactionsSyncRequest(access_token=token, count=500))
    assert {t.transaction_id for t in synced.added} == {t.transaction_id for t in everything}


def test_transactions_get_filters_by_dates_and_accounts(spec, client, access_token):
    accounts = client.accounts_get(AccountsGetRequest(access_token=access_token)).accounts
    card = next(a.account_id for a in accounts if a.mask == "3333")
    newest = client.transactions_get(
        TransactionsGetRequest(access_token=access_token, **far_range())
    ).transactions[0]
    day = newest.date
    model = call_ok(
        spec,
        client,
        "/transactions/get",
        lambda: client.transactions_get(
            TransactionsGetRequest(
                access_token=access_token,
                start_date=day - __import__("datetime").timedelta(days=30),
                end_date=day,
                options=TransactionsGetRequestOptions(
                    account_ids=[card], include_original_description=True
                ),
            )
        ),
    )
    assert 0 < model.total_transactions == len(model.transactions) < 20
    assert {t.account_id for t in model.transactions} == {card}
    assert [a.account_id for a in model.accounts] == [card]
    assert all(t.original_description == t.name for t in model.transactions)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "INVALID_FIELD"),
        ({"start_date": "2024-02-30"}, "INVALID_FIELD"),
        ({"options": {"count": 0}}, "INVALID_FIELD"),
        ({"options": {"count": 501}}, "INVALID_FIELD"),
        ({"options": {"offset": -1}}, "INVALID_FIELD"),
        ({"options": {"account_ids": ["not-an-account"]}}, "INVALID_FIELD"),
        ({"options": {"include_original_description": "yes"}}, "INVALID_FIELD"),
        ({"options": "all"}, "INVALID_FIELD"),
        ({"start_date": None}, "MISSING_FIELDS"),
    ],
)
def test_transactions_get_bad_input(spec, client, settings, url, access_token, change, code):
    # plaid-python refuses most of these before sending, so they go out raw
    body = {"access_token": access_token, "start_date": "2024-01-01", "end_date": "2024-02-01"}
    body |= change
    response = raw_post(url, settings, "/transactions/get", json.dumps(body))
    error = check_error_body(spec, client, "/transactions/get", response.text)
    assert (response.status_code, error["error_type"], error["error_code"]) == (
        400,
        "INVALID_REQUEST",
        code,
    )


def test_transactions_refresh_answers_only_a_request_id(spec, client, access_token):
    call_ok(
        spec,
        client,
        "/transactions/refresh",
        lambda: client.transactions_refresh(TransactionsRefreshRequest(access_token=access_token)),
    )
    assert set(json.loads(client.api_client.last_response.data)) == {"request_id"}


# ---------------------------------------------------------------------------- institutions


def test_institutions_get_pages_and_filters(spec, client):
    def get(**arguments):
        return institutions_get(spec, client, **arguments)

    us = get()
    assert us.total == len(us.institutions) == 15
    assert all(i.country_codes == [CountryCode("US")] for i in us.institutions)
    assert all(i.logo is None and i.url is None for i in us.institutions)
    paged = [i for offset in (0, 4, 8, 12) for i in get(count=4, offset=offset).institutions]
    assert [i.institution_id for i in paged] == [i.institution_id for i in us.institutions]
    assert get(count=4, offset=4).total == 15
    both = get(countries=("US", "GB"))
    assert both.total == 19
    gb = get(countries=("GB",))
    assert [i.institution_id for i in gb.institutions] == UK_BANKS
    investing = get(countries=("US", "GB"), products=[Products("investments")])
    assert "ins_117650" not in [i.institution_id for i in investing.institutions]
    assert investing.total == 11  # the three US banks without investments, and the UK's
    oauth = get(countries=("US", "GB"), oauth=True)
    assert {i.institution_id for i in oauth.institutions} == {"ins_127287", "ins_132241", *UK_BANKS}
    routed = get(routing_numbers=["011401533"])
    assert {i.institution_id for i in routed.institutions} == {"ins_109508", "ins_127287"}
    branded = get(include_optional_metadata=True)
    for institution in branded.institutions:
        assert institution.url.startswith("https://")
        if institution.institution_id == "ins_1":  # a Production bank: no colour nor logo here
            assert (institution.primary_color, institution.logo) == (None, None)
            continue
        assert __import__("re").fullmatch(r"#[0-9a-f]{6}", institution.primary_color)
        if institution.institution_id == "ins_133402":  # a bank without a logo, as some are
            assert institution.logo is None
        else:
            assert is_152_png(institution.logo)


UK_BANKS = ["ins_117650", "ins_116834", "ins_117181", "ins_990106"]
PLATYPUS_UK = ["ins_116834", "ins_117181", "ins_990106"]  # not the Royal Bank of Plaid
PLATYPUS_US = [
    "ins_109508",
    "ins_127287",
    "ins_130016",
    "ins_132241",
    "ins_132363",
    "ins_132361",
    "ins_133402",
    "ins_133502",
    "ins_133503",
]


def test_institutions_search_matches_names_case_insensitively(spec, client):
    def search(query, countries=("US", "GB"), products=None, **options):
        return call_ok(
            spec,
            client,
            "/institutions/search",
            lambda: client.institutions_search(
                InstitutionsSearchRequest(
                    query=query,
                    country_codes=[CountryCode(c) for c in countries],
                    **({"products": products} if products else {}),
                    options=InstitutionsSearchRequestOptions(**options),
                )
            ),
        ).institutions

    def ids(institutions):
        return [i.institution_id for i in institutions]

    assert ids(search("PLATYPUS")) == ids(search("platypus")) == [*PLATYPUS_US, *PLATYPUS_UK]
    assert ids(search("oauth BANK")) == ["ins_127287", "ins_132241"]
    assert ids(search("tartan")) == ["ins_109511"]
    assert ids(search("platypus", countries=("US",))) == PLATYPUS_US
    # the balance bank and the unsupported one have no liabilities, nor has the UK bank
    assert ids(search("platypus", products=[Products("liabilities")])) == [
        i for i in PLATYPUS_US if i not in ("ins_130016", "ins_133402")
    ]
    assert search("no such bank") == []
    plain = search("houndstooth")[0]
    assert (plain.url, plain.logo, plain.primary_color) == (None, None, None)
    branded = search("houndstooth", include_optional_metadata=True)[0]
    assert branded.primary_color == "#004966" and is_152_png(branded.logo)


def test_institutions_get_by_id_honours_include_optional_metadata(spec, client):
    def by_id(**options):
        return call_ok(
            spec,
            client,
            "/institutions/get_by_id",
            lambda: client.institutions_get_by_id(
                InstitutionsGetByIdRequest(
                    institution_id="ins_109508",
                    country_codes=[CountryCode("US")],
                    options=InstitutionsGetByIdRequestOptions(**options),
                )
            ),
        ).institution

    plain = by_id()
    assert (plain.url, plain.logo, plain.primary_color) == (None, None, None)
    assert by_id(include_optional_metadata=False).logo is None
    branded = by_id(include_optional_metadata=True)
    assert branded.url == "https://www.firstplatypusbank.com"
    assert branded.primary_color == "#1f6fb2"
    assert is_152_png(branded.logo)


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/institutions/get", {"count": 0, "offset": 0, "country_codes": ["US"]}, "INVALID_FIELD"),
        (
            "/institutions/get",
            {"count": 501, "offset": 0, "country_codes": ["US"]},
            "INVALID_FIELD",
        ),
        ("/institutions/get", {"count": 5, "offset": -1, "country_codes": ["US"]}, "INVALID_FIELD"),
        ("/institutions/get", {"count": 5, "offset": 0, "country_codes": ["XX"]}, "INVALID_FIELD"),
        ("/institutions/get", {"count": 5, "offset": 0, "country_codes": []}, "INVALID_FIELD"),
        ("/institutions/get", {"count": 5, "country_codes": ["US"]}, "MISSING_FIELDS"),
        ("/institutions/get", {"offset": 0, "country_codes": ["US"]}, "MISSING_FIELDS"),
        (
            "/institutions/get",
            {"count": 5, "offset": 0, "country_codes": ["US"], "options": {"products": ["x"]}},
            "INVALID_FIELD",
        ),
        (
            "/institutions/get",
            {"count": 5, "offset": 0, "country_codes": ["US"], "options": {"products": []}},
            "INVALID_FIELD",
        ),
        (
            "/institutions/get",
            {"count": 5, "offset": 0, "country_codes": ["US"], "options": {"oauth": "yes"}},
            "INVALID_FIELD",
        ),
        ("/institutions/search", {"query": "", "country_codes": ["US"]}, "MISSING_FIELDS"),
        ("/institutions/search", {"query": "bank"}, "MISSING_FIELDS"),
        (
            "/institutions/search",
            {"query": "bank", "country_codes": ["US"], "products": ["telepathy"]},
            "INVALID_FIELD",
        ),
        (
            "/institutions/search",
            {
                "query": "bank",
                "country_codes": ["US"],
                "options": {"include_optional_metadata": 1},
            },
            "INVALID_FIELD",
        ),
        (
            "/institutions/get_by_id",
            {
                "institution_id": "ins_109508",
                "country_codes": ["US"],
                "options": {"include_optional_metadata": "true"},
            },
            "INVALID_FIELD",
        ),
    ],
)
def test_institutions_bad_input(spec, client, settings, url, path, body, code):
    # plaid-python refuses these before sending, so they go out raw
    response = raw_post(url, settings, path, json.dumps(body))
    error = check_error_body(spec, client, path, response.text)
    assert (response.status_code, error["error_type"], error["error_code"]) == (
        400,
        "INVALID_REQUEST",
        code,
    )


# ---------------------------------------------------------------------------- categories


def test_categories_need_no_credentials_and_name_every_transaction_category(
    spec, client, url, access_token
):
    response = httpx.post(url + "/categories/get", json={})  # no PLAID-CLIENT-ID / SECRET
    assert response.status_code == 200, response.text
    spec.check(spec.success_schema("/categories/get"), response.json())
    model = call_ok(spec, client, "/categories/get", lambda: client.categories_get({}))
    categories = {c.category_id: c for c in model.categories}
    assert len(categories) == len(model.categories) > 20  # unique ids
    assert all(__import__("re").fullmatch(r"\d{8}", i) for i in categories)
    assert {c.group for c in model.categories} == {"place", "special"}
    transactions = client.transactions_get(
        TransactionsGetRequest(access_token=access_token, **far_range())
    ).transactions
    for transaction in transactions:
        assert categories[transaction.category_id].hierarchy == transaction.category


def test_categories_refuse_credentials_that_are_not_strings(spec, client, url):
    response = httpx.post(url + "/categories/get", json={"client_id": 5})
    error = check_error_body(spec, client, "/categories/get", response.text)
    assert (response.status_code, error["error_code"]) == (400, "INVALID_FIELD")


# ---------------------------------------------------------------------------- token rotation


def test_access_token_invalidate_rotates_the_token(spec, client):
    old = new_access_token(client)
    before = client.item_get(ItemGetRequest(access_token=old)).item
    accounts_before = client.accounts_get(AccountsGetRequest(access_token=old)).accounts
    new = call_ok(
        spec,
        client,
        "/item/access_token/invalidate",
        lambda: client.item_access_token_invalidate(
            ItemAccessTokenInvalidateRequest(access_token=old)
        ),
    ).new_access_token
    assert new != old and new.startswith("access-sandbox-")
    status, body = call_error(
        spec, client, "/item/get", lambda: client.item_get(ItemGetRequest(access_token=old))
    )
    assert (status, body["error_code"]) == (400, "INVALID_ACCESS_TOKEN")
    assert client.item_get(ItemGetRequest(access_token=new)).item.item_id == before.item_id
    accounts_after = client.accounts_get(AccountsGetRequest(access_token=new)).accounts
    assert [a.account_id for a in accounts_after] == [a.account_id for a in accounts_before]
    newer = client.item_access_token_invalidate(
        ItemAccessTokenInvalidateRequest(access_token=new)
    ).new_access_token
    assert client.item_get(ItemGetRequest(access_token=newer)).item.item_id == before.item_id


def test_rotated_tokens_survive_a_restart_of_the_store(tmp_path):
    from kore_plaid_nb.emulator.store import Store

    store = Store(tmp_path / "emulator.sqlite3")
    kept = store.create_item("ins_109508", ["auth"])
    rotated = store.create_item("ins_109509", ["auth"])
    new = store.rotate_access_token(rotated.item_id)
    store.close()
    reopened = Store(tmp_path / "emulator.sqlite3")
    assert reopened.item_by_access_token(kept.access_token).item_id == kept.item_id
    assert reopened.item_by_access_token(new).item_id == rotated.item_id
    assert reopened.item_by_access_token(rotated.access_token) is None
    reopened.close()


# ---------------------------------------------------------------------------- item/remove twice


def test_removing_an_item_twice_is_item_not_found(spec, client):
    token = new_access_token(client)
    call_ok(
        spec,
        client,
        "/item/remove",
        lambda: client.item_remove(ItemRemoveRequest(access_token=token)),
    )
    status, body = call_error(
        spec,
        client,
        "/item/remove",
        lambda: client.item_remove(ItemRemoveRequest(access_token=token)),
    )
    assert (status, body["error_type"], body["error_code"]) == (400, "ITEM_ERROR", "ITEM_NOT_FOUND")
    assert body["error_message"].startswith("the requested item was not found")


# ---------------------------------------------------------------------------- products


def test_the_emulator_knows_every_product_plaid_python_knows():
    assert data.KNOWN_PRODUCTS == set(Products.allowed_values[("value",)].values())


@pytest.mark.parametrize("product", sorted(Products.allowed_values[("value",)].values()))
def test_every_plaid_python_product_is_accepted(spec, client, product):
    institution = data.institution("ins_109508")
    create = lambda: client.sandbox_public_token_create(  # noqa: E731
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products(product)]
        )
    )
    if product in institution["products"]:
        public = call_ok(spec, client, "/sandbox/public_token/create", create).public_token
        token = client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public)
        ).access_token
        item = call_ok(
            spec, client, "/item/get", lambda: client.item_get(ItemGetRequest(access_token=token))
        ).item
        assert product in [str(p) for p in item.products]
    else:
        status, body = call_error(spec, client, "/sandbox/public_token/create", create)
        assert (status, body["error_code"]) == (400, "PRODUCTS_NOT_SUPPORTED")
    call_ok(
        spec,
        client,
        "/link/token/create",
        lambda: client.link_token_create(
            LinkTokenCreateRequest(
                client_name="Kore runbook",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="user-1"),
                products=[Products(product)],
            )
        ),
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sandbox/public_token/create", {"institution_id": "ins_109508"}),
        (
            "/link/token/create",
            {
                "client_name": "Kore runbook",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "user-1"},
            },
        ),
    ],
)
@pytest.mark.parametrize("products", [["telepathy"], ["auth", "Transactions"], ["investment"]])
def test_an_unknown_product_is_invalid_field(spec, client, settings, url, path, body, products):
    # plaid-python refuses unknown products before sending, so they go out raw
    name = "initial_products" if path == "/sandbox/public_token/create" else "products"
    response = raw_post(url, settings, path, json.dumps(body | {name: products}))
    error = check_error_body(spec, client, path, response.text)
    assert (response.status_code, error["error_code"]) == (400, "INVALID_FIELD")
    assert name in error["error_message"] and products[-1] in error["error_message"]


def test_a_product_the_institution_lacks_is_products_not_supported(spec, client):
    assert "investments" not in data.institution("ins_117650")["products"]
    status, body = call_error(
        spec,
        client,
        "/sandbox/public_token/create",
        lambda: client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_117650",
                initial_products=[Products("transactions"), Products("investments")],
            )
        ),
    )
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "ITEM_ERROR",
        "PRODUCTS_NOT_SUPPORTED",
    )
    assert "investments" in body["error_message"] and "transactions" not in body["error_message"]


# ---------------------------------------------------------------------------- webhooks


def test_unknown_webhook_key_id_fails_as_plaid_documents(spec, client):
    status, body = call_error(
        spec,
        client,
        "/webhook_verification_key/get",
        lambda: client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id="bfbd5111-8e33-4643-8ced-b2e642a72f3c")
        ),
    )
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "INVALID_INPUT",
        "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
    )


def test_webhook_key_is_a_p256_jwk(spec, client):
    model = call_ok(
        spec,
        client,
        "/webhook_verification_key/get",
        lambda: client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=emulator_kid(client))
        ),
    )
    key = model.key
    assert (key.alg, key.crv, key.kty, key.use, key.expired_at) == (
        "ES256",
        "P-256",
        "EC",
        "sig",
        None,
    )
    assert key.kid == emulator_kid(client) and key.x and key.y and key.created_at > 0


def test_fire_webhook_without_a_webhook_fails_with_sandbox_webhook_invalid(spec, client):
    token = new_access_token(client)
    status, body = call_error(
        spec,
        client,
        "/sandbox/item/fire_webhook",
        lambda: client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=token, webhook_code="DEFAULT_UPDATE")
        ),
    )
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "SANDBOX_ERROR",
        "SANDBOX_WEBHOOK_INVALID",
    )
    assert "/item/webhook/update" in body["error_message"]


def test_fire_webhook_for_a_product_the_item_lacks_fails(spec, client):
    token = new_access_token(client)  # an Item with transactions only
    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=token, webhook=DEAD_WEBHOOK))
    status, body = call_error(
        spec,
        client,
        "/sandbox/item/fire_webhook",
        lambda: client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(
                access_token=token,
                webhook_code="DEFAULT_UPDATE",
                webhook_type=WebhookType("LIABILITIES"),
            )
        ),
    )
    assert (status, body["error_code"]) == (400, "SANDBOX_PRODUCT_NOT_ENABLED")


def test_item_webhook_update_refuses_a_non_http_url(spec, client):
    token = new_access_token(client)
    status, body = call_error(
        spec,
        client,
        "/item/webhook/update",
        lambda: client.item_webhook_update(
            ItemWebhookUpdateRequest(access_token=token, webhook="javascript:alert(1)")
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_FIELD")
    assert "webhook" in body["error_message"]


def test_item_webhook_update_stores_the_url(spec, client):
    token = new_access_token(client)
    model = call_ok(
        spec,
        client,
        "/item/webhook/update",
        lambda: client.item_webhook_update(
            ItemWebhookUpdateRequest(access_token=token, webhook=DEAD_WEBHOOK)
        ),
    )
    assert model.item.webhook == DEAD_WEBHOOK
    assert client.item_get(ItemGetRequest(access_token=token)).item.webhook == DEAD_WEBHOOK


def test_unknown_link_token_get_fails(spec, client):
    status, body = call_error(
        spec,
        client,
        "/link/token/get",
        lambda: client.link_token_get(
            LinkTokenGetRequest(link_token="link-sandbox-00000000-0000-4000-8000-000000000000")
        ),
    )
    assert (status, body["error_code"]) == (400, "INVALID_LINK_TOKEN")
