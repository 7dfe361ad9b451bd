"""The end user's pages in the user's language (issue 27): every page in every language has
``<html lang>``, ``Content-Language``, its heading translated and no English text left (the
English rendering is the reference); the language reaches Plaid Link (the emulator's
``/link/token/get`` shows it) and stays with the session across the OAuth bank's return,
Hosted Link and the repair page; malformed language values give English, never an error."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from bridge_support import Bridge, authorize_query, exchange, query_of, record_completion_uris
from store_inspect import one

from kore_plaid_nb import plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app, page
from kore_plaid_nb.bridge.i18n import LANGUAGES, using_language
from kore_plaid_nb.bridge.i18n.cookie import COOKIE
from kore_plaid_nb.bridge.problems import Problem
from kore_plaid_nb.bridge.store import ItemRecord, digest, migrations, open_store
from kore_plaid_nb.serving import serve_in_thread

TRANSLATED = [language for language in LANGUAGES if language != "en"]
ALLOWED_SAME = {"Kore.ai", "Plaid", "127.0.0.1", "-"}  # names, hosts: the same in every language


class Texts(HTMLParser):
    """The visible text nodes of a page, its ``<html lang>``, ``<h1>`` and kp-strings JSON."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = ""
        self.nodes: list[str] = []
        self.h1 = ""
        self.strings: dict[str, str] | None = None
        self._in: list[str] = []
        self._json = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        self._json = tag == "script" and dict(attrs).get("id") == "kp-strings"
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()
        self._json = False

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if self._json:
            self.strings = json.loads(data)
        elif text and not (self._in and self._in[-1] in ("script", "style", "code")):
            self.nodes.append(text)
            if self._in and self._in[-1] == "h1":
                self.h1 = text


def rendered(language: str) -> dict[str, str]:
    """Every page, rendered in ``language`` (the page module, as the routes call it)."""
    settings = settings_module.load()
    with using_language(language):
        refusal = Problem.SESSION_UNKNOWN.refusal()  # an error page (its texts: L2's catalog)
        return {
            "authorize": page.authorize_page(
                settings, "s", "http://127.0.0.1/cb?error=x", "http://127.0.0.1/cb"
            ).body.decode(),  # fmt: skip
            "oauth-return": page.oauth_return_page(settings).body.decode(),
            "repair": page.repair_page(settings, "t" * 43).body.decode(),
            "finishing": page.finishing_page("/hosted-link/return?return_id=r", 3).body.decode(),
            "error": bytes(refusal.page().body).decode(),
        }


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_page_is_in_the_language_with_no_english_left(home: Path, language: str) -> None:
    english, translated = rendered("en"), rendered(language)
    for name, html in translated.items():
        reference, texts = Texts(english[name]), Texts(html)
        assert reference.lang == "en" and texts.lang == language, name
        assert texts.h1 and texts.h1 != reference.h1, (name, texts.h1)
        left = set(texts.nodes) & set(reference.nodes) - ALLOWED_SAME
        assert not left, f"{name} in {language} still shows English: {left}"
        if texts.strings is not None:  # the script's texts: every one translated
            script = "repair.js" if name == "repair" else "bridge.js"
            assert set(texts.strings) == set(page.script_messages(script)), name
            assert all(texts.strings[m] != m for m in texts.strings), name
            assert Texts(english[name]).strings == {}  # English: the msgids themselves


def test_the_request_id_line_keeps_its_value_escaped(home: Path) -> None:
    with using_language("de"):
        body = page.error_page(400, "T", "M", "F", "<b>id</b>").body.decode()
    assert "Anfrage-ID: <code>&lt;b&gt;id&lt;/b&gt;</code>" in body


# -- through the bridge, against the Plaid emulator


def link_language(bridge: Bridge, link_token: str) -> str:
    """What Plaid (the emulator) recorded as the Link token's language."""
    api = plaid_client.create(bridge.settings)
    return str(plaid_client.link_token_get(api, link_token)["metadata"]["language"])


def open_page(bridge: Bridge, **extra: str) -> httpx.Response:
    query = authorize_query(bridge.settings, "st-" + secrets.token_hex(4), **extra)
    answer = bridge.http.get(bridge.url + "/?" + query, headers={"Accept": "text/html"})
    assert answer.status_code == 200, answer.text
    return answer


