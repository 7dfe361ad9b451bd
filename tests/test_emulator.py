"""The emulator behaves like Plaid's Sandbox: tokens, user_good data, paging, persistence,
Link stand-in endpoints, faults, and the background service."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from http_support import TLS

from kore_plaid_nb import services
from kore_plaid_nb.emulator import (
    create_app,
    data,
    default_state_path,
    ensure_emulator,
    faults,
    running_emulator,
    stop_emulator,
)
from kore_plaid_nb.emulator.store import PUBLIC_TOKEN_TTL, Store
from kore_plaid_nb.settings import Settings

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


class Plaid:
    """A tiny raw client: what a user would see on the wire."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings

    def post(self, path: str, body: dict | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop(
            "headers",
            {"PLAID-CLIENT-ID": self.settings.client_id, "PLAID-SECRET": self.settings.secret},
        )
        return httpx.post(self.url + path, json=body or {}, headers=headers, verify=TLS, **kwargs)

    def ok(self, path: str, body: dict | None = None) -> dict:
        response = self.post(path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, path: str, body: dict | None = None, status: int = 400) -> dict:
        response = self.post(path, body)
        assert response.status_code == status, response.text
        return response.json()

    def access_token(self, institution_id: str = "ins_109508", **options: str) -> str:
        public = self.ok(
            "/sandbox/public_token/create",
            {
                "institution_id": institution_id,
                "initial_products": ["transactions"],
                "options": options,
            },
        )["public_token"]
        return self.ok("/item/public_token/exchange", {"public_token": public})["access_token"]

    def link_token(self, **extra: object) -> str:
        body = {
            "client_name": "Kore runbook",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "user-1"},
            "products": ["auth", "transactions"],
            **extra,
        }
        return self.ok("/link/token/create", body)["link_token"]


@pytest.fixture
def settings(home) -> Settings:
    return Settings(home=home)


@pytest.fixture
def plaid(settings: Settings) -> Iterator[Plaid]:
    with running_emulator(settings) as url:
        yield Plaid(url, settings)


# ---------------------------------------------------------------------------- tokens, keys


def test_health_and_token_formats(plaid):
    assert httpx.get(plaid.url + "/healthz").json()["status"] == "ok"
    assert re.fullmatch(f"link-sandbox-{UUID4}", plaid.link_token())
    public = plaid.ok(
        "/sandbox/public_token/create",
        {"institution_id": "ins_109508", "initial_products": ["auth"]},
    )["public_token"]
    assert re.fullmatch(f"public-sandbox-{UUID4}", public)
    exchanged = plaid.ok("/item/public_token/exchange", {"public_token": public})
    assert re.fullmatch(f"access-sandbox-{UUID4}", exchanged["access_token"])
    item = plaid.ok("/item/get", {"access_token": exchanged["access_token"]})["item"]
    assert item["item_id"] == exchanged["item_id"]


def test_credentials_in_the_body_work_and_wrong_ones_do_not(plaid, settings):
    body = {"client_id": settings.client_id, "secret": settings.secret}
    body |= {"institution_id": "ins_109509", "country_codes": ["US"]}
    ok = plaid.post("/institutions/get_by_id", body, headers={})
    assert ok.status_code == 200
    assert ok.json()["institution"]["name"] == "First Gingham Credit Union"
    wrong = plaid.post("/institutions/get_by_id", body | {"secret": "nope"}, headers={})
    assert (wrong.status_code, wrong.json()["error_code"]) == (400, "INVALID_API_KEYS")
    assert "nope" not in wrong.text


def test_configured_keys_are_the_only_accepted_ones(home):
    live_like = Settings(home=home, plaid_client_id="c" * 24, plaid_secret="s" * 30)
    with running_emulator(live_like) as url:
        demo = Plaid(url, Settings(home=home))
        assert demo.error("/item/get", {"access_token": "x"})["error_code"] == "INVALID_API_KEYS"
        configured = Plaid(url, live_like)
        assert configured.error("/item/get", {"access_token": "x"})["error_code"] == (
            "INVALID_ACCESS_TOKEN"
        )


