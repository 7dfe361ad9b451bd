"""The attacker's path through the bridge's session endpoints: unlimited sessions and Plaid
Link tokens, hostile JSON (deep nesting, lone surrogates), bodies a cross-site page can send
without a preflight, and forged Host / X-Forwarded-* headers."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bridge_support import authorize_query, query_of, sandbox_public_token
from fake_clock import FakeClock
from http_support import TLS
from starlette.requests import Request
from store_inspect import one

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app, routes, running_bridge
from kore_plaid_nb.bridge.oauth import SESSION_TTL
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.store import open_store
from kore_plaid_nb.bridge.store.purge import SESSION_RETENTION_SECONDS
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.tunnel import state as tunnel_state

JSON = {"Accept": "application/json"}
NEW_NAMES = (
    "BRIDGE_PUBLIC_URL",
    "BRIDGE_SESSIONS_PER_ADDRESS",
    "BRIDGE_SESSIONS_PER_MINUTE",
    "FORWARDED_ALLOW_IPS",
)


@pytest.fixture(autouse=True)
def no_outside_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NEW_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def settings(home: Path, emulator_url: str) -> settings_module.Settings:
    return settings_module.load().with_values(plaid_api_url=emulator_url)


@pytest.fixture
def bridge(settings: settings_module.Settings) -> Iterator[str]:
    with running_bridge(settings) as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20, verify=TLS) as client:
        yield client


def start(http: httpx.Client, url: str, settings: settings_module.Settings, **headers: str):
    return http.get(url + "/?" + authorize_query(settings), headers={**JSON, **headers})


def new_session(http: httpx.Client, url: str, settings: settings_module.Settings) -> str:
    response = start(http, url, settings)
    assert response.status_code == 200, response.text
    return response.json()["session"]


def complete(http: httpx.Client, url: str, session: str, public_token: str) -> httpx.Response:
    body = {"session": session, "public_token": public_token}
    return http.post(url + "/api/set_access_token", json=body)


# 1. Sessions and Link tokens are limited.


def test_sessions_are_limited_per_client_address(
    settings: settings_module.Settings, http: httpx.Client
) -> None:
    """Behind a trusted proxy, each client address gets 30 sessions a minute; the next one
    is a 429 with Retry-After that says what to do, and other addresses go on."""
    behind_proxy = settings.with_values(forwarded_allow_ips=("127.0.0.1",))
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    with running_bridge(behind_proxy) as url:
        statuses = [start(http, url, settings, **attacker).status_code for _ in range(30)]
        refused = start(http, url, settings, **attacker)
        page = http.get(url + "/?" + authorize_query(settings), headers=attacker)
        other = start(http, url, settings, **{"X-Forwarded-For": "198.51.100.4"})
    assert statuses == [200] * 30
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["error"] == "too_many_requests"
    assert "Wait" in body["fix"] and "seconds" in body["fix"]
    assert page.status_code == 429 and "retry-after" in page.headers
    assert "Please wait a moment" in page.text and "<html" in page.text
    assert other.status_code == 200
    assert one(settings, "SELECT COUNT(*) FROM sessions") == 31


def test_sessions_are_limited_overall(
    settings: settings_module.Settings, http: httpx.Client
) -> None:
    with running_bridge(settings.with_values(bridge_sessions_per_minute=5)) as url:
        statuses = [start(http, url, settings).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = settings_module.load()
    assert (defaults.bridge_sessions_per_address, defaults.bridge_sessions_per_minute) == (30, 600)
    monkeypatch.setenv("BRIDGE_SESSIONS_PER_ADDRESS", "120")
    monkeypatch.setenv("BRIDGE_SESSIONS_PER_MINUTE", "0")
    loaded = settings_module.load()
    assert (loaded.bridge_sessions_per_address, loaded.bridge_sessions_per_minute) == (120, 0)
    assert loaded.as_env()["BRIDGE_SESSIONS_PER_ADDRESS"] == "120"
    monkeypatch.setenv("BRIDGE_SESSIONS_PER_MINUTE", "lots")
    with pytest.raises(settings_module.SettingsError, match="BRIDGE_SESSIONS_PER_MINUTE"):
        settings_module.load()


def test_the_limiter_refills_and_forgets_quiet_addresses() -> None:
    from kore_plaid_nb.bridge.ratelimit import MAX_TRACKED_ADDRESSES, SessionLimiter

    now = [0.0]
    limiter = SessionLimiter(per_address=30, overall=600, clock=lambda: now[0])
    assert all(limiter.acquire("203.0.113.7") is None for _ in range(30))
    assert limiter.acquire("203.0.113.7") == 2  # one session every 2 s
    assert limiter.acquire("::1") is None  # loopback: only the overall limit
    now[0] += 2.0
    assert limiter.acquire("203.0.113.7") is None
    for n in range(MAX_TRACKED_ADDRESSES + 10):
        limiter.acquire(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
        now[0] += 0.1  # an overall bucket that refills, so that none of these is refused
    assert len(limiter._by_address) <= MAX_TRACKED_ADDRESSES
    unlimited = SessionLimiter(per_address=0, overall=0)
    assert all(unlimited.acquire("203.0.113.7") is None for _ in range(1000))


def test_the_limiter_counts_an_ipv6_64_as_one_client() -> None:
    """One host holds a whole /64: a new address per session must not buy a new budget."""
    from kore_plaid_nb.bridge.ratelimit import SessionLimiter

    limiter = SessionLimiter(per_address=3, overall=600, clock=lambda: 0.0)
    assert all(limiter.acquire(f"2001:db8:0:1::{n + 1:x}") is None for n in range(3))
    assert limiter.acquire("2001:db8:0:1:ffff::9") == 20  # same /64: refused
    assert limiter.acquire("2001:db8:0:2::1") is None  # the next /64: its own budget
    assert all(limiter.acquire("::ffff:198.51.100.4") is None for _ in range(3))
    assert limiter.acquire("198.51.100.4") == 20  # IPv4-mapped: the IPv4 address's budget
    assert all(limiter.acquire("::ffff:127.0.0.1") is None for _ in range(5))  # loopback


def test_the_page_asks_plaid_for_nothing_until_link_opens(
    settings: settings_module.Settings, bridge: str, http: httpx.Client, emulator_url: str
) -> None:
    """A page that is only fetched costs no Plaid call: the Link token comes from
    POST /api/link_token, which the page's script calls when it opens Link."""
    faults.inject(emulator_url, "/link/token/create", error_code="INTERNAL_SERVER_ERROR", count=3)
    try:
        page = http.get(bridge + "/?" + authorize_query(settings))
    finally:
        faults.clear(emulator_url)
    assert page.status_code == 200, page.text
    assert "link-sandbox-" not in page.text
    session = re.search(r'data-session="([^"]+)"', page.text).group(1)
    assert one(settings, "SELECT link_tokens FROM sessions") == 0
    asked = http.post(bridge + "/api/link_token", json={"session": session})
    assert asked.status_code == 200, asked.text
    assert asked.json()["link_token"].startswith("link-sandbox-")
    done = complete(http, bridge, session, sandbox_public_token(settings))
    assert done.status_code == 200, done.text
    script = http.get(bridge + "/static/bridge.js").text
    assert '"/api/link_token"' in script


