"""Conformance: every emulator answer, success or error, passes plaid-python (called through
the real client, which type-checks) AND validates against Plaid's OpenAPI spec."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import plaid
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.investments_holdings_get_request import InvestmentsHoldingsGetRequest
from plaid.model.investments_transactions_get_request import InvestmentsTransactionsGetRequest
from plaid.model.investments_transactions_get_request_options import (
    InvestmentsTransactionsGetRequestOptions,
)
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.liabilities_get_request import LiabilitiesGetRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from kore_plaid_nb import plaid_client
from kore_plaid_nb.emulator import data, faults, running_emulator
from kore_plaid_nb.settings import Settings

# A pinned copy of Plaid's spec (source, version and licence: tests/data/plaid-openapi/SOURCE.md)
SPEC_PATH = Path(__file__).with_name("data") / "plaid-openapi" / "2020-09-14_1.697.4.yml.gz"
SPEC_SHA256 = "fb8c3f188d8b1c917f2b184b720a96361f2ee72f5d595d189e8b4513a1d62930"
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
)
ACCESS_TOKEN_PATHS = tuple(
    p
    for p in ALL_PATHS
    if p
    not in (
        "/link/token/create",
        "/sandbox/public_token/create",
        "/item/public_token/exchange",
        "/institutions/get_by_id",
    )
)
DATA_PATHS = tuple(
    p
    for p in ACCESS_TOKEN_PATHS
    if p not in ("/item/get", "/item/remove", "/sandbox/item/reset_login")
)


# ---------------------------------------------------------------------------- spec


class Spec:
    """The OpenAPI document, loaded once, with one cached validator per schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[str, OAS30Validator] = {}

    def validator(self, schema_name: str) -> OAS30Validator:
        if schema_name not in self._validators:
            schema = {
                "$ref": f"#/components/schemas/{schema_name}",
                "components": self.document["components"],
            }
            self._validators[schema_name] = OAS30Validator(schema)
        return self._validators[schema_name]

    def success_schema(self, path: str) -> str:
        response = self.document["paths"][path]["post"]["responses"]["200"]
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    def error_schema(self, path: str) -> str:
        response = self.document["paths"][path]["post"]["responses"]["default"]
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    def check(self, schema_name: str, body: dict[str, Any]) -> None:
        problems = sorted(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self.validator(schema_name).iter_errors(body)
        )
        assert not problems, f"{schema_name} does not match the spec:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def spec() -> Spec:
    text = gzip.decompress(SPEC_PATH.read_bytes())
    assert hashlib.sha256(text).hexdigest() == SPEC_SHA256, (
        f"{SPEC_PATH.name} is not the pinned spec; see tests/data/plaid-openapi/SOURCE.md"
    )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return Spec(yaml.load(text, Loader=loader))  # noqa: S506 - a safe loader


def test_the_spec_is_pinned_inside_the_repository() -> None:
    """A clone alone checks conformance: nothing outside the checkout is read."""
    root = Path(__file__).resolve().parents[1]
    assert SPEC_PATH.resolve().is_relative_to(root)
    assert SPEC_PATH.is_file()
    assert "2020-09-14_1.697.4" in (SPEC_PATH.parent / "SOURCE.md").read_text()


# ---------------------------------------------------------------------------- emulator


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("emulator-home"))


@pytest.fixture(scope="module")
def url(settings: Settings) -> Iterator[str]:
    with running_emulator(settings) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(settings: Settings, url: str) -> plaid_api.PlaidApi:
    return plaid_client.create(settings.with_values(plaid_api_url=url))


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


def call_ok(spec: Spec, client: plaid_api.PlaidApi, path: str, call: Callable[[], Any]) -> Any:
    """Call through plaid-python (deserializes, type-checks), then check the raw body."""
    model = call()
    raw = json.loads(client.api_client.last_response.data)
    spec.check(spec.success_schema(path), raw)
    assert len(raw["request_id"]) == 15 and raw["request_id"].isalnum()
    return model


def check_error_body(spec: Spec, client: plaid_api.PlaidApi, path: str, body: str) -> dict:
    parsed = json.loads(body)
    spec.check(spec.error_schema(path), parsed)
    spec.check("PlaidError", parsed)
    client.api_client.deserialize(SimpleNamespace(data=body), (PlaidError,), True)
    return parsed


def call_error(
    spec: Spec, client: plaid_api.PlaidApi, path: str, call: Callable[[], Any]
) -> tuple[int, dict]:
    with pytest.raises(plaid.ApiException) as caught:
        call()
    return caught.value.status, check_error_body(spec, client, path, caught.value.body)


def raw_post(url: str, settings: Settings, path: str, content: bytes | str, **headers: str):
    return httpx.post(
        url + path,
        content=content,
        headers={
            "PLAID-CLIENT-ID": settings.client_id,
            "PLAID-SECRET": settings.secret,
            "Content-Type": "application/json",
            **headers,
        },
    )


# ---------------------------------------------------------------------------- calls per endpoint


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
                InstitutionsGetByIdRequest(institution_id=i, country_codes=[CountryCode("US")])
            ),
        )
        assert model.institution.oauth is (institution_id == "ins_127287")


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


@pytest.mark.parametrize("path", ALL_PATHS)
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


@pytest.mark.parametrize("path", ALL_PATHS)
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


@pytest.mark.parametrize("path", ALL_PATHS)
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
    assert (status, body["error_code"]) == (400, "INVALID_ACCESS_TOKEN")


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
    with httpx.Client(headers={"PLAID-CLIENT-ID": settings.client_id}) as http:
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