def test_public_token_expires_after_30_minutes(plaid, settings):
    store = Store(default_state_path(settings))
    try:
        token = plaid.access_token()
        item = store.item_by_access_token(token)
        old = store.create_public_token(item.item_id, now=time.time() - PUBLIC_TOKEN_TTL - 1)
        fresh = store.create_public_token(item.item_id, now=time.time() - PUBLIC_TOKEN_TTL + 60)
    finally:
        store.close()
    error = plaid.error("/item/public_token/exchange", {"public_token": old})
    assert error["error_code"] == "INVALID_PUBLIC_TOKEN" and "expired" in error["error_message"]
    assert plaid.ok("/item/public_token/exchange", {"public_token": fresh})["access_token"] == (
        token
    )


def test_one_item_per_access_token(plaid):
    first, second = plaid.access_token(), plaid.access_token()
    assert first != second
    ids = {plaid.ok("/item/get", {"access_token": t})["item"]["item_id"] for t in (first, second)}
    assert len(ids) == 2


# ---------------------------------------------------------------------------- user_good data


def test_user_good_accounts_exactly(plaid):
    accounts = plaid.ok("/accounts/get", {"access_token": plaid.access_token()})["accounts"]
    seen = [
        (
            a["name"],
            a["mask"],
            a["type"],
            a["subtype"],
            a["balances"]["available"],
            a["balances"]["current"],
            a["balances"]["limit"],
        )
        for a in accounts
    ]
    assert seen == [
        ("Plaid Checking", "0000", "depository", "checking", 100, 110, None),
        ("Plaid Saving", "1111", "depository", "savings", 200, 210, None),
        ("Plaid CD", "2222", "depository", "cd", None, 1000, None),
        ("Plaid Credit Card", "3333", "credit", "credit card", None, 410, 2000),
        ("Plaid Money Market", "4444", "depository", "money market", 43200, 43200, None),
        ("Plaid IRA", "5555", "investment", "ira", None, 320.76, None),
        ("Plaid 401k", "6666", "investment", "401k", None, 23631.9805, None),
        ("Plaid Student Loan", "7777", "loan", "student", None, 65262, None),
        ("Plaid Mortgage", "8888", "loan", "mortgage", None, 56302.06, None),
    ]


def test_auth_identity_investments_liabilities(plaid):
    token = plaid.access_token()
    auth = plaid.ok("/auth/get", {"access_token": token})
    checking = next(a for a in auth["accounts"] if a["mask"] == "0000")
    ach = next(n for n in auth["numbers"]["ach"] if n["account_id"] == checking["account_id"])
    assert (ach["account"], ach["routing"], ach["wire_routing"]) == (
        "1111222233330000",
        "011401533",
        "021000021",
    )
    owner = plaid.ok("/identity/get", {"access_token": token})["accounts"][0]["owners"][0]
    assert owner["names"] == ["Alberta Bobbeth Charleson"]
    assert owner["emails"][0]["data"] == "accountholder0@example.com"
    address = owner["addresses"][0]["data"]
    assert (address["street"], address["city"], address["region"], address["postal_code"]) == (
        "2992 Cameron Road",
        "Malakoff",
        "NY",
        "14236",
    )
    holdings = plaid.ok("/investments/holdings/get", {"access_token": token})
    assert {a["mask"] for a in holdings["accounts"]} == {"5555", "6666"}
    for account in holdings["accounts"]:
        value = sum(
            h["institution_value"]
            for h in holdings["holdings"]
            if h["account_id"] == account["account_id"]
        )
        assert value == pytest.approx(account["balances"]["current"])
    security_ids = {s["security_id"] for s in holdings["securities"]}
    assert {h["security_id"] for h in holdings["holdings"]} <= security_ids
    investments = plaid.ok(
        "/investments/transactions/get",
        {"access_token": token, "start_date": "2000-01-01", "end_date": "2100-01-01"},
    )
    assert investments["total_investment_transactions"] == len(
        investments["investment_transactions"]
    )
    liabilities = plaid.ok("/liabilities/get", {"access_token": token})["liabilities"]
    assert [len(liabilities[k]) for k in ("credit", "student", "mortgage")] == [1, 1, 1]
    assert liabilities["mortgage"][0]["property_address"]["city"] == "Malakoff"


def test_account_ids_option_filters(plaid):
    token = plaid.access_token()
    accounts = plaid.ok("/accounts/get", {"access_token": token})["accounts"]
    wanted = [accounts[1]["account_id"]]
    filtered = plaid.ok(
        "/accounts/balance/get", {"access_token": token, "options": {"account_ids": wanted}}
    )["accounts"]
    assert [a["account_id"] for a in filtered] == wanted
    error = plaid.error(
        "/accounts/get", {"access_token": token, "options": {"account_ids": ["nope"]}}
    )
    assert error["error_code"] == "INVALID_FIELD"