def test_the_json_answer_keeps_its_contract(
    settings: settings_module.Settings, bridge: str, http: httpx.Client
) -> None:
    response = start(http, bridge, settings)
    assert response.status_code == 200
    assert set(response.json()) == {"session", "link_token"}
    assert response.json()["link_token"].startswith("link-sandbox-")


@pytest.mark.usefixtures("store_backend")
def test_a_session_gets_a_few_link_tokens_at_most(
    settings: settings_module.Settings, http: httpx.Client
) -> None:
    settings = settings_module.load().with_values(plaid_api_url=settings.plaid_api_url)
    with running_bridge(settings) as url:
        session = new_session(http, url, settings)  # its first Link token
        asks = [
            http.post(url + "/api/link_token", json={"session": session})
            for _ in range(routes.LINK_TOKENS_PER_SESSION)
        ]
        unknown = http.post(url + "/api/link_token", json={"session": "x" * 43})
        as_text = http.post(
            url + "/api/link_token",
            content=json.dumps({"session": session}),
            headers={"Content-Type": "text/plain"},
        )
    assert [a.status_code for a in asks] == [200] * (routes.LINK_TOKENS_PER_SESSION - 1) + [429]
    assert asks[-1].json()["error"] == "too_many_link_tokens"
    assert "start the authorization again" in asks[-1].json()["fix"]
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_session"
    assert as_text.status_code == 415


