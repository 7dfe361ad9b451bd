"""Issue 25, points 2 and 7: the emulator's institution list is Plaid's Sandbox list (paged,
limited and filtered as the spec says, and as Plaid's client tests read it) and
``include_status`` returns what the Sandbox returns. Every answer goes through plaid-python and
is validated against the pinned spec."""

from __future__ import annotations

import json
import re

import pytest
from emulator_support import (
    call_ok,
    check_error_body,
    client,
    is_152_png,
    raw_post,
    settings,
    spec,
    url,
)
from emulator_support import institutions_get as get
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.institutions_get_by_id_request_options import InstitutionsGetByIdRequestOptions
from plaid.model.institutions_search_request import InstitutionsSearchRequest
from plaid.model.institutions_search_request_options import InstitutionsSearchRequestOptions
from plaid.model.products import Products

# Plaid's Sandbox-only US institutions, as its docs list them
SANDBOX_US = {
    "ins_109508": "First Platypus Bank",
    "ins_109509": "First Gingham Credit Union",
    "ins_109510": "Tattersall Federal Credit Union",
    "ins_109511": "Tartan Bank",
    "ins_109512": "Houndstooth Bank",
    "ins_127287": "Platypus OAuth Bank",
    "ins_130016": "First Platypus Balance Bank",
    "ins_132241": "First Platypus OAuth App2App Bank",
    "ins_135858": "Windowpane Bank",
    "ins_132363": "Unhealthy Platypus Bank - Degraded",
    "ins_132361": "Unhealthy Platypus Bank - Down",
    "ins_133402": "Unsupported Platypus Bank - Institution Not Supported",
    "ins_133502": "Platypus Bank RUX Auth",
    "ins_133503": "Platypus Bank RUX Match",
}
# a Production institution (Plaid's API reference example), as the Sandbox serves those too
US = {**SANDBOX_US, "ins_1": "Bank of America"}
# Plaid's Sandbox-only UK banks (its Sandbox institutions page) and the emulator's own
SANDBOX_GB = {
    "ins_117650": "Royal Bank of Plaid",
    "ins_116834": "Flexible Platypus Open Banking",
    "ins_117181": "Flexible Platypus Open Banking",
    "ins_990106": "Platypus Building Society",
}
EU = ("ES", "FR", "NL", "DE", "IE")

__all__ = ["client", "settings", "spec", "url"]  # module fixtures used by name


def by_id(spec, client, institution_id, countries=("US",), **options):
    return call_ok(
        spec,
        client,
        "/institutions/get_by_id",
        lambda: client.institutions_get_by_id(
            InstitutionsGetByIdRequest(
                institution_id=institution_id,
                country_codes=[CountryCode(c) for c in countries],
                options=InstitutionsGetByIdRequestOptions(**options),
            )
        ),
    ).institution


# ---------------------------------------------------------------------------- point 2


def test_the_us_list_is_plaids_sandbox_list_with_full_metadata(spec, client):
    us = get(spec, client, include_optional_metadata=True)
    assert {i.institution_id: i.name for i in us.institutions} == US
    assert us.total == 15
    for institution in us.institutions:
        assert institution.url.startswith("https://")
        if institution.institution_id in SANDBOX_US:
            assert re.fullmatch(r"#[0-9a-f]{6}", institution.primary_color)
        assert institution.logo is None or is_152_png(institution.logo)
        assert institution.routing_numbers and all(
            re.fullmatch(r"\d{9}", n) for n in institution.routing_numbers
        )
        assert institution.country_codes == [CountryCode("US")]
        assert Products("transactions") in institution.products
    oauth = {i.institution_id for i in us.institutions if i.oauth}
    assert oauth == {"ins_127287", "ins_132241"}


def test_abroad_banks_offer_what_plaid_offers_there(spec, client):
    def products(country):
        found = get(spec, client, countries=(country,)).institutions
        assert found, f"no {country} bank"
        assert all(i.country_codes == [CountryCode(country)] for i in found)
        assert all(i.routing_numbers == [] for i in found)
        return {p.value for i in found for p in i.products}

    assert {"auth", "transactions", "payment_initiation"} <= products("GB")
    assert not {"investments", "liabilities"} & products("GB")
    ca = products("CA")
    assert {"auth", "transactions", "identity"} <= ca and "payment_initiation" not in ca
    for country in EU:
        eu = products(country)
        assert {"auth", "transactions", "payment_initiation"} <= eu
        assert not {"investments", "liabilities", "standing_orders"} & eu
    everywhere = get(spec, client, countries=("US", "GB", "CA", *EU))
    assert everywhere.total == len(everywhere.institutions) == 15 + 4 + 1 + 5


