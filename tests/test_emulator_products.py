"""Issue 25, points 5 and 6: product endpoints refuse the products an Item's bank lacks, and
an Item's accounts and Auth numbers fit its bank's country. Every answer goes through
plaid-python and is validated against the pinned spec."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pytest
from emulator_support import call_error, call_ok, client, settings, spec, url
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.auth_get_request_options import AuthGetRequestOptions
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.investments_holdings_get_request import InvestmentsHoldingsGetRequest
from plaid.model.investments_transactions_get_request import InvestmentsTransactionsGetRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.liabilities_get_request import LiabilitiesGetRequest
from plaid.model.products import Products
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid_spec import Spec

from kore_plaid_nb.emulator import data

GB_BANK, CA_BANK, BALANCE_BANK = "ins_117650", "ins_43", "ins_130016"
EU_BANKS = {"ES": "ins_990101", "FR": "ins_990102", "NL": "ins_990103", "DE": "ins_990104",
            "IE": "ins_990105"}  # fmt: skip
IBAN_LENGTHS = {"GB": 22, "ES": 24, "FR": 27, "NL": 18, "DE": 22, "IE": 22}
DAYS = {"start_date": datetime.date(2000, 1, 1), "end_date": datetime.date(2100, 1, 1)}

__all__ = ["client", "settings", "spec", "url"]  # module fixtures used by name


def item_at(client: plaid_api.PlaidApi, institution_id: str, *products: str) -> str:
    """A new Item's access token."""
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id=institution_id,
            initial_products=[Products(p) for p in products or ("transactions",)],
        )
    ).public_token
    exchange = ItemPublicTokenExchangeRequest(public_token=public)
    return client.item_public_token_exchange(exchange).access_token


CALLS: dict[str, Callable[[plaid_api.PlaidApi, str], Any]] = {
    "/auth/get": lambda c, t: c.auth_get(AuthGetRequest(access_token=t)),
    "/identity/get": lambda c, t: c.identity_get(IdentityGetRequest(access_token=t)),
    "/accounts/balance/get": lambda c, t: c.accounts_balance_get(
        AccountsBalanceGetRequest(access_token=t)
    ),
    "/investments/holdings/get": lambda c, t: c.investments_holdings_get(
        InvestmentsHoldingsGetRequest(access_token=t)
    ),
    "/investments/transactions/get": lambda c, t: c.investments_transactions_get(
        InvestmentsTransactionsGetRequest(access_token=t, **DAYS)
    ),
    "/liabilities/get": lambda c, t: c.liabilities_get(LiabilitiesGetRequest(access_token=t)),
}


def item_of(spec: Spec, client: plaid_api.PlaidApi, token: str) -> Any:
    return call_ok(
        spec, client, "/item/get", lambda: client.item_get(ItemGetRequest(access_token=token))
    ).item


def names(products: list[Products]) -> list[str]:
    return [p.value for p in products]


# ---------------------------------------------------------------------------- point 5


@pytest.mark.parametrize(
    ("institution_id", "path", "product"),
    [
        (GB_BANK, "/investments/holdings/get", "investments"),
        (GB_BANK, "/investments/transactions/get", "investments"),
        (GB_BANK, "/liabilities/get", "liabilities"),
        (EU_BANKS["FR"], "/liabilities/get", "liabilities"),
        (CA_BANK, "/investments/holdings/get", "investments"),
        (BALANCE_BANK, "/auth/get", "auth"),
        (BALANCE_BANK, "/liabilities/get", "liabilities"),
    ],
)
def test_a_product_the_bank_lacks_is_products_not_supported(
    spec, client, institution_id, path, product
):
    token = item_at(client, institution_id)
    status, body = call_error(spec, client, path, lambda: CALLS[path](client, token))
    assert (status, body["error_type"], body["error_code"]) == (
        400,
        "ITEM_ERROR",
        "PRODUCTS_NOT_SUPPORTED",
    )
    assert product in body["error_message"] and "/institutions/get_by_id" in body["error_message"]
    # the refusal adds nothing to the Item
    assert names(item_of(spec, client, token).billed_products) == ["transactions"]


