"""What Kore sent (issue 22, Build item 3): the bridge records the shape of every request to
its Authorization URL and Token URL, and ``kore-plaid kore-requests [--json]`` lists them.

Each request is sent over HTTP to the bridge under test; the listing is read through
``kore_plaid_nb.cli.main`` from the same store, and compared whole. Values (the secret, codes,
tokens, the ``state`` value, the query string) never land in the listing, the store's table
of shapes or the logs.
"""

from __future__ import annotations

import base64
import calendar
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from bridge_support import TOKEN_PATH, Bridge, authorize_and_link, authorize_query, pkce_pair
from store_inspect import rows

from kore_plaid_nb import cli
from kore_plaid_nb.bridge import request_recorder
from kore_plaid_nb.bridge.kore_requests import latest_from_kore, recent_requests
from kore_plaid_nb.bridge.request_recorder import flush_all
from kore_plaid_nb.bridge.request_shapes import (
    KEPT_SHAPES,
    VERIFY_USER_AGENT,
    RequestShape,
    shape_of,
)
from kore_plaid_nb.bridge.store import StoreUnavailable, open_store
from kore_plaid_nb.bridge.store.kore_requests import TRIM_EVERY

KORE_UA = "Kore-OAuth2-test/1.0"  # the User-Agent these tests send as Kore
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# What httpx sends with every request; a body adds content-length and content-type.
BASE_HEADERS = ["accept", "accept-encoding", "connection", "host", "user-agent"]
BODY_HEADERS = ["content-length", "content-type"]
OTHER_CALLBACK = "https://elsewhere.example/workflows/callback"
MAIN_THREAD = threading.main_thread().name
STATE = "st-Vq7-value"  # distinctive: searched for in every output


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``kore-plaid kore-requests --json``'s requests (the contract's one key checked)."""
    capsys.readouterr()
    assert cli.main(["kore-requests", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == ["requests"]
    return list(printed["requests"])


def table(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["kore-requests"]) == 0
    return capsys.readouterr().out


def shape(
    endpoint: str,
    status: int,
    params: list[str],
    headers: list[str] | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """The listing's object for one request, ``at`` aside (checked against the clock)."""
    described = {
        "endpoint": endpoint,
        "grant_type": None,
        "client_auth": "none",
        "content_type": None,
        "params": sorted(params),
        "headers": sorted(BASE_HEADERS + (headers or [])),
        "state": False,
        "pkce": False,
        "scope": False,
        "redirect_uri_matches": None,
        "user_agent": KORE_UA,
        "status": status,
    }
    assert set(facts) <= set(described), facts
    return described | facts


def without_at(listing: list[dict[str, Any]], since: float, until: float) -> list[dict]:
    """The listing with each ``at`` checked (ISO 8601, UTC, within the test's window) and
    taken out."""
    out = []
    for entry in listing:
        entry = dict(entry)
        at = calendar.timegm(time.strptime(entry.pop("at"), "%Y-%m-%dT%H:%M:%SZ"))
        assert int(since) <= at <= until, (at, since, until)
        out.append(entry)
    return out


# -- the Token URL: each way Kore may send a token request


def code_grant(bridge: Bridge, code: str, **extra: str) -> dict[str, str]:
    data = {"grant_type": "authorization_code", "code": code}
    data["redirect_uri"] = bridge.settings.simulator_callback
    data.update(extra)
    return {k: v for k, v in data.items() if v != "-"}  # "-": leave the parameter out


def body_credentials(bridge: Bridge, secret: str | None = None) -> dict[str, str]:
    return {
        "client_id": bridge.settings.client_id,
        "client_secret": secret or bridge.settings.secret,
    }


def post(bridge: Bridge, **kwargs: Any) -> httpx.Response:
    headers = {"User-Agent": KORE_UA, **kwargs.pop("headers", {})}
    return bridge.http.post(bridge.url + TOKEN_PATH, headers=headers, **kwargs)


def two_authorizations(bridge: Bridge, data: dict[str, str]) -> httpx.Response:
    basic = "Basic " + base64.b64encode(":".join(bridge.basic()).encode()).decode()
    headers = [("User-Agent", KORE_UA), ("Authorization", basic), ("Authorization", basic)]
    return bridge.http.post(bridge.url + TOKEN_PATH, data=data, headers=headers)


