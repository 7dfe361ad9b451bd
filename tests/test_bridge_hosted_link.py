"""LINK_MODE=hosted over HTTP: a real bridge and the Plaid emulator's Hosted Link. The
Authorization URL sends the browser to Plaid's hosted_link_url; Plaid's SESSION_FINISHED
webhook or the browser's return (``/link/token/get``), whichever comes first, gives the
public token; the return goes on to Kore's callback with one code that redeems for the Item.
A return before Plaid finished waits on a self-reloading page. EXITED (or no bank) is
access_denied and closes the session for good; JSON callers and LINK_MODE=page are
unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from bridge_support import authorize_query, exchange, query_of, record_completion_uris
from cryptography.hazmat.primitives.asymmetric import ec
from http_support import TLS
from plaid.model.accounts_get_request import AccountsGetRequest
from store_inspect import hosted_results, one, rows, stored_link_tokens
from webhook_signing import new_key, sign

from kore_plaid_nb import plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.hosted_link import RETURN_PATH, new_hosted_session, session_id_for
from kore_plaid_nb.bridge.plaid_async import AsyncPlaid
from kore_plaid_nb.bridge.plaid_link import PlaidLink
from kore_plaid_nb.bridge.store import migrations, open_store
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.serving import serve_in_thread

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql"),
]

TEST_KID = "hosted-test-kid"


@dataclass
class Hosted:
    url: str
    settings: settings_module.Settings
    http: httpx.Client
    emulator: str
    gate: threading.Event  # closed: the emulator's webhooks wait at the bridge
    private: ec.EllipticCurvePrivateKey  # signs the test's own webhooks (kid TEST_KID)
    completions: list[str] = field(default_factory=list)  # completion_redirect_uri sent

    def start(self, state: str = "st-1") -> str:
        """The browser opens the Authorization URL; returns Plaid's hosted_link_url."""
        answer = self.http.get(self.url + "/?" + authorize_query(self.settings, state))
        assert answer.status_code == 303, answer.text
        assert answer.headers["cache-control"] == "no-store"
        return answer.headers["location"]

    def log_in(self, hosted_url: str) -> str:
        """The user connects Platypus Bank on the hosted page; returns where Plaid sends the
        browser (the completion_redirect_uri)."""
        form = self.http.get(hosted_url)
        assert form.status_code == 200, form.text
        link_session_id = re.search(r'name="link_session_id" value="([^"]+)"', form.text)
        assert link_session_id is not None
        done = self.http.post(
            hosted_url,
            data={
                "link_session_id": link_session_id.group(1),
                "institution_id": "ins_109508",
                "username": "user_good",
                "password": "pass_good",
            },
        )
        assert done.status_code == 303, done.text
        return done.headers["location"]

    def deliveries(self, code: str) -> list[dict]:
        """The emulator's attempts to deliver ``LINK <code>`` to this bridge (after waiting)."""
        report = wait_for_deliveries(self.emulator, self.settings.client_id, self.settings.secret)
        return [
            d
            for d in report["deliveries"]
            if d["url"] == self.url + "/plaid/webhook" and d["webhook_code"] == code
        ]

    def link_token(self) -> str:
        [link_token] = stored_link_tokens(self.settings)
        return link_token

    def codes(self) -> int:
        return int(one(self.settings, "SELECT COUNT(*) FROM codes"))

    def redeem(self, code: str) -> str:
        """Kore's token request; returns the Item's access token after checking it works."""
        token = exchange(self.http, self.url, self.settings, code)
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]
        api = plaid_client.create(self.settings)
        accounts = api.accounts_get(AccountsGetRequest(access_token=access_token)).accounts
        assert any(a.name == "Plaid Checking" for a in accounts)
        return access_token


def signed_webhook(hosted: Hosted, payload: dict) -> httpx.Response:
    body = json.dumps(payload, indent=2).encode()
    signature = sign(body, hosted.private, kid=TEST_KID)
    headers = {"Content-Type": "application/json", "Plaid-Verification": signature}
    return hosted.http.post(hosted.url + "/plaid/webhook", content=body, headers=headers)