def test_the_gb_item_lists_only_the_products_its_bank_has(spec, client):
    item = item_of(spec, client, item_at(client, GB_BANK))
    assert names(item.billed_products) == ["transactions"]
    assert names(item.available_products) == [
        "assets",
        "auth",
        "balance",
        "identity",
        "payment_initiation",
    ]
    # the spec's example Item at ins_117650, billed for assets and auth
    example = item_of(spec, client, item_at(client, GB_BANK, "assets", "auth"))
    assert (example.institution_name, names(example.billed_products)) == (
        "Royal Bank of Plaid",
        ["assets", "auth"],
    )
    assert names(example.available_products) == [
        "balance",
        "identity",
        "payment_initiation",
        "transactions",
    ]


def test_a_us_item_lists_every_product_its_bank_has_but_is_not_billed_for(spec, client):
    item = item_of(spec, client, item_at(client, "ins_109508"))
    offered = data.institution("ins_109508")["products"]
    assert names(item.available_products) == [p for p in offered if p != "transactions"]
    assert {"auth", "identity", "investments", "liabilities", "balance", "assets"} <= set(
        names(item.available_products)
    )


@pytest.mark.parametrize("path", ["/identity/get", "/liabilities/get", "/investments/holdings/get"])
def test_a_product_the_bank_has_is_added_by_its_first_call(spec, client, path):
    token = item_at(client, "ins_109508")
    product = path.split("/")[1]
    model = call_ok(spec, client, path, lambda: CALLS[path](client, token))
    assert product in names(model.item.billed_products)
    assert product not in names(model.item.available_products)


def test_balance_is_served_but_never_billed(spec, client):
    token = item_at(client, GB_BANK)
    path = "/accounts/balance/get"
    model = call_ok(spec, client, path, lambda: CALLS[path](client, token))
    assert names(model.item.billed_products) == ["transactions"]
    assert "balance" in names(model.item.available_products)


def test_an_item_in_error_fails_with_its_error_before_the_product_check(spec, client):
    token = item_at(client, GB_BANK)
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=token))
    path = "/liabilities/get"
    _, body = call_error(spec, client, path, lambda: CALLS[path](client, token))
    assert body["error_code"] == "ITEM_LOGIN_REQUIRED"


# ---------------------------------------------------------------------------- point 6