CODE_PARAMS = ["code", "grant_type", "redirect_uri"]
BASIC_FORM = {"client_auth": "basic", "content_type": FORM}
BASIC_HEADERS = ["authorization", *BODY_HEADERS]
CODE_FACTS = {"grant_type": "authorization_code", "redirect_uri_matches": True}


@dataclass(frozen=True)
class TokenCase:
    """One token request: ``send(bridge, code)`` and what the listing must say of it."""

    send: Callable[[Bridge, str], httpx.Response]
    status: int
    params: list[str]
    headers: list[str]
    facts: dict[str, Any] = field(default_factory=dict)
    pkce: bool = False  # the code is minted for a PKCE authorization


def pkce_query(bridge: Bridge, verifier_challenge: tuple[str, str]) -> str:
    challenge = verifier_challenge[1]
    return authorize_query(bridge.settings, code_challenge=challenge, code_challenge_method="S256")


PKCE = pkce_pair()
VERIFIER = PKCE[0]
TOKEN_CASES = {
    "basic, form": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code), auth=b.basic()),
        200, CODE_PARAMS, BASIC_HEADERS, BASIC_FORM | CODE_FACTS,
    ),
    "body, form": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code) | body_credentials(b)),
        200, [*CODE_PARAMS, "client_id", "client_secret"], BODY_HEADERS,
        {"client_auth": "body", "content_type": FORM} | CODE_FACTS,
    ),
    "both agreeing, form": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code) | body_credentials(b), auth=b.basic()),
        200, [*CODE_PARAMS, "client_id", "client_secret"], BASIC_HEADERS,
        {"client_auth": "both", "content_type": FORM} | CODE_FACTS,
    ),
    "both disagreeing (400)": TokenCase(
        lambda b, code: post(
            b, data=code_grant(b, code) | body_credentials(b, "another-secret"), auth=b.basic()
        ),
        400, [*CODE_PARAMS, "client_id", "client_secret"], BASIC_HEADERS,
        {"client_auth": "both", "content_type": FORM} | CODE_FACTS,
    ),
    "none (401)": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code)),
        401, CODE_PARAMS, BODY_HEADERS, {"content_type": FORM} | CODE_FACTS,
    ),
    "basic with a wrong secret (401)": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code), auth=(b.settings.client_id, "wrong")),
        401, CODE_PARAMS, BASIC_HEADERS, BASIC_FORM | CODE_FACTS,
    ),
    "basic, JSON, no grant_type (Kore's sample)": TokenCase(
        lambda b, code: post(b, json=code_grant(b, code, grant_type="-"), auth=b.basic()),
        200, ["code", "redirect_uri"], BASIC_HEADERS,
        {"client_auth": "basic", "content_type": JSON, "redirect_uri_matches": True},
    ),
    "body, JSON, no redirect_uri": TokenCase(
        lambda b, code: post(b, json=code_grant(b, code, redirect_uri="-") | body_credentials(b)),
        200, ["code", "grant_type", "client_id", "client_secret"], BODY_HEADERS,
        {"client_auth": "body", "content_type": JSON, "grant_type": "authorization_code"},
    ),
    "another redirect_uri (400)": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code, redirect_uri=OTHER_CALLBACK),
                             auth=b.basic()),  # fmt: skip
        400, CODE_PARAMS, BASIC_HEADERS,
        BASIC_FORM | CODE_FACTS | {"redirect_uri_matches": False},
    ),
    "scope and state in the body": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code, scope="read", state=STATE),
                             auth=b.basic()),  # fmt: skip
        200, [*CODE_PARAMS, "scope", "state"], BASIC_HEADERS,
        BASIC_FORM | CODE_FACTS | {"scope": True, "state": True},
    ),
    "PKCE verifier": TokenCase(
        lambda b, code: post(b, data=code_grant(b, code, code_verifier=VERIFIER),
                             auth=b.basic()),  # fmt: skip
        200, [*CODE_PARAMS, "code_verifier"], BASIC_HEADERS,
        BASIC_FORM | CODE_FACTS | {"pkce": True}, pkce=True,
    ),
    "two Authorization headers (400)": TokenCase(
        lambda b, code: two_authorizations(b, code_grant(b, code)),
        400, CODE_PARAMS, BASIC_HEADERS, BASIC_FORM | CODE_FACTS,
    ),
    "a bare code for a body (400)": TokenCase(
        lambda b, code: post(b, content=code.encode(), auth=b.basic(),
                             headers={"Content-Type": FORM}),  # fmt: skip
        400, ["(other)"], BASIC_HEADERS, BASIC_FORM,  # a value where a name goes: not kept
    ),
    "body too large (413)": TokenCase(
        lambda b, code: post(b, data={"code": code, "pad": "x" * 20_000}, auth=b.basic()),
        413, [], BASIC_HEADERS, BASIC_FORM,
    ),
    "JSON that does not parse (400)": TokenCase(
        lambda b, code: post(b, content=b'{"code": ', auth=b.basic(),
                             headers={"Content-Type": JSON}),  # fmt: skip
        400, [], BASIC_HEADERS, {"client_auth": "basic", "content_type": JSON},
    ),
}  # fmt: skip


