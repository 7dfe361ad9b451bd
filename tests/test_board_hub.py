"""The board as a JupyterHub service, offline: a fake Hub API (a tiny Starlette app answering
``/hub/api/user`` and the OAuth endpoints as the Hub does) and JupyterHub's own ``HubOAuth``
pointed at it. Trainees post with their Hub token and the Hub names them; only members of the
trainers' group read the board or sign in to its page. tests/test_jupyterhub.py does the same
with a real Hub."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from kore_plaid_nb.board.app import SESSION_COOKIE, build_app
from kore_plaid_nb.board.hub import HubIdentity, hub_identity
from kore_plaid_nb.board.store import BoardStore
from kore_plaid_nb.progress.events import Event
from kore_plaid_nb.serving import serve_in_thread

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TRAINER_TOKEN = "trainer-token-for-tests-0123456789"
PREFIX = "/services/board/"
GROUP = "kore-plaid-trainers"
SERVICE_TOKEN = "service-board-api-token-0123456789"


@dataclass
class FakeHub:
    """Users, their tokens and groups; the OAuth codes it issued (with their PKCE challenge)."""

    users: dict[str, list[str]] = field(default_factory=dict)  # name -> groups
    tokens: dict[str, str] = field(default_factory=dict)  # token -> name
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (name, challenge)
    signed_in: str = ""  # who the browser is signed in to the Hub as
    down: bool = False

    def add_user(self, name: str, *groups: str) -> str:
        self.users[name] = list(groups)
        token = secrets.token_hex(16)
        self.tokens[token] = name
        return token

    async def user(self, request: Request) -> Response:
        if self.down:
            return JSONResponse({"message": "down"}, status_code=502)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        name = self.tokens.get(token.strip()) if scheme.lower() == "token" else None
        if name is None:
            return JSONResponse({"status": 403, "message": "Missing or invalid credentials."}, 403)
        model = {"kind": "user", "name": name, "groups": self.users[name], "scopes": []}
        return JSONResponse(model)

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        assert query["client_id"] == "service-board" and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_hex(8)
        self.codes[code] = (self.signed_in, query["code_challenge"])
        back = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        assert form["client_secret"] == [SERVICE_TOKEN]
        name, challenge = self.codes.pop(form["code"][0], ("", ""))
        digest = hashlib.sha256(form.get("code_verifier", [""])[0].encode()).digest()
        if not name or base64.urlsafe_b64encode(digest).decode().rstrip("=") != challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token = secrets.token_hex(16)
        self.tokens[token] = name
        return JSONResponse({"access_token": token, "token_type": "Bearer"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hub/api/user", self.user),
                Route("/hub/api/oauth2/authorize", self.authorize),
                Route("/hub/api/oauth2/token", self.token, methods=["POST"]),
            ]
        )


@dataclass
class Class:
    hub: FakeHub
    hub_url: str
    board: TestClient
    store: BoardStore


@pytest.fixture
def hub_class(tmp_path: Path) -> Iterator[Class]:
    from jupyterhub.services.auth import HubOAuth  # 0.8 s to import: not in every worker

    hub = FakeHub()
    with serve_in_thread(hub.app(), what="fake Hub") as url:
        auth = HubOAuth(
            api_url=f"{url}/hub/api",
            api_token=SERVICE_TOKEN,
            oauth_client_id="service-board",
            base_url=PREFIX,
            oauth_redirect_uri=f"{PREFIX}oauth_callback",
            oauth_authorization_url=f"{url}/hub/api/oauth2/authorize",
            cache_max_age=0,
        )
        store = BoardStore(tmp_path / "board.sqlite3")
        app = build_app(store, TRAINER_TOKEN, prefix=PREFIX, hub=HubIdentity(auth, GROUP))
        try:
            yield Class(hub, url, TestClient(app), store)
        finally:
            store.close()


def post(board: TestClient, token: str, *events: Event) -> httpx.Response:
    body = {"events": [e.as_dict() for e in events]}
    return board.post(
        f"{PREFIX}api/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def progress(board: TestClient, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return board.get(f"{PREFIX}api/progress", headers=headers)


def test_a_trainees_hub_token_posts_as_that_trainee_only(hub_class: Class) -> None:
    ada = hub_class.hub.add_user("ada")
    hub_class.hub.add_user("grace")
    answer = post(hub_class.board, ada, Event("grace", "00_start_here", "start", "pass"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["trainee"] == "ada"
    assert [e.trainee for e in hub_class.store.events("ada")] == ["ada"]
    assert hub_class.store.events("grace") == []
    assert (
        post(hub_class.board, "not-a-hub-token", Event("ada", "x", "y", "pass")).status_code == 401
    )


def test_only_the_trainers_group_reads_the_board(hub_class: Class) -> None:
    ada = hub_class.hub.add_user("ada")
    trainer = hub_class.hub.add_user("tess", GROUP)
    post(hub_class.board, ada, Event("ada", "00_start_here", "start", "pass"))
    refused = progress(hub_class.board, ada)
    assert refused.status_code == 403 and "ada" in refused.json()["error_description"]
    answer = progress(hub_class.board, trainer)
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()["trainees"]] == ["ada"]
    assert progress(hub_class.board, TRAINER_TOKEN).status_code == 200  # the scripts' token
    assert progress(hub_class.board).status_code == 401


def sign_in_through_the_hub(hub_class: Class, who: str) -> httpx.Response:
    """The browser's way: the board -> the Hub's authorize -> the board's callback."""
    hub_class.hub.signed_in = who
    board = hub_class.board
    start = board.get(PREFIX, follow_redirects=False)
    assert start.status_code == 302
    location = start.headers["location"]
    assert location.startswith(f"{hub_class.hub_url}/hub/api/oauth2/authorize?")
    assert "kore_plaid_board_oauth=" in start.headers["set-cookie"]
    at_hub = httpx.get(location, follow_redirects=False, timeout=10)
    back = urlsplit(at_hub.headers["location"])
    assert back.path == f"{PREFIX}oauth_callback"
    return board.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_a_trainer_signs_in_to_the_page_through_the_hub(hub_class: Class) -> None:
    hub_class.hub.add_user("tess", GROUP)
    answer = sign_in_through_the_hub(hub_class, "tess")
    assert answer.status_code == 303 and answer.headers["location"] == PREFIX
    assert answer.headers["set-cookie"].count(f"{SESSION_COOKIE}=") == 1
    page = hub_class.board.get(PREFIX)
    assert page.status_code == 200 and "static/board.js" in page.text
    assert progress(hub_class.board).status_code == 200  # the session cookie alone