def iban_valid(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def es_control_digit(ten_digits: str) -> int:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    digit = 11 - sum(int(c) * w for c, w in zip(ten_digits, weights, strict=True)) % 11
    return {10: 1, 11: 0}.get(digit, digit)


def national_check_digits_valid(iban: str) -> bool:
    """Spain's two control digits and France's RIB key inside the IBAN (others: True)."""
    country, bban = iban[:2], iban[4:]
    if country == "ES":
        bank_branch, control, account = bban[:8], bban[8:10], bban[10:]
        return control == f"{es_control_digit('00' + bank_branch)}{es_control_digit(account)}"
    if country == "FR":
        bank, branch, account, key = bban[:5], bban[5:10], bban[10:21], bban[21:]
        return (89 * int(bank) + 15 * int(branch) + 3 * int(account) + int(key)) % 97 == 0
    return True


def test_the_check_digit_helpers_accept_published_examples():
    assert national_check_digits_valid("ES9121000418450200051332")
    assert not national_check_digits_valid("ES9121000418460200051332")
    assert national_check_digits_valid("FR7630006000011234567890189")
    assert not national_check_digits_valid("FR7630006000011234567890188")


def accounts_of(spec, client, token) -> list[Any]:
    path = "/accounts/get"
    return call_ok(
        spec, client, path, lambda: client.accounts_get(AccountsGetRequest(access_token=token))
    ).accounts


def auth_of(spec, client, token, **options) -> Any:
    request = AuthGetRequest(access_token=token)
    if options:
        request = AuthGetRequest(access_token=token, options=AuthGetRequestOptions(**options))
    return call_ok(spec, client, "/auth/get", lambda: client.auth_get(request))


def test_gb_accounts_are_in_gbp_with_uk_account_types(spec, client):
    accounts = accounts_of(spec, client, item_at(client, GB_BANK))
    assert {a.balances.iso_currency_code for a in accounts} == {"GBP"}
    assert {(a.type.value, a.subtype.value) for a in accounts} == {
        ("depository", "checking"),
        ("depository", "savings"),
        ("credit", "credit card"),
    }
    assert "Plaid Current Account" in [a.name for a in accounts]
    assert not [a for a in accounts if a.type.value in ("investment", "loan")]


def test_gb_auth_numbers_are_bacs_and_iban_not_ach(spec, client):
    token = item_at(client, GB_BANK)
    answer = auth_of(spec, client, token)
    numbers = answer.numbers
    assert numbers.ach == [] and numbers.eft == []
    assert len(numbers.bacs) == len(numbers.international) == 2
    for bacs in numbers.bacs:
        assert re.fullmatch(r"\d{8}", bacs.account) and re.fullmatch(r"\d{6}", bacs.sort_code)
    for international in numbers.international:
        assert international.iban.startswith("GB") and len(international.iban) == 22
        assert iban_valid(international.iban)
        assert re.fullmatch(r"[A-Z]{4}GB[A-Z0-9]{2}([A-Z0-9]{3})?", international.bic)
    by_account = {a.account_id: a for a in answer.accounts}
    assert {n.account_id for n in numbers.bacs} <= set(by_account)
    assert {by_account[n.account_id].balances.iso_currency_code for n in numbers.bacs} == {"GBP"}
    # a bank account's BACS number is inside its IBAN (after bank code and sort code)
    assert [i.iban[-8:] for i in numbers.international] == [b.account for b in numbers.bacs]
    # options.account_ids narrows every kind of number
    one = auth_of(spec, client, token, account_ids=[numbers.bacs[0].account_id]).numbers
    assert len(one.bacs) == len(one.international) == 1


@pytest.mark.parametrize("country", sorted(EU_BANKS))
def test_eu_accounts_are_in_eur_with_iban_numbers(spec, client, country):
    token = item_at(client, EU_BANKS[country])
    assert {a.balances.iso_currency_code for a in accounts_of(spec, client, token)} == {"EUR"}
    numbers = auth_of(spec, client, token).numbers
    assert numbers.ach == numbers.eft == numbers.bacs == []
    assert len(numbers.international) == 2
    for international in numbers.international:
        assert international.iban.startswith(country)
        assert len(international.iban) == IBAN_LENGTHS[country]
        assert iban_valid(international.iban)
        assert national_check_digits_valid(international.iban)
        assert international.bic[4:6] == country


def test_ca_accounts_are_in_cad_with_eft_numbers(spec, client):
    token = item_at(client, CA_BANK)
    assert {a.balances.iso_currency_code for a in accounts_of(spec, client, token)} == {"CAD"}
    numbers = auth_of(spec, client, token).numbers
    assert numbers.ach == numbers.international == numbers.bacs == []
    assert len(numbers.eft) == 2
    for eft in numbers.eft:
        assert re.fullmatch(r"\d{7,12}", eft.account)
        assert re.fullmatch(r"\d{3}", eft.institution) and re.fullmatch(r"\d{5}", eft.branch)


def test_us_items_keep_their_usd_accounts_and_ach_numbers(spec, client):
    token = item_at(client, "ins_109508")
    accounts = accounts_of(spec, client, token)
    assert len(accounts) == 9 and {a.balances.iso_currency_code for a in accounts} == {"USD"}
    numbers = auth_of(spec, client, token).numbers
    assert len(numbers.ach) == 2 and numbers.eft == numbers.international == numbers.bacs == []


def test_gb_transactions_are_in_gbp_on_the_gb_accounts(spec, client):
    token = item_at(client, GB_BANK)
    request = TransactionsSyncRequest(access_token=token, count=500)
    synced = call_ok(spec, client, "/transactions/sync", lambda: client.transactions_sync(request))
    account_ids = {a.account_id for a in synced.accounts}
    assert account_ids == {a.account_id for a in accounts_of(spec, client, token)}
    assert synced.added and {t.iso_currency_code for t in synced.added} == {"GBP"}
    assert {t.account_id for t in synced.added} <= account_ids
    request = TransactionsGetRequest(access_token=token, **DAYS)
    got = call_ok(spec, client, "/transactions/get", lambda: client.transactions_get(request))
    assert {t.iso_currency_code for t in got.transactions} == {"GBP"}
