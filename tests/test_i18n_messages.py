"""The end user's messages in five languages (issue 27, domain ``messages``): every refusal an
end user can read (an error page, the browser API's ``message`` and ``fix``) is shown in the
request's language, its values (seconds, counts, Plaid's codes, a request id) kept, its
``error``, ``step`` and ``request_id`` unchanged; what machines read (Kore's token endpoint,
Plaid's webhook) and the logs stay English whatever the request's language."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator

import httpx
import pytest
from bridge_support import TOKEN_PATH, Bridge, OfflineLink, authorize_query
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from starlette.requests import Request

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import http, i18n
from kore_plaid_nb.bridge.hosted_link import RETURN_PATH
from kore_plaid_nb.bridge.plaid_link import CREATING, LinkStepError, PlaidLink, _told
from kore_plaid_nb.bridge.problems import Problem
from kore_plaid_nb.bridge.refusal import Phrase, Refusal, Refused
from kore_plaid_nb.bridge.routes import authorize, link_exit, repair, unrouted
from kore_plaid_nb.bridge.store import SessionClaim, StoreKeyError, StoreUnavailable
from kore_plaid_nb.plaid_errors import ADVICE, Caller, PlaidError, PlaidProblem
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

TRANSLATED = [language for language in i18n.LANGUAGES if language != "en"]
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
PAGE = {"Accept": "text/html", **GERMAN}
UNKNOWN_REPAIR = "/repair/" + "u" * 43  # the shape of a repair link's secret
REQUEST_ID = re.compile(r"\b[0-9a-f]{16}\b")
DURATION = re.compile(r"\d+(\.\d+)? ?ms\b")
JSON_BODY = {"content-type": "application/json"}
SESSION = re.compile(r'data-session="([^"]+)"')


# -- Every user-facing refusal, rendered in each language


def browser_request(method: str = "GET") -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/nowhere",
        "query_string": b"",
        "headers": [(b"accept", b"text/html")],
    }
    return Request(scope)


def parse_refusal(body: bytes) -> Refusal:
    with pytest.raises(Refused) as refused:
        http.parse_params(body, http.JSON_MEDIA_TYPE)
    return refused.value.refusal


def plaid_refusals() -> dict[str, Refusal]:
    """The bridge's words for every Plaid problem, with values a test can look for."""
    err = PlaidError(503, "API_ERROR", "INTERNAL_SERVER_ERROR", "Plaid's own words 7Q")
    fields = {
        "during": Phrase(CREATING),
        "host": "plaid.host.test",
        "redirect_uri": "https://r.test/cb",
    }
    return {
        f"plaid {problem.name}": _told(problem, err, dict(fields)).refusal
        for problem, row in ADVICE.items()
        if Caller.BRIDGE in row
    }


def user_facing_refusals(settings: Settings) -> dict[str, Refusal]:
    """Every refusal an end user can read: problems, the Authorization URL's, the pages'
    API calls', the repair page's, the store's and a programming error's, unknown
    addresses, Plaid's failures."""
    refusals = {f"problem {p.name}": p.refusal() for p in Problem}
    fatal = {
        "client id": oauth_errors.InvalidClientIdError(),
        "no client id": oauth_errors.MissingClientIdError(),
        "no redirect uri": oauth_errors.MissingRedirectURIError(),
        "other redirect uri": oauth_errors.MismatchingRedirectURIError(),
        "other": oauth_errors.FatalClientError(description="oauthlib says 3X"),
    }
    refusals.update({f"fatal {n}": authorize.explain_fatal(e) for n, e in fatal.items()})
    spent = PlaidLink(settings)
    spent.spent.mark_public_token_spent("public-sandbox-spent")
    with pytest.raises(LinkStepError) as already_sent:
        spent.exchange("public-sandbox-spent", "session")
    refusals.update(
        {
            "missing session": authorize.MISSING_SESSION,
            "missing token": authorize.MISSING_TOKEN,
            "too many sessions": authorize.too_many_sessions(17),
            "malformed exit": link_exit.MALFORMED_EXIT,
            "not json": http.NOT_JSON,
            "not an object": parse_refusal(b"[1]"),
            "not json text": parse_refusal(b"{"),
            "nested": parse_refusal(b"[" * 100_000),
            "not a string": parse_refusal(b'{"zz9": [1]}'),
            "store down": http.store_unavailable_refusal(StoreUnavailable("down")),
            "store key": http.store_unavailable_refusal(StoreKeyError("no key")),
            "server error": http.server_error("0123456789abcdef"),
            "not this link": repair.NOT_THIS_LINK,
            "not logged in": repair.NOT_LOGGED_IN,
            "not found": unrouted.not_found_refusal(browser_request()),
            "not a page": unrouted.method_refusal(browser_request("POST"), Exception()),
            "already sent": already_sent.value.refusal,
            **plaid_refusals(),
        }
    )
    return refusals