@pytest.fixture
def hosted(
    home: Path, emulator_url: str, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Hosted]:
    """A LINK_MODE=hosted bridge; webhook keys are the emulator's (behind ``gate``) and the
    test's own ``TEST_KID``; every completion_redirect_uri it sends Plaid is recorded."""
    settings = settings_module.load().with_values(plaid_api_url=emulator_url, link_mode="hosted")
    plaid = PlaidLink(settings)
    private, jwk = new_key(TEST_KID)
    gate = threading.Event()
    gate.set()

    def keys(kid: str) -> dict | None:
        if kid == TEST_KID:
            return jwk
        gate.wait(20)
        return plaid.webhook_verification_key(kid)

    completions = record_completion_uris(monkeypatch)
    app = create_app(settings, webhook_keys=keys)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(app, what="bridge"))
        http = stack.enter_context(httpx.Client(timeout=20, verify=TLS))
        yield Hosted(url, settings, http, emulator_url, gate, private, completions)
        gate.set()
    faults.clear(emulator_url)


# --------------------------------------------------------------------------- the way out


@pytest.mark.backends("sqlite")
def test_authorization_url_sends_the_browser_to_plaids_hosted_link(hosted: Hosted) -> None:
    location = hosted.start()
    assert location.startswith(hosted.emulator + "/hosted-link/")

    # Plaid comes back to the bridge with a return id of its own, not the session id.
    [completion] = hosted.completions
    assert completion.startswith(hosted.url + RETURN_PATH + "?return_id=")
    return_id = query_of(completion)["return_id"]
    assert list(query_of(completion)) == ["return_id"]
    sessions = [r[0] for r in rows(hosted.settings, "SELECT digest FROM sessions")]
    assert len(sessions) == 1 and hashlib.sha256(return_id.encode()).hexdigest() not in sessions

    # The Link token stored with the session reports to the bridge's webhook; Hosted Link
    # does the OAuth redirects itself (no redirect_uri).
    api = plaid_client.create(hosted.settings)
    metadata = plaid_client.link_token_get(api, hosted.link_token())["metadata"]
    assert metadata["webhook"] == hosted.url + "/plaid/webhook"
    assert metadata["redirect_uri"] is None


def test_webhook_first_then_return_gives_kore_one_code_that_redeems(hosted: Hosted) -> None:
    back = hosted.log_in(hosted.start(state="wh-first"))
    [finished] = hosted.deliveries("SESSION_FINISHED")
    assert finished["status_code"] == 200
    status, public_token = hosted_results(hosted.settings, hosted.link_token())[0]
    assert status == "SUCCESS" and public_token.startswith("public-sandbox-")

    # The recorded token is used: Plaid's /link/token/get is not even needed.
    faults.inject(hosted.emulator, "/link/token/get", error_code="INTERNAL_SERVER_ERROR", count=5)
    answer = hosted.http.get(back)
    assert answer.status_code == 303, answer.text
    kore = answer.headers["location"]
    assert kore.startswith(hosted.settings.simulator_callback + "?")
    query = query_of(kore)
    assert query["state"] == "wh-first" and query["code"] and "error" not in query
    assert hosted.codes() == 1
    assert hosted_results(hosted.settings, hosted.link_token())[0][1] is None
    hosted.redeem(query["code"])

    again = hosted.http.get(back)  # a reload: the code was handed out once
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]
    assert "already completed" in again.text and query["code"] not in again.text
    assert hosted.codes() == 1


def test_return_first_then_late_webhook_gives_one_code(hosted: Hosted) -> None:
    hosted.gate.clear()  # the emulator's webhooks wait at the bridge
    back = hosted.log_in(hosted.start(state="ret-first"))
    answer = hosted.http.get(back)
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    assert query["state"] == "ret-first" and query["code"]

    hosted.gate.set()
    [finished] = hosted.deliveries("SESSION_FINISHED")
    assert finished["status_code"] == 200  # accepted, and changes nothing
    assert hosted_results(hosted.settings, hosted.link_token())[0] == (None, None)
    assert hosted.codes() == 1
    hosted.redeem(query["code"])


@pytest.mark.backends("sqlite")
def test_two_returns_at_once_issue_one_code(hosted: Hosted) -> None:
    hosted.gate.clear()
    back = hosted.log_in(hosted.start())
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: hosted.http.get(back), range(2)))
    hosted.gate.set()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303, 409], [a.text for a in answers]
    assert hosted.codes() == 1