@pytest.mark.parametrize(
    ("count", "offset"), [(3, 4), (1, 0), (5, 12), (500, 13), (3, 14), (2, 99)]
)
def test_paging_returns_count_from_offset_and_the_exact_total(spec, client, count, offset):
    everything = [i.institution_id for i in get(spec, client).institutions]
    page = get(spec, client, count=count, offset=offset)
    assert page.total == 15
    assert [i.institution_id for i in page.institutions] == everything[offset : offset + count]


def test_paging_through_every_page_sees_every_institution_once(spec, client):
    seen, offset = [], 0
    while True:
        page = get(spec, client, count=3, offset=offset, countries=("US", "GB", "CA"))
        if not page.institutions:
            break
        seen += [i.institution_id for i in page.institutions]
        offset += 3
    assert len(seen) == len(set(seen)) == page.total == 20


def test_filters_combine_as_the_spec_says(spec, client):
    def ids(**kwargs):
        return {i.institution_id for i in get(spec, client, **kwargs).institutions}

    investing = ids(products=[Products("investments"), Products("liabilities")])
    assert investing == set(SANDBOX_US) - {"ins_130016", "ins_135858", "ins_133402"}
    assert ids(countries=("GB", "FR"), products=[Products("payment_initiation")]) == {
        *SANDBOX_GB,
        "ins_990102",
    }
    assert ids(countries=("US", "CA"), oauth=False) == set(US) - {
        "ins_127287",
        "ins_132241",
    } | {"ins_43"}
    assert ids(routing_numbers=["333333334"]) == {"ins_135858"}
    # every routing number must match; an invalid one is dropped before matching
    assert ids(routing_numbers=["011401533", "021200339"]) == {"ins_109508"}
    assert ids(routing_numbers=["011401533", "12345"]) == {"ins_109508", "ins_127287"}
    assert ids(routing_numbers=["011401533", "011401534"]) == {"ins_109508", "ins_127287"}
    plain = get(spec, client, count=1).institutions[0]
    assert (plain.url, plain.logo, plain.primary_color) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 501}, "count"),
        ({"count": -3}, "count"),
        ({"offset": -1}, "offset"),
        ({"count": "10"}, "count"),
        ({"offset": 1.5}, "offset"),
        ({"options": {"routing_numbers": ["123", "011401534"]}}, "routing_numbers"),
        ({"options": {"include_optional_metadata": "yes"}}, "include_optional_metadata"),
    ],
)
def test_out_of_range_paging_and_bad_filters_are_invalid_field(
    spec, client, settings, url, change, field
):
    body = {"count": 10, "offset": 0, "country_codes": ["US"]} | change
    response = raw_post(url, settings, "/institutions/get", json.dumps(body))
    error = check_error_body(spec, client, "/institutions/get", response.text)
    assert (response.status_code, error["error_type"], error["error_code"]) == (
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    )
    assert field in error["error_message"]


def test_count_and_offset_at_their_limits_are_accepted(spec, client):
    assert len(get(spec, client, count=1).institutions) == 1
    assert get(spec, client, count=500, offset=0).total == 15
    assert get(spec, client, count=500, offset=10**6).institutions == []


# ---------------------------------------------------------------------------- point 7


STATUS_KEYS = (
    "item_logins",
    "transactions_updates",
    "auth",
    "identity",
    "investments_updates",
    "liabilities_updates",
    "liabilities",
    "investments",
)


def test_include_status_returns_only_item_logins_as_the_sandbox_does(spec, client):
    assert by_id(spec, client, "ins_109508").status is None
    assert by_id(spec, client, "ins_109508", include_status=False).status is None
    status = by_id(spec, client, "ins_109508", include_status=True).status
    logins = status.item_logins
    assert logins.status == "HEALTHY"
    shares = logins.breakdown.success + logins.breakdown.error_plaid
    assert shares + logins.breakdown.error_institution == pytest.approx(1.0)
    assert logins.last_status_change.tzinfo is not None
    # Plaid's client tests: "the normal sandbox institution ... only returns the ItemLogins
    # status"; the spec: "institution status is not available in the Sandbox environment"
    assert [key for key in STATUS_KEYS if status[key] is not None] == ["item_logins"]
    assert status.health_incidents == []