@pytest.fixture
def settings(home: object) -> Settings:
    return settings_module.load()


@pytest.fixture
def refusals(settings: Settings) -> dict[str, Refusal]:
    return user_facing_refusals(settings)


def shown_values(refusal: Refusal) -> list[str]:
    return [str(v) for v in refusal.values.values() if not isinstance(v, Phrase) and str(v)]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_user_facing_refusal_is_translated_with_its_values_kept(
    refusals: dict[str, Refusal], language: str
) -> None:
    assert len(refusals) > 40
    for name, refusal in refusals.items():
        english = refusal.english
        with i18n.using_language(language):
            said = refusal.words()
            body = refusal.body()
        for part, text, original in zip(said._fields, said, english, strict=True):
            assert text != original, (language, name, part, text)
            assert "%(" not in text, (language, name, part, text)
            for value in shown_values(refusal):  # a count, a code, Plaid's words, a host
                assert (value in text) == (value in original), (language, name, part, value)
        for phrase in (v for v in refusal.values.values() if isinstance(v, Phrase)):
            assert phrase not in said.message, (language, name)  # translated with its sentence
        assert body["message"] == said.message and body["fix"] == said.fix
        kept = {k: v for k, v in body.items() if k not in ("message", "fix")}
        assert kept == {k: v for k, v in refusal.body().items() if k not in ("message", "fix")}


def test_the_english_texts_are_the_ones_the_bridge_always_said(
    refusals: dict[str, Refusal],
) -> None:
    """English is the msgid with its values: no value is left unfilled, none is lost."""
    for name, refusal in refusals.items():
        for text in refusal.english:
            assert text and "%(" not in text, (name, text)
    assert refusals["too many sessions"].english.fix == (
        "Wait 17 seconds, then start the authorization again from Kore."
    )
    assert refusals["problem SESSION_EXHAUSTED"].english.message == (
        "This authorization page already opened Plaid Link 5 times."
    )
    assert refusals["not a string"].english.message == "Parameter 'zz9' must be a string."
    assert refusals["plaid UNREACHABLE"].english.message == (
        "The bridge could not reach Plaid at plaid.host.test while creating the Link token."
    )


def test_a_german_refusal_reads_naturally(refusals: dict[str, Refusal]) -> None:
    """Spot checks of whole sentences: the value and the phrase sit in German grammar."""
    with i18n.using_language("de"):
        assert refusals["too many sessions"].words().fix == (
            "Warten Sie 17 Sekunden und starten Sie die Autorisierung dann erneut in Kore."
        )
        assert refusals["plaid UNREACHABLE"].words().message == (
            "Die Bridge konnte Plaid unter plaid.host.test bei der Erstellung des Link-Tokens "
            "nicht erreichen."
        )
        assert refusals["problem REPAIR_UNKNOWN"].words().title == "Unbekannter Reparaturlink"
    with i18n.using_language("es"):
        assert refusals["problem SESSION_EXPIRED"].words().message == (
            "Esta página de autorización ha caducado (es válida durante 30 minutos)."
        )


def test_an_error_page_is_in_the_language_with_its_procedure_step(
    refusals: dict[str, Refusal],
) -> None:
    refusal = refusals["plaid KEYS"]
    assert refusal.step == "4.iii-iv"
    with i18n.using_language("fr"):
        text = refusal.page().body.decode()
    assert "Plaid n&#39;est pas disponible" in text or "Plaid n'est pas disponible" in text
    assert "(étape 4.iii-iv de la procédure)" in text
    assert "procedure step" not in text
    english = refusal.page().body.decode()
    assert "(procedure step 4.iii-iv)" in english


def test_the_exceptions_and_the_token_endpoint_body_stay_english(
    refusals: dict[str, Refusal],
) -> None:
    """What code reads of a refusal (str(exc), LinkStepError.message, logs) and RFC 6749's
    error_description are English in any language."""
    already_sent = refusals["already sent"]
    with i18n.using_language("nl"):
        failure = LinkStepError(already_sent)
        assert str(failure) == failure.message == already_sent.english.message
        assert failure.message.startswith("This bank login was already sent to Plaid")
        oauth = refusals["too many sessions"].oauth_json().body
        machine = refusals["store down"].json(translated=False).body
    assert b"Too many authorizations were started" in oauth and b"Wait 17 seconds" in oauth
    assert b"The bridge's database cannot answer right now." in machine