@pytest.mark.usefixtures("store_backend")
def test_expired_sessions_are_deleted_by_the_sweep(
    settings: settings_module.Settings, http: httpx.Client
) -> None:
    settings = settings_module.load().with_values(plaid_api_url=settings.plaid_api_url)
    clock = FakeClock()
    app = create_app(settings, store=open_store(settings.bridge_store, clock=clock))
    with serve_in_thread(app, what="bridge") as url:
        for _ in range(3):
            http.get(url + "/?" + authorize_query(settings))  # HTML: no Link token
        clock.advance(SESSION_TTL + SESSION_RETENTION_SECONDS + 1)  # those 3 expired long ago
        live = new_session(http, url, settings)
        assert one(settings, "SELECT COUNT(*) FROM sessions") == 4
        app.state.sweep()
        assert one(settings, "SELECT COUNT(*) FROM sessions") == 1
        done = complete(http, url, live, sandbox_public_token(settings))
        assert done.status_code == 200, done.text


# 2. Hostile JSON is a 400, and the session stays usable.


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("field", ["session", "public_token", "extra"])
def test_deeply_nested_json_is_a_400_and_the_session_stays_usable(
    settings: settings_module.Settings, bridge: str, http: httpx.Client, field: str
) -> None:
    session = new_session(http, bridge, settings)
    fields = {"session": json.dumps(session), "public_token": '"public-sandbox-x"'}
    fields[field] = nested(5000)
    body = "{" + ", ".join(f'"{name}": {value}' for name, value in fields.items()) + "}"
    response = http.post(
        bridge + "/api/set_access_token",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    huge = http.post(
        bridge + "/api/set_access_token",
        content='{"session": ' + nested(100_000) + "}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code in (400, 413), huge.text
    retried = complete(http, bridge, session, sandbox_public_token(settings))
    assert retried.status_code == 200, retried.text


@pytest.mark.parametrize("where", ["public_token", "session", "extra", "name"])
def test_lone_surrogates_are_a_400_and_the_session_stays_usable(
    settings: settings_module.Settings, bridge: str, http: httpx.Client, where: str
) -> None:
    session = new_session(http, bridge, settings)
    fields = {"session": json.dumps(session), "public_token": '"public-sandbox-x"'}
    if where == "name":
        fields["\\ud800"] = '"x"'
    elif where == "extra":
        fields["extra"] = '"\\ud800"'
    elif where == "session":
        fields["session"] = json.dumps(session)[:-1] + '\\ud800"'
    else:
        fields["public_token"] = '"public-sandbox-\\ud800"'
    body = "{" + ", ".join(f'"{name}": {value}' for name, value in fields.items()) + "}"
    response = http.post(
        bridge + "/api/set_access_token",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    retried = complete(http, bridge, session, sandbox_public_token(settings))
    assert retried.status_code == 200, retried.text


class FailsOnce(PlaidLink):
    """A Plaid caller whose first exchange fails in a way nobody planned for."""

    failed = False

    async def exchange_async(self, public_token: str, session_id: str, checked: bool = False):
        if not self.failed:  # the routes' exchange (on the event loop)
            self.failed = True
            raise RuntimeError("an unforeseen failure")
        return await super().exchange_async(public_token, session_id, checked)


def test_an_unforeseen_failure_gives_the_session_back(
    settings: settings_module.Settings, http: httpx.Client
) -> None:
    app = create_app(settings, link=FailsOnce(settings))
    with serve_in_thread(app, what="bridge") as url:
        session = new_session(http, url, settings)
        with contextlib.suppress(httpx.HTTPError):
            complete(http, url, session, sandbox_public_token(settings))
        # uvicorn closes the connection after an unhandled error: retry as a browser
        # would, on a new one
        with httpx.Client(timeout=20) as fresh:
            retried = complete(fresh, url, session, sandbox_public_token(settings))
    assert retried.status_code == 200, retried.text


# 3. Only the page's own JSON is accepted.


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_bodies_a_cross_site_page_can_send_are_refused(
    settings: settings_module.Settings, bridge: str, http: httpx.Client, content_type: str
) -> None:
    session = new_session(http, bridge, settings)
    public_token = sandbox_public_token(settings)
    body = json.dumps({"session": session, "public_token": public_token})
    headers = {"Content-Type": content_type} if content_type else {}
    refused = http.post(bridge + "/api/set_access_token", content=body, headers=headers)
    assert refused.status_code == 415, refused.text
    assert refused.json()["error"] == "unsupported_media_type"
    assert "application/json" in refused.json()["fix"]
    accepted = http.post(
        bridge + "/api/set_access_token",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert accepted.status_code == 200, accepted.text
    assert set(query_of(accepted.json()["redirect_to"])) == {"code", "state"}


def test_the_page_sends_json() -> None:
    script = (Path(routes.__file__).parent.parent / "static" / "bridge.js").read_text()
    assert script.count('"Content-Type": "application/json"') == 1  # every call goes there


# 4. Absolute URLs never come from a forged Host.


def forged(url: str, settings: settings_module.Settings, http: httpx.Client) -> httpx.Response:
    return start(
        http,
        url,
        settings,
        Host="evil.example",
        **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )


def test_a_forged_host_does_not_reach_plaid(
    settings: settings_module.Settings, bridge: str, http: httpx.Client
) -> None:
    """The emulator, like Plaid, refuses a Link redirect URI that is not allowed: a bridge
    that built it from the forged Host would answer 502 here."""
    response = forged(bridge, settings, http)
    assert response.status_code == 200, response.text


def request_for(host: str, scheme: str = "http", server=("127.0.0.1", 8000), **headers: str):
    raw = [(b"host", host.encode())] + [
        (name.lower().replace("_", "-").encode(), value.encode()) for name, value in headers.items()
    ]
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "server": server,
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": raw,
    }
    return Request(scope)


def test_link_redirect_uri_uses_only_known_hosts(home: Path) -> None:
    embedded = settings_module.load()
    evil = request_for("evil.example", "https", x_forwarded_host="evil.example")
    assert routes.link_redirect_uri(embedded, evil) == "https://127.0.0.1:8000/oauth-return"
    own = request_for("localhost:8000")
    assert routes.link_redirect_uri(embedded, own) == "http://localhost:8000/oauth-return"
    sneaky = request_for("evil.example@127.0.0.1:8000")
    assert routes.link_redirect_uri(embedded, sneaky) == "http://127.0.0.1:8000/oauth-return"

    public = embedded.with_values(bridge_public_url="https://bridge.example.com")
    assert routes.link_redirect_uri(public, evil) == "https://bridge.example.com/oauth-return"
    reached = request_for("bridge.example.com", "https")
    assert routes.link_redirect_uri(public, reached) == "https://bridge.example.com/oauth-return"
    wrong_port = request_for("bridge.example.com:8443", "https")
    assert routes.link_redirect_uri(public, wrong_port) == "https://bridge.example.com/oauth-return"

    tunnel_state.write(
        home, tunnel_state.TunnelInfo("https://kp-1.ngrok.app", local=False, port=8000)
    )
    via_tunnel = request_for("kp-1.ngrok.app", "https")
    assert routes.link_redirect_uri(embedded, via_tunnel) == "https://kp-1.ngrok.app/oauth-return"
    assert routes.link_redirect_uri(embedded, evil) == "https://kp-1.ngrok.app/oauth-return"
    tunnel_state.clear(home)

    live = embedded.with_values(plaid_client_id="0" * 24, plaid_secret="1" * 30)
    assert routes.link_redirect_uri(live, request_for("evil.example")) is None
    configured = live.with_values(link_redirect_uri="https://bridge.example.com/oauth-return")
    assert routes.link_redirect_uri(configured, evil) == "https://bridge.example.com/oauth-return"


def test_bridge_public_url_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://bridge.example.com/")
    assert settings_module.load().bridge_public_url == "https://bridge.example.com"
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "bridge.example.com/path")
    with pytest.raises(settings_module.SettingsError, match="BRIDGE_PUBLIC_URL"):
        settings_module.load()
