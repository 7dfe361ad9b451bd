"""The Kore simulator, method by method, against the emulator and the bridge."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kore_plaid_nb import plaid_client, serving, settings
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.request_shapes import STANDIN_USER_AGENT, VERIFY_USER_AGENT
from kore_plaid_nb.kore.simulator import (
    DEFAULT_BEHAVIOUR,
    KORE_ACTIONS,
    KoreBehaviour,
    KoreFlowError,
    KoreSimulator,
    LinkResult,
    plaid_actions,
    token_environment,
)


@pytest.fixture
def sim(embedded: settings.Settings) -> Iterator[KoreSimulator]:
    with running_bridge(embedded) as url, KoreSimulator(embedded, url) as simulator:
        yield simulator


def test_authorization_request_carries_state_and_pkce_s256(embedded: settings.Settings) -> None:
    with KoreSimulator(embedded, "https://bridge.example.com/", use_pkce=True) as sim:
        first, second = sim.authorization_request(), sim.authorization_request()
    query = {k: v[0] for k, v in parse_qs(urlsplit(first.url).query).items()}

    assert first.url.startswith("https://bridge.example.com/?")
    assert query["response_type"] == "code"
    assert query["client_id"] == embedded.client_id
    assert query["redirect_uri"] == embedded.simulator_callback
    assert query["state"] == first.state != second.state
    digest = hashlib.sha256(first.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge_method"] == "S256"
    assert "code_challenge" not in sim.authorization_request(use_pkce=False).url


def test_the_whole_flow_method_by_method(sim: KoreSimulator) -> None:
    request = sim.authorization_request()
    session = sim.get_link_token(request)
    assert session.link_token.startswith("link-sandbox-")
    assert session.link_token not in str(session)

    link = sim.complete_link(session, sim.create_public_token())
    callback = sim.follow_redirect(link, request)
    assert callback.state_matches and callback.code

    tokens = sim.exchange_code_form_basic(request, callback.code)
    assert tokens.token_type.lower() == "bearer"
    assert token_environment(tokens.access_token) == "sandbox"
    assert "no-store" in tokens.cache_control
    assert tokens.access_token not in str(tokens) and tokens.access_token not in repr(tokens)

    refreshed = sim.refresh(tokens.refresh_token)
    assert refreshed.access_token == tokens.access_token

    summaries = {a.path: sim.call_plaid(a, tokens.access_token).summary for a in KORE_ACTIONS}
    assert summaries["/accounts/balance/get"].startswith("9 accounts")


def test_a_code_is_single_use(sim: KoreSimulator) -> None:
    request, code = sim.authorize()
    sim.exchange_code_form_basic(request, code)
    with pytest.raises(KoreFlowError, match="invalid_grant"):
        sim.exchange_code_form_basic(request, code)


def test_kore_json_style_without_grant_type(sim: KoreSimulator) -> None:
    request, code = sim.authorize(use_pkce=False)
    tokens = sim.exchange_code_json(code, request)
    assert tokens.style == "JSON {code}"
    assert tokens.close_window is True


def test_a_wrong_client_secret_at_the_token_url_names_steps_4_iii_iv(sim: KoreSimulator) -> None:
    request, code = sim.authorize()
    sim.client_secret = "not0the0secret0000000000000000"
    with pytest.raises(KoreFlowError) as caught:
        sim.exchange_code_form_basic(request, code)
    assert caught.value.step == "4.iii-iv / 9"
    assert "invalid_client" in caught.value.message


def test_a_wrong_plaid_secret_header_names_steps_4_iii_iv_and_9(sim: KoreSimulator) -> None:
    request, code = sim.authorize()
    access_token = sim.exchange_code_form_basic(request, code).access_token
    sim.client_secret = "not0the0secret0000000000000000"
    with pytest.raises(KoreFlowError) as caught:
        sim.call_plaid(KORE_ACTIONS[0], access_token)
    assert caught.value.step == "4.iii-iv / 9"
    assert "INVALID_API_KEYS" in caught.value.message


def test_a_changed_state_is_caught(sim: KoreSimulator) -> None:
    request = sim.authorization_request()
    link = sim.complete_link(sim.get_link_token(request), sim.create_public_token())
    tampered = link.redirect_to.replace(f"state={request.state}", "state=somebody-else")
    with pytest.raises(KoreFlowError, match="without the state Kore sent"):
        sim.follow_redirect(LinkResult(tampered), request)


def test_a_redirect_elsewhere_is_caught(sim: KoreSimulator) -> None:
    request = sim.authorization_request()
    elsewhere = replace(request, redirect_uri="http://127.0.0.1:1/other")
    with pytest.raises(KoreFlowError) as caught:
        sim.follow_redirect(LinkResult("http://127.0.0.1:1/workflows/callback?code=x"), elsewhere)
    assert caught.value.step == "4.v-vi"


@pytest.mark.parametrize(
    ("tenant", "token", "fragment"),
    [
        ("production", "access-sandbox-1", "belong to 'sandbox'"),
        ("development", None, "decommissioned"),
        ("sandbox", "access-production-1", "belong to 'production'"),
    ],
)
def test_the_tenant_must_be_the_keys_environment(
    embedded: settings.Settings, tenant: str, token: str | None, fragment: str
) -> None:
    with KoreSimulator(embedded, "http://127.0.0.1:1", tenant=tenant) as sim:
        with pytest.raises(KoreFlowError, match=fragment) as caught:
            sim.plaid_base_url(token)
    assert caught.value.step == "6"


def test_the_tenant_is_substituted_into_the_base_url() -> None:
    live = settings.Settings(plaid_client_id="a" * 24, plaid_secret="b" * 30)
    with KoreSimulator(live, "https://bridge.example.com") as sim:
        assert sim.plaid_base_url("access-sandbox-1") == "https://sandbox.plaid.com"
    embedded = settings.Settings(plaid_api_url="http://127.0.0.1:9")
    with KoreSimulator(embedded, "https://bridge.example.com") as sim:
        assert sim.plaid_base_url() == "http://127.0.0.1:9"


def test_product_calls_follow_plaid_products() -> None:
    paths = [a.path for a in plaid_actions(("auth", "identity", "investments", "liabilities"))]
    assert paths == [
        "/accounts/balance/get",
        "/investments/holdings/get",
        "/investments/transactions/get",
        "/liabilities/get",
        "/auth/get",
        "/identity/get",
    ]


def test_a_taken_callback_port_says_what_to_do(embedded: settings.Settings) -> None:
    with running_bridge(embedded) as url:
        holder = KoreSimulator(embedded, url)
        holder.start_callback_server()
        try:
            with KoreSimulator(embedded, url) as second, pytest.raises(KoreFlowError) as caught:
                second.start_callback_server()
        finally:
            holder.close()
    assert "KORE_SIMULATOR_PORT" in caught.value.fix


def test_embedded_mode_without_the_emulator_says_so() -> None:
    with KoreSimulator(settings.Settings(), "http://127.0.0.1:1") as sim:
        with pytest.raises(KoreFlowError, match="PLAID_API_URL"):
            sim.plaid_base_url()
        with pytest.raises(KoreFlowError, match="PLAID_API_URL"):
            sim.create_public_token()


def test_a_wrong_client_id_names_step_4_iii(sim: KoreSimulator) -> None:
    sim.client_id = "0" * 24
    with pytest.raises(KoreFlowError) as caught:
        sim.get_link_token(sim.authorization_request())
    assert caught.value.step == "4.iii"


@pytest.mark.parametrize(
    ("error_code", "needle"),
    [
        ("RATE_LIMIT", "Wait a minute"),
        ("INTERNAL_SERVER_ERROR", "run the check again"),
        ("ITEM_LOGIN_REQUIRED", "authorize again"),
    ],
)
def test_plaid_trouble_during_kore_calls_says_what_to_do(
    sim: KoreSimulator, emulator_url: str, error_code: str, needle: str
) -> None:
    from kore_plaid_nb.emulator import faults

    request, code = sim.authorize()
    token = sim.exchange_code_form_basic(request, code)
    faults.inject(emulator_url, "/accounts/balance/get", error_code=error_code)
    action = next(a for a in KORE_ACTIONS if a.path == "/accounts/balance/get")
    with pytest.raises(KoreFlowError) as info:
        sim.call_plaid(action, token.access_token)
    assert needle in info.value.fix
    assert token.access_token not in str(info.value)


# Each behaviour's requests on the wire, against a server that only records them.


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    basic: tuple[str, str] | None
    body: dict[str, str]


def seen_of(request: Request, raw: bytes) -> Seen:
    headers = {k.lower(): v for k, v in request.headers.items()}
    basic = None
    if headers.get("authorization", "").startswith("Basic "):
        user, _, password = base64.b64decode(headers["authorization"][6:]).decode().partition(":")
        basic = (user, password)
    kind = headers.get("content-type", "")
    body = json.loads(raw) if kind == "application/json" else dict(parse_qsl(raw.decode()))
    return Seen(request.method, request.url.path, dict(request.query_params), headers, basic, body)


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[str, list[Seen]]]:
    """A stand-in bridge that answers like one and keeps every request it got."""
    seen: list[Seen] = []

    async def authorize(request: Request) -> JSONResponse:
        seen.append(seen_of(request, await request.body()))
        return JSONResponse({"session": "s-1", "link_token": "link-sandbox-1"})

    async def token(request: Request) -> JSONResponse:
        seen.append(seen_of(request, await request.body()))
        answer = {
            "access_token": "access-sandbox-1",
            "refresh_token": "r-1",
            "token_type": "Bearer",
        }
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    app = Starlette(
        routes=[
            Route("/", authorize),
            Route("/api/send_the_access_token_AUTH", token, methods=["POST"]),
        ]
    )
    with serving.serve_in_thread(app, what="recorder") as url:
        yield url, seen


def play(
    recorder: tuple[str, list[Seen]], behaviour: KoreBehaviour, **kwargs: str
) -> tuple[Seen, Seen, Seen, str]:
    """Authorize, exchange a code and refresh as ``behaviour``: the three requests the
    recorder saw, and the code verifier (empty without PKCE)."""
    url, seen = recorder
    with KoreSimulator(settings.Settings(), url, behaviour=behaviour, **kwargs) as sim:
        request = sim.authorization_request()
        sim.get_link_token(request)
        sim.exchange_code(request, "the-code")
        sim.refresh("the-refresh-token")
    authorize, token, refresh = seen[-3:]
    return authorize, token, refresh, request.code_verifier or ""


@pytest.mark.parametrize("behaviour", KoreBehaviour.every(), ids=str)
def test_each_behaviour_on_the_wire(
    recorder: tuple[str, list[Seen]], behaviour: KoreBehaviour
) -> None:
    authorize, token, refresh, verifier = play(recorder, behaviour)
    client = settings.Settings()
    credentials = (client.client_id, client.secret)

    assert authorize.method == "GET" and authorize.path == "/"
    assert {"response_type", "client_id", "redirect_uri"} <= authorize.query.keys()
    assert ("state" in authorize.query) is behaviour.state
    if behaviour.pkce:
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert authorize.query["code_challenge"] == challenge
        assert authorize.query["code_challenge_method"] == "S256"
    else:
        assert "code_challenge" not in authorize.query and not verifier
    assert "client_secret" not in authorize.query

    media = "application/json" if behaviour.body == "json" else "application/x-www-form-urlencoded"
    in_basic = behaviour.credentials in ("basic", "both")
    in_body = behaviour.credentials in ("body", "both")
    for call in (token, refresh):
        assert call.method == "POST" and call.path == "/api/send_the_access_token_AUTH"
        assert call.headers["content-type"] == media
        assert call.basic == (credentials if in_basic else None)
        assert ("client_id" in call.body, "client_secret" in call.body) == (in_body, in_body)
        if in_body:
            assert (call.body["client_id"], call.body["client_secret"]) == credentials
    assert token.body["grant_type"] == "authorization_code"
    assert token.body["code"] == "the-code"
    assert token.body["redirect_uri"] == authorize.query["redirect_uri"]
    assert token.body.get("code_verifier", "") == verifier
    assert refresh.body["grant_type"] == "refresh_token"
    assert refresh.body["refresh_token"] == "the-refresh-token"
    assert "code" not in refresh.body
    for call in (authorize, token, refresh):
        assert call.headers["user-agent"] == VERIFY_USER_AGENT


def test_the_user_agent_is_the_callers(recorder: tuple[str, list[Seen]]) -> None:
    for call in play(recorder, DEFAULT_BEHAVIOUR, user_agent=STANDIN_USER_AGENT)[:3]:
        assert call.headers["user-agent"] == STANDIN_USER_AGENT


def test_the_default_kore_is_the_plainest(embedded: settings.Settings) -> None:
    assert DEFAULT_BEHAVIOUR == KoreBehaviour("basic", "form", state=True, pkce=False)
    with KoreSimulator(embedded, "https://bridge.example.com/") as sim:
        assert sim.behaviour == DEFAULT_BEHAVIOUR and not sim.use_pkce
        query = parse_qs(urlsplit(sim.authorization_request().url).query)
    assert "state" in query and "code_challenge" not in query
    with KoreSimulator(embedded, "https://bridge.example.com/", use_pkce=True) as sim:
        assert sim.behaviour == KoreBehaviour(pkce=True)


def test_without_state_the_code_alone_is_accepted(sim: KoreSimulator) -> None:
    sim.behaviour = KoreBehaviour("body", "json", state=False, pkce=True)
    request = sim.authorization_request()
    assert request.state is None and "state=" not in request.url
    link = sim.complete_link(sim.get_link_token(request), sim.create_public_token())
    assert "state=" not in link.redirect_to
    callback = sim.follow_redirect(link, request)
    assert callback.code and not callback.state_matches
    tokens = sim.exchange_code(request, callback.code)
    assert tokens.style == "json + body credentials"
    assert sim.refresh(tokens.refresh_token).access_token == tokens.access_token


def test_a_state_the_request_did_not_send_is_caught(sim: KoreSimulator) -> None:
    sim.behaviour = KoreBehaviour(state=False)
    request = sim.authorization_request()
    link = sim.complete_link(sim.get_link_token(request), sim.create_public_token())
    added = LinkResult(link.redirect_to + "&state=invented")
    with pytest.raises(KoreFlowError, match="sent no state, but the redirect carried one"):
        sim.follow_redirect(added, request)


def test_a_query_typed_into_the_authorization_url_is_kept_and_chooses_the_language(
    sim: KoreSimulator,
) -> None:
    """Kore's profile note (issue 27): end the Authorization URL with ?ui_locales=es; Kore
    keeps it before its own parameters (assumed) and the pages and Plaid Link speak Spanish."""
    request = sim.authorization_request(profile_query={"ui_locales": "es"})
    assert urlsplit(request.url).query.startswith("ui_locales=es&response_type=code&")
    page = httpx.get(request.url, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and '<html lang="es">' in page.text
    session = sim.get_link_token(request)
    answer = plaid_client.link_token_get(plaid_client.create(sim.settings), session.link_token)
    assert answer["metadata"]["language"] == "es", answer["metadata"]