# -- Through the app: the request's language, machines in English, logs unchanged


@pytest.fixture
def app(settings: Settings) -> Iterator[Starlette]:
    app = create_app(settings)
    yield app
    app.state.store.close()


def create_app(settings: Settings) -> Starlette:
    from kore_plaid_nb.bridge.routes import create_app as create

    return create(settings, link=OfflineLink(settings))


@pytest.fixture
def client(app: Starlette) -> TestClient:
    return TestClient(app, raise_server_exceptions=True)


def token_answers(
    client: TestClient, settings: Settings, headers: dict[str, str]
) -> list[tuple[int, dict[str, object]]]:
    """Kore's token endpoint refusing: a bad code, no credentials, a body that is not JSON,
    a GET (405); each body without its request id."""
    credentials = (settings.client_id, settings.secret)
    data = {"grant_type": "authorization_code", "code": "not-a-code"}
    answers = [
        client.post(TOKEN_PATH, data=data, auth=credentials, headers=headers),
        client.post(TOKEN_PATH + "?ui_locales=de&lang=de", data=data, headers=headers),
        client.post(TOKEN_PATH, content=b"{", headers={**JSON_BODY, **headers}, auth=credentials),
        client.get(TOKEN_PATH, headers=headers),
    ]
    return [
        (a.status_code, {k: v for k, v in a.json().items() if k != "request_id"}) for a in answers
    ]


def test_the_token_endpoint_answers_english_whatever_the_language(
    client: TestClient, settings: Settings
) -> None:
    english = token_answers(client, settings, {})
    assert [status for status, _ in english] == [400, 401, 400, 405]
    assert english[2][1]["error_description"] == "The body is not valid JSON."
    assert token_answers(client, settings, GERMAN) == english
    assert token_answers(client, settings, {"Accept-Language": "fr, nl;q=0.5"}) == english


def test_the_token_endpoint_503_stays_english(
    client: TestClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object) -> None:
        raise StoreUnavailable("the database restarts")

    monkeypatch.setattr(app.state.oauth, "token_response", down)
    answer = client.post(
        TOKEN_PATH, data={"grant_type": "authorization_code", "code": "c"}, headers=GERMAN
    )
    assert answer.status_code == 503
    assert "database cannot answer" in answer.json()["error_description"]
    assert answer.json()["fix"] == "Retry in 5 seconds; nothing was half-done."


def test_plaids_webhook_is_answered_in_english(client: TestClient) -> None:
    english = client.post("/plaid/webhook", json={"webhook_type": "ITEM"})
    german = client.post("/plaid/webhook", json={"webhook_type": "ITEM"}, headers=GERMAN)
    assert german.status_code == english.status_code == 401
    assert german.json()["error"] == "invalid_webhook"
    assert (german.json()["message"], german.json()["fix"]) == (
        english.json()["message"],
        english.json()["fix"],
    )


def test_the_browser_api_answers_in_the_request_language(
    client: TestClient, settings: Settings
) -> None:
    started = client.get("/?" + authorize_query(settings), headers={"Accept": "application/json"})
    session = started.json()["session"]
    answer = client.post("/api/set_access_token", json={"session": session}, headers=GERMAN)
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "invalid_request"
    assert body["message"] == "Die Anfrage benötigt sowohl 'session' als auch 'public_token'."
    assert len(str(body["request_id"])) == 16
    unknown = client.post("/api/link_token", json={"session": "nope"}, headers=GERMAN).json()
    assert unknown["error"] == "invalid_session"
    assert unknown["message"] == "Die Bridge kennt diese Autorisierungssitzung nicht."