def session_of(answer: httpx.Response) -> str:
    found = re.search(r'data-session="([^"]+)"', answer.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(("asked", "link"), [("es", "es"), ("nl", "en"), ("de", "en")])
def test_the_language_reaches_plaid_link_when_plaid_offers_it_for_the_countries(
    bridge: Bridge, asked: str, link: str
) -> None:
    """PLAID_COUNTRY_CODES=US: Spanish fits (the assumption's table), Dutch and German not."""
    answer = open_page(bridge, ui_locales=f"{asked}-XX en")
    assert answer.headers["content-language"] == asked
    assert "Accept-Language" in answer.headers["vary"]
    assert Texts(answer.text).lang == asked
    # the page's script asks for the Link token later, from a browser that prefers English
    token = bridge.post("/api/link_token", json={"session": session_of(answer)},
                        headers={"Accept-Language": "en"})  # fmt: skip
    assert token.status_code == 200, token.text
    assert link_language(bridge, token.json()["link_token"]) == link


def test_a_json_caller_gets_its_link_token_in_the_negotiated_language(bridge: Bridge) -> None:
    query = authorize_query(bridge.settings, "st-json")
    answer = bridge.http.get(
        bridge.url + "/?" + query,
        headers={"Accept": "application/json", "Accept-Language": "fr;q=0.4, es-MX;q=0.8"},
    )
    assert answer.status_code == 200, answer.text
    assert link_language(bridge, answer.json()["link_token"]) == "es"


@pytest.mark.parametrize(
    ("ui_locales", "accept"),
    [("%%%", "de;q=x"), ("\u00e9\u00e9 <x>", ";;;"), ("es;q=1", "*"), ("a" * 600, "q=1")],
)
def test_malformed_languages_give_english_not_an_error(
    bridge: Bridge, ui_locales: str, accept: str
) -> None:
    query = authorize_query(bridge.settings, "st-bad", ui_locales=ui_locales)
    answer = bridge.http.get(
        bridge.url + "/?" + query, headers={"Accept": "text/html", "Accept-Language": accept}
    )
    assert answer.status_code == 200, answer.text
    assert Texts(answer.text).lang == "en" and answer.headers["content-language"] == "en"
    assert "Kore.ai bot wants to connect to your bank through Plaid" in answer.text


def test_the_oauth_return_speaks_the_authorizations_language(bridge: Bridge) -> None:
    answer = open_page(bridge, ui_locales="de")
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE}=de" in cookie and "Path=/oauth-return" in cookie and "HttpOnly" in cookie
    # the bank sends the browser back: no session in the URL, an English browser
    back = bridge.http.get(
        bridge.url + "/oauth-return?oauth_state_id=abc", headers={"Accept-Language": "en"}
    )
    assert back.status_code == 200
    assert Texts(back.text).lang == "de" and back.headers["content-language"] == "de"
    assert "Die Verbindung zu Ihrer Bank wird abgeschlossen" in back.text
    # another browser (no cookie): its own language
    other = httpx.get(bridge.url + "/oauth-return", headers={"Accept-Language": "nl"})
    assert Texts(other.text).lang == "nl"


def test_an_error_page_speaks_the_browsers_language(bridge: Bridge) -> None:
    answer = bridge.http.get(
        bridge.url + "/no-such-page",
        headers={"Accept": "text/html", "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"},
    )
    assert answer.status_code == 404
    assert Texts(answer.text).lang == "fr" and answer.headers["content-language"] == "fr"
    assert "Identifiant de la requête" in answer.text


@pytest.mark.bridge(item_webhooks=True)
def test_the_repair_page_speaks_the_language_of_the_authorization(bridge: Bridge) -> None:
    callback = bridge.link(state="st-es", ui_locales="es")
    token = exchange(bridge.http, bridge.url, bridge.settings, callback["code"])
    assert token.status_code == 200, token.text
    access_token = token.json()["access_token"]
    assert one(bridge.settings, "SELECT language FROM items") == "es"
    repair = bridge.break_login(access_token)

    # a German browser opens the link: the Item's language (Spanish) wins
    shown = bridge.http.get(f"{bridge.url}/repair/{repair}", headers={"Accept-Language": "de"})
    assert shown.status_code == 200
    assert Texts(shown.text).lang == "es"
    assert "Vuelva a conectar su banco al bot de Kore.ai" in shown.text
    # unless the URL asks for another one
    asked = bridge.http.get(f"{bridge.url}/repair/{repair}?lang=fr")
    assert Texts(asked.text).lang == "fr"

    # Link in update mode: the page's language (it sends ?lang=), else the Item's
    issued = bridge.post(f"/repair/{repair}/link_token", json={},
                         headers={"Accept-Language": "de"})  # fmt: skip
    assert issued.status_code == 200, issued.text
    assert link_language(bridge, issued.json()["link_token"]) == "es"
    again = bridge.post(f"/repair/{repair}/link_token?lang=en", json={})
    assert link_language(bridge, again.json()["link_token"]) == "en"