@pytest.mark.bridge(plaid="unreachable")
@pytest.mark.parametrize("case", TOKEN_CASES.values(), ids=TOKEN_CASES.keys())
def test_each_token_request_is_listed_as_sent(
    bridge: Bridge, case: TokenCase, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bridge.mint_code(pkce_query(bridge, PKCE) if case.pkce else None)
    since = time.time()
    answer = case.send(bridge, code)
    until = time.time()
    assert answer.status_code == case.status, answer.text
    expected = shape("token", case.status, case.params, case.headers, **case.facts)
    assert without_at(listed(capsys), since, until) == [expected]


@pytest.mark.bridge(plaid="unreachable")
def test_the_refresh_grant_is_listed_with_its_grant_type(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    refresh_token = bridge.exchange(bridge.mint_code()).json()["refresh_token"]
    since = time.time()
    form = post(bridge, data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=bridge.basic())  # fmt: skip
    as_json = post(bridge, json={"grant_type": "refresh_token", "refresh_token": refresh_token}
                   | body_credentials(bridge))  # fmt: skip
    until = time.time()
    assert (form.status_code, as_json.status_code) == (200, 200), as_json.text
    newest = without_at(listed(capsys)[:2], since, until)
    assert newest == [
        shape("token", 200, ["client_id", "client_secret", "grant_type", "refresh_token"],
              BODY_HEADERS, client_auth="body", content_type=JSON, grant_type="refresh_token"),
        shape("token", 200, ["grant_type", "refresh_token"], BASIC_HEADERS,
              client_auth="basic", content_type=FORM, grant_type="refresh_token"),
    ]  # fmt: skip


# -- the Authorization URL: the page, JSON, refusals and error redirects


def get_authorize(bridge: Bridge, query: str, as_json: bool = False) -> httpx.Response:
    headers = {"User-Agent": KORE_UA}
    if as_json:
        headers["Accept"] = JSON
    return bridge.http.get(f"{bridge.url}/?{query}", headers=headers)


AUTHORIZE_PARAMS = ["client_id", "redirect_uri", "response_type"]


@pytest.mark.parametrize(
    ("query", "as_json", "status", "params", "facts"),
    [
        pytest.param(
            {"state": STATE}, False, 200, [*AUTHORIZE_PARAMS, "state"],
            {"state": True, "redirect_uri_matches": True}, id="page, state",
        ),
        pytest.param(
            {"state": None, "scope": "read", "access_type": "offline", "prompt": "consent",
             "code_challenge": PKCE[1], "code_challenge_method": "S256"},
            True, 200,
            [*AUTHORIZE_PARAMS, "access_type", "code_challenge", "code_challenge_method",
             "prompt", "scope"],
            {"pkce": True, "scope": True, "redirect_uri_matches": True},
            id="JSON, no state, PKCE, scope, extra parameters",
        ),
        pytest.param(
            {"state": STATE, "redirect_uri": OTHER_CALLBACK}, False, 400,
            [*AUTHORIZE_PARAMS, "state"], {"state": True, "redirect_uri_matches": False},
            id="another redirect_uri (400 page)",
        ),
        pytest.param(
            {"state": STATE, "redirect_uri": None}, True, 200, ["client_id", "response_type",
            "state"], {"state": True}, id="no redirect_uri (one callback)",
        ),
        pytest.param(
            {"state": STATE, "response_type": "token"}, False, 302,
            [*AUTHORIZE_PARAMS, "state"], {"state": True, "redirect_uri_matches": True},
            id="response_type token (error redirect)",
        ),
    ],
)  # fmt: skip
def test_each_authorization_request_is_listed_as_sent(
    bridge: Bridge,
    capsys: pytest.CaptureFixture[str],
    query: dict[str, str | None],
    as_json: bool,
    status: int,
    params: list[str],
    facts: dict[str, Any],
) -> None:
    state = query.pop("state", STATE)
    since = time.time()
    answer = get_authorize(bridge, authorize_query(bridge.settings, state, **query), as_json)
    until = time.time()
    assert answer.status_code == status, answer.text
    assert without_at(listed(capsys), since, until) == [shape("authorize", status, params, **facts)]


def test_a_hosted_link_authorization_is_listed_with_its_redirect(
    emulator_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb import settings as settings_module
    from kore_plaid_nb.bridge import create_app
    from kore_plaid_nb.serving import serve_in_thread

    settings = settings_module.load().with_values(plaid_api_url=emulator_url, link_mode="hosted")
    with serve_in_thread(create_app(settings), what="bridge") as url, httpx.Client() as http:
        since = time.time()
        answer = http.get(
            f"{url}/?{authorize_query(settings, STATE)}", headers={"User-Agent": KORE_UA}
        )
        until = time.time()
    assert answer.status_code == 303 and "hosted" in answer.headers["location"], answer.text
    assert without_at(listed(capsys), since, until) == [
        shape("authorize", 303, [*AUTHORIZE_PARAMS, "state"], state=True, redirect_uri_matches=True)
    ]


# -- values never land anywhere


@contextmanager
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger's records at DEBUG, the bridge's included."""
    with caplog.at_level(logging.DEBUG):
        for name in ("kore_plaid_nb", "uvicorn", "httpx", "httpcore"):
            caplog.set_level(logging.DEBUG, logger=name)
        yield


def asked_by_this_test(record: logging.LogRecord) -> bool:
    """A line of this test's own HTTP client, which logs the URLs it asks for."""
    return record.threadName == MAIN_THREAD and record.name.startswith(("httpx", "httpcore"))


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_no_value_lands_in_the_listing_the_store_or_the_logs(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    settings = bridge.settings
    verifier, challenge = pkce_pair()
    extra = {"code_challenge": challenge, "code_challenge_method": "S256", "scope": "read"}
    query = authorize_query(settings, STATE, **extra)
    with all_logs(caplog):
        bridge.http.headers["User-Agent"] = KORE_UA
        callback = authorize_and_link(bridge.http, bridge.url, settings, STATE, **extra)
        code = callback["code"]
        both = code_grant(bridge, code, code_verifier=verifier) | body_credentials(bridge)
        tokens = post(bridge, data=both, auth=bridge.basic()).json()
        refreshed = bridge.refresh(tokens["refresh_token"])
        refused = post(bridge, data=code_grant(bridge, code), auth=(settings.client_id, "nope"))
    assert callback["state"] == STATE and refreshed.status_code == 200, refreshed.text
    assert refused.status_code in (400, 401)
    listing = listed(capsys)
    assert [(r["endpoint"], r["status"]) for r in listing] == [
        ("token", refused.status_code),
        ("token", 200),
        ("token", 200),
        ("authorize", 200),
    ]
    assert listing[2]["client_auth"] == "both" and listing[2]["pkce"] is True
    printed = json.dumps(listing) + table(capsys)
    stored = json.dumps(
        [list(map(str, row)) for row in rows(settings, "SELECT * FROM kore_requests")]
    )
    values = {
        "the secret": settings.secret,
        "the code": code,
        "the refresh token": tokens["refresh_token"],
        "the access token": tokens["access_token"],
        "the state value": STATE,
        "the query string": query,
        "the PKCE verifier": verifier,
        "the PKCE challenge": challenge,
    }
    logs = "\n".join(
        record.getMessage() for record in caplog.records if not asked_by_this_test(record)
    )
    assert "HTTP Request" in caplog.text  # captured (the test client's lines left out)
    for where, text in {"listing": printed, "store": stored, "logs": logs}.items():
        assert [what for what, value in values.items() if value in text] == [], where


# -- the store keeps the newest KEPT_SHAPES, shared by every replica


def a_shape(n: int) -> RequestShape:
    return shape_of(
        "token", params=[("code", "x")], header_names=["host"], authorizations=[],
        content_type=FORM, user_agent=f"ua-{n}", callbacks=[], status=200, at=1_800_000_000 + n,
    )  # fmt: skip


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_store_keeps_the_newest_shapes_for_every_replica(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kore_plaid_nb import settings as settings_module

    settings = settings_module.load()
    total = KEPT_SHAPES + 2 * TRIM_EVERY + 5
    with open_store(settings.bridge_store) as one, open_store(settings.bridge_store) as other:
        for n in range(total):
            (one if n % 2 else other).record_requests([a_shape(n)])
        newest = other.recent_requests()
    assert [s.user_agent for s in newest] == [f"ua-{n}" for n in reversed(range(total))][:200]
    assert newest[0] == a_shape(total - 1)  # whole, through the store and back
    kept = rows(settings, "SELECT COUNT(*) FROM kore_requests")[0][0]
    assert KEPT_SHAPES <= kept < KEPT_SHAPES + TRIM_EVERY  # trimmed as it goes
    listing = listed(capsys)
    assert len(listing) == KEPT_SHAPES
    assert listing[0] == a_shape(total - 1).as_json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listing[0]["at"])
    assert len(recent_requests(settings, limit=3)) == 3


# -- recording never costs the request


@pytest.mark.bridge(plaid="unreachable")
def test_a_store_that_cannot_take_the_shape_costs_one_log_line_not_the_answer(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable(shapes: list[RequestShape]) -> None:
        raise StoreUnavailable("The database is restarting.", fix="Retry.")

    monkeypatch.setattr(bridge.app.state.store, "record_requests", unavailable)
    code = bridge.mint_code()
    with all_logs(caplog):
        answer = bridge.exchange(code)
        flush_all()
        page = get_authorize(bridge, authorize_query(bridge.settings, STATE))
        flush_all()
    assert (answer.status_code, page.status_code) == (200, 200), answer.text
    lines = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert lines == ["1 request shape(s) not recorded: the store cannot answer"] * 2
    logs = "\n".join(
        record.getMessage() for record in caplog.records if not asked_by_this_test(record)
    )
    assert code not in logs and STATE not in logs


@pytest.mark.bridge(plaid="unreachable")
def test_a_503_is_recorded_with_its_status(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("The database is restarting.", fix="Retry.")

    monkeypatch.setattr(bridge.app.state.oauth, "token_response", unavailable)
    monkeypatch.setattr(bridge.app.state.store, "create_session", unavailable)
    token = bridge.exchange("some-code")
    page = get_authorize(bridge, authorize_query(bridge.settings, STATE))
    assert (token.status_code, page.status_code) == (503, 503)
    assert token.json()["error"] == "temporarily_unavailable" and "Retry-After" in token.headers
    assert "briefly unavailable" in page.text and "Retry-After" in page.headers  # the app's page
    statuses = {(s.endpoint, s.status) for s in recent_requests(bridge.settings)}
    assert statuses == {("token", 503), ("authorize", 503)}


@pytest.mark.bridge(plaid="unreachable")
def test_another_process_sees_a_lone_shape_within_100_ms_of_its_answer(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A separate handle on the store, no flush: what the bridge service shows to notebook 06
    # or `kore-plaid kore-requests` running in another process.
    monkeypatch.setattr(request_recorder, "LINGER_SECONDS", 1.0)  # a linger would show
    with open_store(bridge.settings.bridge_store) as reader:
        assert reader.recent_requests() == []
        page = get_authorize(bridge, authorize_query(bridge.settings, STATE))
        answered = time.monotonic()
        assert page.status_code == 200, page.text
        seen: list[RequestShape] = []
        while not seen and time.monotonic() < answered + 5:
            time.sleep(0.002)
            seen = reader.recent_requests()
        shown = time.monotonic() - answered
    assert [(s.endpoint, s.status, s.user_agent) for s in seen] == [("authorize", 200, KORE_UA)]
    assert shown < 0.1, f"shown {shown * 1000:.0f} ms after the answer"


# -- latest_from_kore: the newest of Kore's own requests, not verify's


@pytest.mark.bridge(plaid="unreachable")
def test_latest_from_kore_skips_verify_and_refresh_requests(bridge: Bridge) -> None:
    query = authorize_query(bridge.settings, STATE)
    get_authorize(bridge, query)
    get_authorize(bridge, query + "&scope=x")  # Kore's newest
    code = bridge.mint_code()
    assert post(bridge, json={"code": code} | body_credentials(bridge)).status_code == 200
    grant = bridge.exchange(bridge.mint_code())  # python-httpx's UA: Kore's too, as far as known
    refresh = {"grant_type": "refresh_token", "refresh_token": grant.json()["refresh_token"]}
    assert post(bridge, data=refresh, auth=bridge.basic()).status_code == 200
    verify = {"User-Agent": VERIFY_USER_AGENT}
    bridge.http.get(f"{bridge.url}/?{query}", headers=verify)
    bridge.http.post(bridge.url + TOKEN_PATH, data={"code": code}, headers=verify)
    authorize, token = latest_from_kore(bridge.settings)
    assert authorize is not None and token is not None
    assert (authorize.scope, authorize.user_agent) == (True, KORE_UA)
    assert token.grant_type == "authorization_code" and token.user_agent.startswith("python-httpx")
    assert [s.user_agent for s in recent_requests(bridge.settings)[:2]] == [VERIFY_USER_AGENT] * 2


@pytest.mark.bridge(plaid="unreachable")
def test_latest_from_kore_skips_a_bare_get_of_the_authorization_url(bridge: Bridge) -> None:
    query = authorize_query(bridge.settings, STATE)
    get_authorize(bridge, query)
    assert bridge.http.get(bridge.url + "/").status_code == 400  # a probe, or a visitor
    authorize, _token = latest_from_kore(bridge.settings)
    assert authorize is not None and "client_id" in authorize.params
    assert recent_requests(bridge.settings)[0].params == ()


@pytest.mark.bridge(plaid="unreachable")
def test_latest_from_kore_skips_an_authorization_request_without_client_id(
    bridge: Bridge,
) -> None:
    get_authorize(bridge, authorize_query(bridge.settings, STATE))  # Kore's
    assert get_authorize(bridge, "x=1").status_code == 400  # a probe with some parameter
    authorize, _token = latest_from_kore(bridge.settings)
    assert authorize is not None and "client_id" in authorize.params
    assert recent_requests(bridge.settings)[0].params == ("x",)


def verify_shape(n: int) -> RequestShape:
    return shape_of(
        "token", params=[("code", "x")], header_names=["host"], authorizations=[],
        content_type=FORM, user_agent=VERIFY_USER_AGENT, callbacks=[], status=200,
        at=1_800_000_100 + n,
    )  # fmt: skip


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_verify_runs_never_push_kores_shapes_out(capsys: pytest.CaptureFixture[str]) -> None:
    from kore_plaid_nb import settings as settings_module

    settings = settings_module.load()
    verify_runs = KEPT_SHAPES + 50
    with open_store(settings.bridge_store) as store:
        store.record_requests([a_shape(0)])  # Kore's code grant
        for n in range(verify_runs):
            store.record_requests([verify_shape(n)])
    assert latest_from_kore(settings) == (None, a_shape(0))
    listing = listed(capsys)
    assert len(listing) == KEPT_SHAPES  # the newest overall: verify's
    assert listing[0] == verify_shape(verify_runs - 1).as_json()
    assert {entry["user_agent"] for entry in listing} == {VERIFY_USER_AGENT}
    kept = rows(settings, "SELECT COUNT(*) FROM kore_requests WHERE origin = 'verify'")[0][0]
    assert KEPT_SHAPES <= kept < KEPT_SHAPES + TRIM_EVERY  # verify's own are trimmed


def test_latest_from_kore_before_any_bridge_ran_is_none_twice() -> None:
    from kore_plaid_nb import settings as settings_module

    assert latest_from_kore(settings_module.load()) == (None, None)


# -- the text listing


def test_an_empty_store_says_so_and_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    out = table(capsys)
    assert out.startswith("No request recorded yet")
    assert "Authorize" in out and "kore-plaid verify" in out
    assert listed(capsys) == []


@pytest.mark.bridge(plaid="unreachable")
def test_the_table_lists_newest_first_one_line_each(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    get_authorize(bridge, authorize_query(bridge.settings, state=None))
    post(bridge, json={"code": bridge.mint_code()}, auth=bridge.basic())
    lines = table(capsys).splitlines()
    assert lines[0].split() == [
        "at", "endpoint", "status", "client", "auth", "grant_type", "content", "type", "state",
        "PKCE", "scope", "redirect_uri", "user", "agent",
    ]  # fmt: skip
    token_row, authorize_row = lines[2].split()[3:], lines[3].split()[3:]  # after the time
    assert token_row == ["token", "200", "basic", "-", JSON, "no", "no", "no", "absent", KORE_UA]
    assert authorize_row == [
        "authorize", "200", "none", "-", "-", "no", "no", "no", "matches", KORE_UA,
    ]  # fmt: skip
    assert "--json" in lines[-1]