@pytest.mark.backends("sqlite")
def test_exited_session_sends_kore_access_denied_with_state(hosted: Hosted) -> None:
    hosted.start(state="exited")
    payload = {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "status": "EXITED",
        "link_session_id": "ls-1",
        "link_token": hosted.link_token(),
        "public_tokens": [],
        "environment": "sandbox",
    }
    assert signed_webhook(hosted, payload).status_code == 200
    assert hosted_results(hosted.settings, hosted.link_token())[0] == ("EXITED", None)
    answer = hosted.http.get(hosted.completions[-1])
    assert answer.status_code == 303
    query = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(hosted.settings.simulator_callback + "?")
    assert query["error"] == "access_denied" and query["state"] == "exited"
    assert hosted.codes() == 0


def left_without_a_bank(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plaid's /link/token/get (as the bridge reads it) shows every Link session of the token
    that made no Item as finished: the user left Hosted Link without connecting a bank."""
    original = plaid_client.link_token_get

    def exited(*args: object, **kwargs: object) -> dict:
        answer = original(*args, **kwargs)
        for session in answer.get("link_sessions") or []:
            if not (session.get("results") or {}).get("item_add_results"):
                session["finished_at"] = session.get("finished_at") or session["started_at"]
        return answer

    monkeypatch.setattr(plaid_client, "link_token_get", exited)


@pytest.mark.backends("sqlite")
def test_return_without_a_bank_is_access_denied(
    hosted: Hosted, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosted_url = hosted.start(state="no-bank")
    assert hosted.http.get(hosted_url).status_code == 200  # opened, then left
    left_without_a_bank(monkeypatch)
    answer = hosted.http.get(hosted.completions[-1])
    assert answer.status_code == 303
    query = query_of(answer.headers["location"])
    assert query["error"] == "access_denied" and query["state"] == "no-bank"
    assert hosted.codes() == 0


@pytest.mark.backends("sqlite")
def test_a_return_before_plaid_finished_waits_then_gives_kore_a_code(hosted: Hosted) -> None:
    hosted.gate.clear()  # no SESSION_FINISHED either: only /link/token/get can tell
    hosted_url = hosted.start(state="early")
    assert hosted.http.get(hosted_url).status_code == 200  # Link opened, not finished yet
    back = hosted.completions[-1]

    early = hosted.http.get(back)
    assert early.status_code == 202, early.text
    assert "text/html" in early.headers["content-type"]
    assert early.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in early.headers["content-security-policy"]
    assert "Finishing your bank connection" in early.text
    assert '<meta http-equiv="refresh" content="2">' in early.text
    link = re.search(r'<a [^>]*href="([^"]+)">', early.text)
    assert link is not None and hosted.url + link.group(1).replace("&amp;", "&") == back
    assert "error" not in early.text.lower() and hosted.codes() == 0

    hosted.log_in(hosted_url)  # the user finishes at Plaid; the page reloads itself
    answer = hosted.http.get(back)
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    assert query["state"] == "early" and query["code"] and "error" not in query
    assert hosted.codes() == 1
    hosted.gate.set()
    hosted.redeem(query["code"])


@pytest.mark.backends("sqlite")
def test_a_session_refused_with_access_denied_never_issues_a_code(
    hosted: Hosted, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosted_url = hosted.start(state="refused")
    assert hosted.http.get(hosted_url).status_code == 200
    back = hosted.completions[-1]
    with monkeypatch.context() as plaid_says_exited:
        left_without_a_bank(plaid_says_exited)
        denied = hosted.http.get(back)
    assert denied.status_code == 303
    assert query_of(denied.headers["location"])["error"] == "access_denied"

    # The user connects a bank after all: Plaid's SESSION_FINISHED comes, then a reload.
    hosted.log_in(hosted_url)
    [finished] = hosted.deliveries("SESSION_FINISHED")
    assert finished["status_code"] == 200  # accepted, and changes nothing
    assert hosted_results(hosted.settings, hosted.link_token())[0] == (None, None)
    again = hosted.http.get(back)
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]
    assert "already completed" in again.text
    assert hosted.codes() == 0


@pytest.mark.backends("sqlite")
def test_a_reload_after_exited_is_409_not_a_second_answer(hosted: Hosted) -> None:
    hosted.start(state="exited-twice")
    payload = {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "status": "EXITED",
        "link_token": hosted.link_token(),
        "public_tokens": [],
    }
    assert signed_webhook(hosted, payload).status_code == 200
    first = hosted.http.get(hosted.completions[-1])
    assert first.status_code == 303
    assert query_of(first.headers["location"])["error"] == "access_denied"
    again = hosted.http.get(hosted.completions[-1])
    assert again.status_code == 409 and "already completed" in again.text
    assert hosted.codes() == 0


@pytest.mark.backends("sqlite")
def test_webhook_for_an_unknown_link_token_changes_nothing(hosted: Hosted) -> None:
    back = hosted.log_in(hosted.start())
    payload = {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "status": "EXITED",
        "link_token": "link-sandbox-not-ours",
        "public_tokens": [],
    }
    assert signed_webhook(hosted, payload).status_code == 200
    assert hosted.http.get(back).status_code == 303  # the real session still completes
    assert hosted.codes() == 1


@pytest.mark.backends("sqlite")
def test_unknown_or_missing_return_id_is_a_readable_400(hosted: Hosted) -> None:
    for path in (RETURN_PATH + "?return_id=forged", RETURN_PATH):
        answer = hosted.http.get(hosted.url + path)
        assert answer.status_code == 400
        assert "text/html" in answer.headers["content-type"]
        assert "start the authorization again" in answer.text


@pytest.mark.backends("sqlite")
def test_an_expired_hosted_session_says_so(hosted: Hosted) -> None:
    from store_inspect import change

    hosted.start()
    change(hosted.settings, "UPDATE sessions SET expires_at = ?", (time.time() - 1,))
    answer = hosted.http.get(hosted.completions[-1])
    assert answer.status_code == 400 and "expired" in answer.text


@pytest.mark.backends("sqlite")
def test_plaid_without_hosted_link_is_a_readable_error(
    hosted: Hosted, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = AsyncPlaid.call_json  # the bridge's Link tokens come from its hot path

    async def without_url(self: AsyncPlaid, path: str, body: Any) -> dict:
        answer = dict(await original(self, path, body))
        answer.pop("hosted_link_url", None)
        return answer

    monkeypatch.setattr(AsyncPlaid, "call_json", without_url)
    answer = hosted.http.get(hosted.url + "/?" + authorize_query(hosted.settings))
    assert answer.status_code == 502 and "text/html" in answer.headers["content-type"]
    assert "Hosted Link is not enabled" in answer.text and "LINK_MODE=page" in answer.text


# --------------------------------------------------------------------------- unchanged


@pytest.mark.backends("sqlite")
def test_json_callers_and_page_mode_are_unchanged(hosted: Hosted) -> None:
    answer = hosted.http.get(
        hosted.url + "/?" + authorize_query(hosted.settings),
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200
    assert set(answer.json()) == {"session", "link_token"}
    assert hosted.completions == []  # no Hosted Link for a JSON caller

    page_mode = hosted.settings.with_values(link_mode="page")
    with serve_in_thread(create_app(page_mode), what="bridge") as url:
        page = hosted.http.get(url + "/?" + authorize_query(page_mode))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'data-mode="authorize"' in page.text
    assert urlsplit(url).netloc not in "".join(hosted.completions)


# --------------------------------------------------------------------------- schema v5


def test_a_version_4_store_is_migrated_to_version_5(
    home: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_module.load()
    session = secrets.token_urlsafe(32)
    with monkeypatch.context() as old:
        old.setattr(migrations, "LATEST", 4)
        store = open_store(settings.bridge_store, pool_size=1)
        assert store.schema_versions == (0, 4)
        store.create_session(session, "client", "http://127.0.0.1/cb", "state=s", 1800)
        store.close()
    store = open_store(settings.bridge_store, pool_size=1)
    try:
        assert store.schema_versions == (4, migrations.LATEST)
        assert rows(settings, "SELECT link_token, hosted_return, hosted_status FROM sessions") == [
            (None, None, None)
        ]
        assert store.claim_session(session).problem is None  # a page session goes on as before
        new = new_hosted_session()
        store.create_hosted_session(
            new.session_id, "client", "http://127.0.0.1/cb", "state=h", 1800, "link-x",
            new.return_id, new.salt,
        )  # fmt: skip
        assert store.record_hosted_result("link-x", "SUCCESS", "public-sandbox-x") is True
        assert store.record_hosted_result("link-x", "EXITED", None) is False  # the first counts
        found = store.find_hosted_session(new.return_id)
        assert found is not None and found.public_token == "public-sandbox-x"
        assert session_id_for(new.return_id, found.salt) == new.session_id
        assert store.claim_session(new.session_id).problem is None
    finally:
        store.close()