def test_a_trainee_signed_in_to_the_hub_does_not_see_the_board(hub_class: Class) -> None:
    hub_class.hub.add_user("ada")
    answer = sign_in_through_the_hub(hub_class, "ada")
    assert answer.status_code == 403
    assert "ada is signed in to the Hub but is not a trainer" in html.unescape(answer.text)
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert progress(hub_class.board).status_code == 401


def test_a_forged_or_replayed_callback_signs_nobody_in(hub_class: Class) -> None:
    hub_class.hub.add_user("tess", GROUP)
    board = hub_class.board
    forged = board.get(f"{PREFIX}oauth_callback?code=abc&state=xyz", follow_redirects=False)
    assert forged.status_code == 400 and "set-cookie" not in forged.headers
    board.get(PREFIX, follow_redirects=False)  # a real state cookie, a made-up code
    state = board.cookies.get("kore_plaid_board_oauth")
    made_up = board.get(f"{PREFIX}oauth_callback?code=abc&state={state}", follow_redirects=False)
    assert made_up.status_code == 400
    assert progress(board).status_code == 401


def test_the_hub_not_answering_is_503_not_a_traceback(hub_class: Class) -> None:
    hub_class.hub.down = True
    answer = post(hub_class.board, "some-hub-token", Event("ada", "x", "y", "pass"))
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert hub_class.store.count() == 0


def test_hub_identity_comes_from_the_services_environment(monkeypatch) -> None:
    assert hub_identity({}) is None
    assert hub_identity({"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:1"}) is None
    environ = {
        "JUPYTERHUB_API_TOKEN": SERVICE_TOKEN,
        "JUPYTERHUB_CLIENT_ID": "service-board",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "KORE_PLAID_BOARD_TRAINERS_GROUP": "class-trainers",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    identity = hub_identity(environ)
    assert identity is not None and identity.trainers_group == "class-trainers"
    assert identity.auth.oauth_client_id == "service-board"
    assert identity.auth.api_url == "http://127.0.0.1:8081/hub/api"