def failing_requests(
    client: TestClient, app: Starlette, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> list[int]:
    """Requests that log: a programming error (500), the store down (503), an unknown
    session; their statuses."""

    def broken(session_id: str) -> SessionClaim:
        raise TypeError("a programming error")

    def down(session_id: str) -> SessionClaim:
        raise StoreUnavailable("the database restarts")

    statuses = []
    for failure in (broken, down):
        monkeypatch.setattr(app.state.store, "claim_session", failure)
        answer = client.post(
            "/api/set_access_token", json={"session": "s", "public_token": "p"}, headers=headers
        )
        statuses.append(answer.status_code)
    statuses.append(
        client.get(UNKNOWN_REPAIR, headers={**headers, "Accept": "text/html"}).status_code
    )
    monkeypatch.undo()
    return statuses


def logged(record: logging.LogRecord) -> str:
    return DURATION.sub("<ms>", REQUEST_ID.sub("<id>", record.getMessage()))


def test_the_logs_do_not_change_language(
    client: TestClient,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    assert failing_requests(client, app, monkeypatch, {}) == [500, 503, 404]
    english = [logged(r) for r in caplog.records]
    caplog.clear()
    assert failing_requests(client, app, monkeypatch, GERMAN) == [500, 503, 404]
    german = [logged(r) for r in caplog.records]
    assert german == english and any("store unavailable" in line for line in english)


# -- End to end: a German browser on the served bridge (uvicorn, the store, the middleware)


@pytest.mark.bridge(plaid="unreachable", fake_clock=True)
def test_a_german_browser_gets_german_error_pages_and_messages(bridge: Bridge) -> None:
    web = bridge.http
    repair_page = web.get(bridge.url + UNKNOWN_REPAIR, headers=PAGE)
    assert repair_page.status_code == 404
    assert '<html lang="de"' in repair_page.text
    assert "Unbekannter Reparaturlink" in repair_page.text
    assert "Dieser Reparaturlink stammt nicht von dieser Bridge" in repair_page.text
    assert "`kore-plaid items`" in repair_page.text or "kore-plaid items" in repair_page.text
    assert "Unknown repair link" not in repair_page.text

    returned = web.get(bridge.url + RETURN_PATH + "?return_id=unknown", headers=PAGE)
    assert returned.status_code == 400 and '<html lang="de"' in returned.text
    assert "Die Autorisierung kann nicht abgeschlossen werden" in returned.text
    assert "Die Bridge kennt diese Autorisierungssitzung nicht." in returned.text

    started = web.get(bridge.url + "/?" + authorize_query(bridge.settings), headers=PAGE)
    assert started.status_code == 200 and '<html lang="de"' in started.text
    [session] = SESSION.findall(started.text)
    assert bridge.clock is not None
    bridge.clock.advance(31 * 60)  # a session is valid for 30 minutes
    expired = web.post(bridge.url + "/api/link_token", json={"session": session}, headers=GERMAN)
    body = expired.json()
    assert (expired.status_code, body["error"]) == (400, "session_expired")
    assert (
        body["message"]
        == "Diese Autorisierungsseite ist abgelaufen (sie ist 30 Minuten lang gültig)."
    )
    assert body["fix"] == (
        "Kehren Sie zur Kore-Unterhaltung zurück und starten Sie die Autorisierung erneut."
    )
    assert REQUEST_ID.fullmatch(str(body["request_id"]))


@pytest.mark.bridge(plaid="unreachable")
def test_an_english_browser_still_gets_the_english_page(bridge: Bridge) -> None:
    answer = bridge.http.get(bridge.url + UNKNOWN_REPAIR, headers={"Accept": "text/html"})
    assert answer.status_code == 404 and '<html lang="en"' in answer.text
    assert "Unknown repair link" in answer.text
    spanish = httpx.get(
        bridge.url + UNKNOWN_REPAIR + "?lang=es", headers={"Accept": "text/html"}, timeout=20
    )
    assert "Enlace de reparación desconocido" in spanish.text


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_buttons_a_message_names_are_called_as_the_page_calls_them(language: str) -> None:
    """A fix that names a button quotes its label as the page shows it in that language."""
    with i18n.using_language(language):
        log_in_again = i18n.page_gettext("Log in to your bank again")
        connect = i18n.page_gettext("Connect a bank account")
        repair_fix = Problem.REPAIR_NOT_STARTED.refusal().words().fix
        not_logged_in = repair.NOT_LOGGED_IN.words().fix
        link_again = _told_login_required().words().fix
    assert log_in_again != "Log in to your bank again" and connect != "Connect a bank account"
    assert log_in_again in repair_fix and log_in_again in not_logged_in
    assert connect in link_again


def _told_login_required() -> Refusal:
    err = PlaidError(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", "login again")
    fields = {"during": Phrase(CREATING), "host": "h", "redirect_uri": ""}
    return _told(PlaidProblem.LOGIN_REQUIRED, err, fields).refusal