def test_transactions_sync_pages_with_a_real_cursor(plaid):
    token = plaid.access_token()
    cursor, seen, pages = None, [], 0
    while True:
        body = {"access_token": token, "count": 7}
        if cursor is not None:
            body["cursor"] = cursor
        page = plaid.ok("/transactions/sync", body)
        pages += 1
        assert len(page["added"]) <= 7
        seen += [t["transaction_id"] for t in page["added"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) >= 30
    assert pages == -(-len(seen) // 7)
    final = plaid.ok("/transactions/sync", {"access_token": token, "cursor": cursor})
    assert (final["added"], final["modified"], final["removed"], final["has_more"]) == (
        [],
        [],
        [],
        False,
    )
    assert final["next_cursor"] == cursor
    everything = plaid.ok("/transactions/sync", {"access_token": token, "count": 500})
    assert [t["transaction_id"] for t in everything["added"]] == seen
    assert not everything["has_more"]
    other = plaid.access_token()
    error = plaid.error("/transactions/sync", {"access_token": other, "cursor": cursor})
    assert error["error_code"] == "INVALID_FIELD"


def test_investment_transactions_dates_are_checked(plaid):
    token = plaid.access_token()
    for start, end in (("2024-13-01", "2024-12-01"), ("20240101", "2024-02-01")):
        body = {"access_token": token, "start_date": start, "end_date": end}
        assert plaid.error("/investments/transactions/get", body)["error_code"] == "INVALID_FIELD"
    body = {"access_token": token, "start_date": "2024-02-01", "end_date": "2024-01-01"}
    assert plaid.error("/investments/transactions/get", body)["error_code"] == "INVALID_FIELD"
    today = date.today().isoformat()
    body = {"access_token": token, "start_date": today, "end_date": today}
    assert plaid.ok("/investments/transactions/get", body)["investment_transactions"] == []


# ---------------------------------------------------------------------------- item lifecycle


def test_link_offers_only_banks_of_the_tokens_countries_and_products(plaid):
    def offered(**extra: object) -> list[str]:
        token = plaid.link_token(**extra)
        session = httpx.post(plaid.url + "/link/_standin/session", json={"link_token": token})
        return [i["institution_id"] for i in session.json()["institutions"]]

    # the US banks with Instant Auth (the token asks for auth); the others lack it
    us_banks = [
        i
        for i in data.INSTITUTION_IDS
        if data.country(i) == "US" and i not in ("ins_130016", "ins_135858", "ins_133402")
    ]
    assert len(us_banks) == 12
    assert offered() == us_banks
    uk_banks = ["ins_117650", "ins_116834", "ins_117181", "ins_990106"]
    assert offered(country_codes=["GB"]) == uk_banks
    assert offered(country_codes=["US", "GB"]) == [*us_banks, *uk_banks]
    # the UK banks (and ins_1, as Plaid's example lists it) have no investments: Link does
    # not offer them for them
    investing = [i for i in us_banks if i != "ins_1"]
    assert offered(country_codes=["US", "GB"], products=["investments"]) == investing


def test_reset_login_then_update_mode_link_fixes_the_item(plaid):
    token = plaid.access_token()
    plaid.ok("/sandbox/item/reset_login", {"access_token": token})
    assert plaid.error("/accounts/get", {"access_token": token})["error_code"] == (
        "ITEM_LOGIN_REQUIRED"
    )
    item = plaid.ok("/item/get", {"access_token": token})["item"]
    assert item["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    link_token = plaid.link_token(access_token=token, products=None)
    session = httpx.post(plaid.url + "/link/_standin/session", json={"link_token": link_token})
    assert session.json()["update_mode"] is True
    assert [i["institution_id"] for i in session.json()["institutions"]] == ["ins_109508"]
    done = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={
            "link_token": link_token,
            "institution_id": "ins_109508",
            "username": "user_good",
            "password": "pass_good",
        },
    ).json()
    again = plaid.ok("/item/public_token/exchange", {"public_token": done["public_token"]})
    assert again["access_token"] == token
    assert plaid.ok("/accounts/get", {"access_token": token})["accounts"]


def test_item_remove_stops_the_token(plaid):
    token = plaid.access_token()
    assert set(plaid.ok("/item/remove", {"access_token": token})) == {"request_id"}
    assert plaid.error("/accounts/get", {"access_token": token})["error_code"] == (
        "INVALID_ACCESS_TOKEN"
    )


def test_restarted_emulator_still_knows_the_items(settings):
    with running_emulator(settings) as url:
        token = Plaid(url, settings).access_token()
    with running_emulator(settings) as url:
        accounts = Plaid(url, settings).ok("/accounts/get", {"access_token": token})["accounts"]
    assert len(accounts) == 9
    assert default_state_path(settings).stat().st_mode & 0o777 == 0o600


def test_state_path_can_be_chosen(settings, tmp_path):
    path = tmp_path / "elsewhere.sqlite3"
    with running_emulator(settings, state_path=path) as url:
        Plaid(url, settings).access_token()
    assert path.is_file() and not default_state_path(settings).exists()


def test_unknown_products_and_bad_link_requests(plaid):
    body = {"institution_id": "ins_109508", "initial_products": ["telepathy"]}
    assert plaid.error("/sandbox/public_token/create", body)["error_code"] == "INVALID_FIELD"
    body = {"client_name": "x", "language": "en", "country_codes": ["XX"], "user": {}}
    error = plaid.error("/link/token/create", body)
    assert error["error_code"] in ("INVALID_FIELD", "MISSING_FIELDS")
    body = {
        "client_name": "x",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "u"},
        "products": ["auth"],
        "redirect_uri": "https://elsewhere.example/cb",
    }
    assert plaid.error("/link/token/create", body)["error_code"] == "INVALID_FIELD"
    body["redirect_uri"] = "http://127.0.0.1:8000/oauth-return"
    assert plaid.ok("/link/token/create", body)["link_token"]


def test_configured_redirect_uri_is_allowed(home):
    settings = Settings(home=home, link_redirect_uri="https://bridge.example.ngrok.app/oauth")
    with running_emulator(settings) as url:
        plaid = Plaid(url, settings)
        assert plaid.link_token(redirect_uri="https://bridge.example.ngrok.app/oauth")


# ---------------------------------------------------------------------------- Link stand-in


def test_link_script_and_cors_only_on_stand_in_endpoints(plaid):
    script = httpx.get(plaid.url + "/link/v2/stable/link-initialize.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "Plaid.create" in script.text or "Plaid.create =" in script.text
    preflight = httpx.options(
        plaid.url + "/link/_standin/complete",
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    plaid_api = plaid.post("/accounts/get", {}, headers={"Origin": "http://127.0.0.1:8000"})
    assert "access-control-allow-origin" not in plaid_api.headers


def test_stand_in_completes_with_only_the_link_token(plaid):
    link_token = plaid.link_token()
    response = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={
            "link_token": link_token,
            "institution_id": "ins_109511",
            "username": "user_good",
            "password": "pass_good",
            "link_session_id": "session-1",
        },
    )
    assert response.status_code == 200
    result = response.json()
    metadata = result["metadata"]
    assert metadata["institution"] == {"name": "Tartan Bank", "institution_id": "ins_109511"}
    assert metadata["link_session_id"] == "session-1"
    assert {"id", "name", "mask", "type", "subtype"} <= set(metadata["accounts"][0])
    exchanged = plaid.ok("/item/public_token/exchange", {"public_token": result["public_token"]})
    item = plaid.ok("/item/get", {"access_token": exchanged["access_token"]})["item"]
    assert item["institution_id"] == "ins_109511"
    assert set(item["products"]) == {"auth", "transactions"}


def test_stand_in_login_errors(plaid):
    link_token = plaid.link_token()
    for password, code in (("error_ITEM_LOCKED", "ITEM_LOCKED"), ("wrong", "INVALID_CREDENTIALS")):
        response = httpx.post(
            plaid.url + "/link/_standin/complete",
            json={
                "link_token": link_token,
                "institution_id": "ins_109508",
                "username": "user_good",
                "password": password,
            },
        )
        assert (response.status_code, response.json()["error_code"]) == (400, code)
        assert response.json()["display_message"]
    bad = httpx.post(plaid.url + "/link/_standin/session", json={"link_token": "link-sandbox-x"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_LINK_TOKEN")


def test_oauth_institution_redirects_and_completes_on_return(plaid):
    redirect_uri = "http://localhost:8000/oauth-return"
    link_token = plaid.link_token(redirect_uri=redirect_uri)
    first = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={
            "link_token": link_token,
            "institution_id": "ins_127287",
            "username": "user_good",
            "password": "pass_good",
        },
    ).json()
    target = first["oauth_redirect_uri"]
    assert target.startswith(redirect_uri + "?oauth_state_id=")
    state = parse_qs(urlsplit(target).query)["oauth_state_id"][0]
    assert re.fullmatch(UUID4, state)
    other_token = plaid.link_token(redirect_uri=redirect_uri)
    foreign = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={"link_token": other_token, "received_redirect_uri": target},
    )
    assert foreign.status_code == 400
    done = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={"link_token": link_token, "received_redirect_uri": target},
    ).json()
    assert done["metadata"]["institution"]["institution_id"] == "ins_127287"
    assert plaid.ok("/item/public_token/exchange", {"public_token": done["public_token"]})
    replay = httpx.post(
        plaid.url + "/link/_standin/complete",
        json={"link_token": link_token, "received_redirect_uri": target},
    )
    assert replay.status_code == 400


# ---------------------------------------------------------------------------- faults


def test_faults_are_off_by_default_and_count_down(plaid, settings):
    token = plaid.access_token()
    assert faults.pending(plaid.url, settings=settings) == []
    faults.inject(
        plaid.url, "/accounts/get", error_code="ACCOUNTS_LIMIT", count=2, settings=settings
    )
    for _ in range(2):
        error = plaid.error("/accounts/get", {"access_token": token}, status=429)
        assert error["error_type"] == "RATE_LIMIT_EXCEEDED"
    assert plaid.ok("/accounts/get", {"access_token": token})
    faults.inject(
        plaid.url, "*", error_code="INSTITUTION_DOWN", status=503, count=1, settings=settings
    )
    assert plaid.error("/item/get", {"access_token": token}, status=503)["error_code"] == (
        "INSTITUTION_DOWN"
    )


def test_fault_delay_and_clear(plaid, settings):
    token = plaid.access_token()
    faults.inject(plaid.url, "/item/get", delay=0.4, settings=settings)
    started = time.monotonic()
    assert plaid.ok("/item/get", {"access_token": token})
    assert time.monotonic() - started >= 0.4
    faults.inject(plaid.url, "/item/get", error_code="RATE_LIMIT", count=5, settings=settings)
    faults.clear(plaid.url, settings=settings)
    assert plaid.ok("/item/get", {"access_token": token})


def test_fault_control_needs_keys_and_valid_input(plaid):
    anonymous = httpx.post(plaid.url + "/_emulator/faults", json={"endpoint": "/item/get"})
    assert anonymous.status_code == 400
    bad = plaid.post("/_emulator/faults", {"endpoint": "/nope"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_FIELD")


# ---------------------------------------------------------------------------- service


def test_background_service_is_idempotent_and_stops(settings):
    port = services.free_port()
    try:
        record = ensure_emulator(settings, port=port)
        assert record.url == f"http://127.0.0.1:{port}"
        assert ensure_emulator(settings).pid == record.pid
        token = Plaid(record.url, settings).access_token()
        assert services.read(settings.home, "emulator").pid == record.pid
    finally:
        assert stop_emulator(settings)
    assert services.read(settings.home, "emulator") is None
    assert not stop_emulator(settings)
    with running_emulator(settings) as url:
        assert Plaid(url, settings).ok("/item/get", {"access_token": token})


def test_service_restarts_when_the_keys_changed(settings):
    try:
        first = ensure_emulator(settings, port=services.free_port())
        rekeyed = settings.with_values(plaid_client_id="c" * 24, plaid_secret="s" * 30)
        second = ensure_emulator(rekeyed, port=services.free_port())
        assert second.pid != first.pid
        assert not services.pid_alive(first.pid)
        plaid = Plaid(second.url, rekeyed)
        assert plaid.ok(
            "/institutions/get_by_id", {"institution_id": "ins_109508", "country_codes": ["US"]}
        )
    finally:
        stop_emulator(settings)


def test_create_app_is_an_asgi_app(settings):
    app = create_app(settings)
    assert callable(app)