def test_unhealthy_banks_report_their_status_and_an_incident(spec, client):
    degraded = by_id(spec, client, "ins_132363", include_status=True).status
    assert degraded.item_logins.status == "DEGRADED"
    assert degraded.transactions_updates.breakdown.refresh_interval == "DELAYED"
    down = by_id(spec, client, "ins_132361", include_status=True).status
    assert down.item_logins.status == "DOWN" and down.item_logins.breakdown.success == 0
    [incident] = down.health_incidents
    assert incident.end_date is None and incident.incident_updates[0].status == "INVESTIGATING"


def test_a_healthy_abroad_bank_reports_item_logins_only(spec, client):
    gb = by_id(spec, client, "ins_117650", ("GB",), include_status=True)
    assert gb.status.item_logins.status == "HEALTHY"
    assert gb.status.auth is None
    assert gb.status.investments is None and gb.status.liabilities_updates is None


# ---------------------------------------------------------------------------- names, countries


def test_the_uk_sandbox_banks_have_plaids_names(spec, client):
    gb = get(spec, client, countries=("GB",)).institutions
    assert {i.institution_id: i.name for i in gb} == SANDBOX_GB
    assert all(i.oauth for i in gb)


def test_get_by_id_refuses_a_bank_outside_the_requested_countries(spec, client, settings, url):
    body = {"institution_id": "ins_117650", "country_codes": ["US"]}
    response = raw_post(url, settings, "/institutions/get_by_id", json.dumps(body))
    error = check_error_body(spec, client, "/institutions/get_by_id", response.text)
    assert (response.status_code, error["error_type"], error["error_code"]) == (
        400,
        "INVALID_INPUT",
        "INVALID_INSTITUTION",
    )
    assert "GB" in error["error_message"]
    assert by_id(spec, client, "ins_117650", ("US", "GB")).name == "Royal Bank of Plaid"


# ---------------------------------------------------------------------------- Plaid's client tests


def test_plaid_go_institutions_get_cases_pass(spec, client):
    """plaid-go tests/institutions_test.go, TestInstitutionsGet, call for call."""
    assert len(get(spec, client, count=3, offset=4).institutions) == 3
    with_metadata = get(spec, client, count=3, offset=4, include_optional_metadata=True)
    assert len(with_metadata.institutions) == 3
    assert all(i.url for i in with_metadata.institutions)
    oauth = get(spec, client, count=3, offset=1, countries=("GB",), oauth=True).institutions
    assert len(oauth) == 3 and all(i.oauth is True and i.name for i in oauth)
    routed = get(spec, client, count=1, routing_numbers=["021200339", "052001633"])
    assert len(routed.institutions) == 1


def test_plaid_go_institutions_search_and_get_by_id_cases_pass(spec, client):
    """plaid-go TestInstitutionsSearch and TestInstitutionsGetById (the Sandbox banks)."""

    def search(query, countries, **options):
        return call_ok(
            spec,
            client,
            "/institutions/search",
            lambda: client.institutions_search(
                InstitutionsSearchRequest(
                    query=query,
                    products=[Products("transactions")],
                    country_codes=[CountryCode(c) for c in countries],
                    options=InstitutionsSearchRequestOptions(**options),
                )
            ),
        ).institutions

    assert search("Platypus", ("US",))
    assert all(i.url for i in search("Platypus", ("US",), include_optional_metadata=True))
    royal = search("Royal Bank of Plaid", ("GB",), include_payment_initiation_metadata=True)
    assert royal and all(i.payment_initiation_metadata for i in royal)
    assert search("Platypus", ("GB",), oauth=True)
    pis = by_id(spec, client, "ins_117650", ("GB",), include_payment_initiation_metadata=True)
    metadata = pis.payment_initiation_metadata
    assert pis.products and metadata.maximum_payment_amount["GBP"].isdigit()
    assert [i.value for i in metadata.standing_order_metadata.valid_standing_order_intervals] == [
        "WEEKLY",
        "MONTHLY",
    ]
    assert by_id(spec, client, "ins_117650", ("GB",)).payment_initiation_metadata is None
    assert (
        by_id(spec, client, "ins_109508", include_payment_initiation_metadata=True)[
            "payment_initiation_metadata"
        ]
        is None
    )  # no Payment Initiation in the US


def test_include_status_must_be_a_boolean(spec, client, settings, url):
    body = {"institution_id": "ins_109508", "country_codes": ["US"]}
    body["options"] = {"include_status": "true"}
    response = raw_post(url, settings, "/institutions/get_by_id", json.dumps(body))
    error = check_error_body(spec, client, "/institutions/get_by_id", response.text)
    assert (response.status_code, error["error_code"]) == (400, "INVALID_FIELD")
    assert "include_status" in error["error_message"]