def test_the_emulator_refuses_a_language_plaid_does_not_list(emulator_url: str) -> None:
    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    api = plaid_client.create(settings)
    body = {"client_name": "x", "language": "xx", "country_codes": ["US"],
            "user": {"client_user_id": "u"}, "products": ["transactions"]}  # fmt: skip
    with pytest.raises(Exception) as caught:
        plaid_client.call_json(api, "link_token_create", body)
    error = plaid_client.error_from_exception(caught.value)
    assert error.error_code == "INVALID_FIELD" and "language" in error.error_message
    assert plaid_client.call_json(api, "link_token_create", {**body, "language": "nl"})


# -- Hosted Link


@contextlib.contextmanager
def hosted_bridge(emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """A LINK_MODE=hosted bridge; every completion_redirect_uri it sends Plaid is kept."""
    settings = settings_module.load().with_values(plaid_api_url=emulator_url, link_mode="hosted")
    completions = record_completion_uris(monkeypatch)
    with serve_in_thread(create_app(settings), what="bridge") as url, httpx.Client() as http:
        yield url, settings, http, completions


def test_hosted_link_gets_the_language_and_its_return_page_speaks_it(
    home: Path, emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hosted_bridge(emulator_url, monkeypatch) as (url, settings, http, completions):
        query = authorize_query(settings, "st-hosted", ui_locales="es-419")
        start = http.get(url + "/?" + query, headers={"Accept-Language": "de"})
        assert start.status_code == 303, start.text
        hosted_page = http.get(start.headers["location"])
        assert "Link language: es" in hosted_page.text  # Plaid was asked in Spanish
        [completion] = completions
        # back before Plaid finished: the "finishing" page, in the session's language
        waiting = http.get(completion, headers={"Accept-Language": "nl"})
        assert waiting.status_code == 202
        assert Texts(waiting.text).lang == "es"
        assert "Plaid todavía está finalizando la conexión con su banco" in waiting.text
        unknown = http.get(url + "/hosted-link/return?return_id=nope",
                           headers={"Accept-Language": "nl", "Accept": "text/html"})  # fmt: skip
        assert unknown.status_code >= 400 and Texts(unknown.text).lang == "nl"
        assert query_of(completion)["return_id"]


# -- the store: schema 11


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_version_10_store_is_migrated_and_keeps_the_language_per_session_and_item(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_module.load()
    old_session, session = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with monkeypatch.context() as old:
        old.setattr(migrations, "LATEST", 10)
        store = open_store(settings.bridge_store, pool_size=1)
        assert store.schema_versions == (0, 10)
        with store.db.transaction() as tx:  # a session written by a bridge of schema 10
            tx.execute(
                "INSERT INTO sessions (digest, client_id, redirect_uri, auth_query, created_at,"
                " expires_at) VALUES (?, 'c', 'http://127.0.0.1/cb', 'q', 0, 9e12)",
                (digest(old_session),),
            )
        store.close()
    store = open_store(settings.bridge_store, pool_size=1)
    try:
        assert store.schema_versions == (10, migrations.LATEST)
        assert store.grant_link_token(old_session, 5).language is None  # not recorded: None
        store.create_session(session, "c", "http://127.0.0.1/cb", "q", 60, language="nl")
        grant = store.grant_link_token(session, 5)
        assert grant.problem is None and grant.language == "nl"
        assert store.claim_session(session).problem is None
        item = ItemRecord("item-lang", "access-sandbox-lang", None, "u")
        store.save_authorization(session, item, "code", "c", "http://127.0.0.1/cb", None, None, 60)
        [status] = store.item_statuses()
        link = store.create_repair_link(status.ref)
        assert link is not None
        claim = store.peek_repair_link(link)
        assert claim.item is not None and claim.item.language == "nl"
    finally:
        store.close()
