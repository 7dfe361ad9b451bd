"""The trainer's board: the events API (token, 400/401/413/415, all or nothing, idempotent ids),
the ``/api/progress`` contract, stuck trainees first, the sign-in flow, escaping, security
headers, JupyterHub's prefix, and ``kore-plaid board`` as a real process across a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from http_support import TLS

from kore_plaid_nb.board import demo
from kore_plaid_nb.board.app import MAX_EVENTS, SESSION_COOKIE, build_app
from kore_plaid_nb.board.command import (
    HubService,
    hub_service,
    retire_old_token,
    served_app,
    trainer_token,
)
from kore_plaid_nb.board.page import STATIC_DIR
from kore_plaid_nb.board.store import BoardStore
from kore_plaid_nb.progress.catalog import FINISH, NOTEBOOK_NAMES, RUNBOOK
from kore_plaid_nb.progress.events import Event
from kore_plaid_nb.services import free_port

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not installed
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "board-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOSTILE = '<img src=x onerror="alert(1)">Mallory-7f3</b>'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BoardStore]:
    board_store = BoardStore(tmp_path / "board.sqlite3")
    yield board_store
    board_store.close()


@pytest.fixture
def client(store: BoardStore) -> TestClient:
    return TestClient(build_app(store, TOKEN))


def event(trainee: str, notebook: str, step: str, status: str = "pass", **extra: str) -> dict:
    return Event(trainee, notebook, step, status, **extra).as_dict()


def passed(trainee: str, count: int) -> list[dict]:
    """Every step of the first ``count`` notebooks passed, then each notebook finished."""
    return [
        event(trainee, entry.name, step)
        for entry in RUNBOOK[:count]
        for step in (*entry.steps, FINISH)
    ]


def failing(trainee: str) -> list[dict]:
    return [
        *passed(trainee, 1),
        event(trainee, "01_plaid_keys", "start"),
        event(
            trainee,
            "01_plaid_keys",
            "check_plaid_keys",
            "fail",
            message="Plaid refused the secret.",
            fix="Copy the Sandbox secret from dashboard.plaid.com > Developers > Keys.",
        ),
    ]


def post(client: TestClient, events: list[dict]) -> httpx.Response:
    # json.dumps escapes non-ASCII (even a lone surrogate) as a client's library would
    body = json.dumps({"events": events})
    return client.post(
        "/api/events", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )


def progress(client: TestClient) -> list[dict]:
    answer = client.get("/api/progress", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()["trainees"]


def sign_in(client: TestClient, token: str = TOKEN) -> httpx.Response:
    return client.post("/login", data={"token": token}, follow_redirects=False)


# The events API and the progress contract


def test_progress_lists_every_notebook_for_every_trainee_in_the_runbooks_order(client) -> None:
    events = (
        passed("ana", len(RUNBOOK)) + passed("bo", 2) + [event("bo", "02_redirect_uri", "start")]
    )
    assert post(client, events).json() == {"stored": len(events), "duplicates": 0}
    assert post(client, failing("cy")).status_code == 200

    answer = client.get("/api/progress", headers=AUTH)

    assert answer.headers["content-type"] == "application/json"
    assert "no-store" in answer.headers["cache-control"]
    trainees = answer.json()["trainees"]
    assert [t["name"] for t in trainees] == ["cy", "ana", "bo"]  # the failing one first
    for trainee in trainees:
        assert isinstance(trainee["name"], str)
        datetime.fromisoformat(trainee["last_seen"].replace("Z", "+00:00"))
        assert [nb["notebook"] for nb in trainee["notebooks"]] == list(NOTEBOOK_NAMES)
        for nb in trainee["notebooks"]:
            assert nb["status"] in ("pass", "fail", "pending")
            assert isinstance(nb["message"], str)
            assert nb["at"] is None or isinstance(nb["at"], str)
    by_name = {t["name"]: [nb["status"] for nb in t["notebooks"]] for t in trainees}
    assert by_name["ana"] == ["pass"] * len(RUNBOOK)
    assert by_name["bo"] == ["pass", "pass"] + ["pending"] * (len(RUNBOOK) - 2)
    assert by_name["cy"] == ["pass", "fail"] + ["pending"] * (len(RUNBOOK) - 2)
    bo = {nb["notebook"]: nb for nb in trainees[2]["notebooks"]}
    assert (
        bo["02_redirect_uri"]["at"] is not None
        and "in progress" in bo["02_redirect_uri"]["message"]
    )
    assert bo["03_bridge"]["at"] is None


def test_a_failure_shows_its_message_and_its_fix(client) -> None:
    post(client, failing("cy"))
    [cy] = progress(client)
    keys = cy["notebooks"][1]
    assert keys["status"] == "fail"
    assert "Plaid refused the secret." in keys["message"]
    assert "What to do: Copy the Sandbox secret" in keys["message"]
    assert cy["stuck"] is True and "01_plaid_keys" in cy["stuck_reason"]


def test_a_re_sent_event_is_stored_once(client, store) -> None:
    batch = passed("ana", 1)
    assert post(client, batch).json() == {"stored": len(batch), "duplicates": 0}
    before = progress(client)
    again = post(client, batch + batch[:1])
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": len(batch) + 1}
    assert store.count() == len(batch)
    assert progress(client) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer t\u00f6ken".encode("latin-1")},
    ],
    ids=["none", "wrong", "prefix", "basic", "no-scheme", "latin-1"],
)
def test_without_the_token_nothing_is_stored(client, store, headers) -> None:
    answer = client.post(
        "/api/events",
        content=json.dumps({"events": passed("ana", 1)}),
        headers={"Content-Type": "application/json", **headers},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert store.count() == 0
    assert client.get("/api/progress", headers=headers).status_code == 401


BAD_BODIES = {
    "not-json": (b"{events: [", "not JSON"),
    "not-utf8": (b'{"events": ["\xff"]}', "not JSON"),
    "deep": (b"[" * 100_000, "not JSON"),
    "a-list": (b"[]", '{"events"'),
    "no-events": (b'{"event": []}', '{"events"'),
    "events-not-list": (b'{"events": {"a": 1}}', '{"events"'),
    "event-not-object": (b'{"events": ["x"]}', "events[0]: an event must be a JSON object"),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_a_malformed_body_is_400_and_stores_nothing(client, store, name) -> None:
    body, named = BAD_BODIES[name]
    answer = client.post(
        "/api/events", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert named in answer.json()["error_description"]
    assert store.count() == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"status": "ok"}, "'status'"),
        ({"trainee": ""}, "'trainee' is missing"),
        ({"at": "yesterday"}, "'at' must be an ISO 8601 time"),
        ({"id": 42}, "'id' must be a string"),
        ({"trainee": "x" * 201}, "longer than 200"),
        ({"message": "bad \ud800 text"}, "not valid Unicode"),
        ({"at": "0001-01-01T00:00:00+05:00"}, "'at' is out of range"),
    ],
)
def test_one_invalid_event_rejects_the_whole_request(client, store, change, named) -> None:
    events = passed("ana", 1)
    events.insert(2, {**event("bo", "00_start_here", "start"), **change})
    answer = post(client, events)
    assert answer.status_code == 400
    description = answer.json()["error_description"]
    assert description.startswith("events[2]:") and named in description
    assert store.count() == 0
    assert progress(client) == []


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_that_is_not_json_is_415(client, store, content_type) -> None:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    answer = client.post("/api/events", content=json.dumps({"events": []}), headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert store.count() == 0


def test_json_with_a_charset_is_accepted(client) -> None:
    answer = client.post(
        "/api/events",
        content=json.dumps({"events": passed("ana", 1)}),
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 200


def test_too_much_is_413_and_stores_nothing(client, store) -> None:
    too_many = [event("ana", "00_start_here", "start") for _ in range(MAX_EVENTS + 1)]
    answer = post(client, too_many)
    assert answer.status_code == 413
    assert str(MAX_EVENTS) in answer.json()["error_description"]

    big = event("ana", "00_start_here", "start", message="x" * 1500)
    body = json.dumps({"events": [big] * 800}).encode()  # ~1.3 MB
    answer = client.post(
        "/api/events", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"events": ['
        for _ in range(2000):
            yield json.dumps(big).encode() + b","
        yield b"{}]}"

    answer = client.post(
        "/api/events", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert store.count() == 0


def test_stuck_trainees_come_first_with_the_reason(store) -> None:
    client = TestClient(build_app(store, TOKEN, stuck_after_seconds=0.5))
    post(client, passed("Bea", len(RUNBOOK)))  # finished: never stuck
    post(client, passed("ali", 2))  # busy
    post(client, failing("zoe"))
    trainees = progress(client)
    assert [(t["name"], t["stuck"]) for t in trainees] == [
        ("zoe", True),
        ("ali", False),
        ("Bea", False),
    ]
    assert trainees[0]["stuck_reason"].startswith("Failed at 01_plaid_keys: Plaid refused")

    time.sleep(0.6)  # ali sends nothing more
    trainees = progress(client)
    assert [(t["name"], t["stuck"]) for t in trainees] == [
        ("ali", True),
        ("zoe", True),
        ("Bea", False),
    ]
    assert trainees[0]["stuck_reason"].startswith("No progress for ")
    assert "(last step: 01_plaid_keys finished)" in trainees[0]["stuck_reason"]

    post(client, [event("ali", "02_redirect_uri", "start")])
    assert [t["name"] for t in progress(client)] == ["zoe", "ali", "Bea"]


def test_the_sample_class_shows_the_runbooks_own_plaid_env_message(store) -> None:
    demo.seed(store)
    client = TestClient(build_app(store, TOKEN))
    trainees = progress(client)
    assert [t["name"] for t in trainees[:2]] == [demo.FAILING, demo.STUCK]
    keys = trainees[0]["notebooks"][1]
    assert "Plaid decommissioned its Development environment on 2024-06-20" in keys["message"]
    assert "What to do: Set PLAID_ENV=sandbox" in keys["message"]
    assert trainees[1]["stuck_reason"].startswith("No progress for 25 min")


# The page: sign-in, escaping, headers


def test_sign_in_sets_a_session_cookie_and_never_puts_the_token_in_a_url(client) -> None:
    form = client.get("/")
    assert form.status_code == 200
    assert 'type="password"' in form.text and 'action="login"' in form.text
    assert 'method="post"' in form.text

    wrong = sign_in(client, "not-the-token")
    assert wrong.status_code == 401
    assert "That token is not this board" in wrong.text and 'type="password"' in wrong.text
    assert "set-cookie" not in wrong.headers

    answer = sign_in(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    assert TOKEN not in answer.headers["location"]
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie

    board = client.get("/")
    assert board.status_code == 200 and "static/board.js" in board.text
    assert TOKEN not in board.text
    assert client.get("/api/progress").status_code == 200  # the cookie alone

    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie.split(";")[0].split("=", 1)[1])
    assert client.get("/api/progress").status_code == 401  # the old session is gone
    assert 'type="password"' in client.get("/").text


def test_a_session_outlives_a_restart_but_not_a_new_token(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    first = BoardStore(path)
    client = TestClient(build_app(first, TOKEN))
    sign_in(client)
    cookies = dict(client.cookies)
    first.close()

    again = BoardStore(path)
    restarted = TestClient(build_app(again, TOKEN), cookies=cookies)
    assert restarted.get("/api/progress").status_code == 200
    rotated = TestClient(build_app(again, "another-token-0123456789"), cookies=cookies)
    assert rotated.get("/api/progress").status_code == 401
    again.close()


def test_trainees_text_is_never_html(client) -> None:
    post(
        client,
        [event(HOSTILE, "00_start_here", "start", "fail", message="<script>x()</script>")],
    )
    sign_in(client)
    page = client.get("/").text
    assert "<img" not in page and "Mallory-7f3" not in page and "x()" not in page
    answer = client.get("/api/progress")
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.json()["trainees"][0]["name"] == HOSTILE  # kept as text, shown as text
    script = (STATIC_DIR / "board.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_every_answer_carries_the_security_headers(client) -> None:
    sign_in(client)
    for path in ("/", "/api/progress", "/static/board.js", "/healthz"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert "no-store" in client.get("/api/progress").headers["cache-control"]
    page = client.get("/").text
    assert "<script>" not in page and "style=" not in page  # no inline script or style
    assert "http://" not in page and "https://" not in page  # nothing from another origin


def test_healthz_needs_no_token(client) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_under_jupyterhubs_prefix_everything_lives_below_it(store) -> None:
    client = TestClient(build_app(store, TOKEN, prefix="/services/board/"))
    assert client.get("/services/board/healthz").status_code == 200
    assert client.get("/api/progress", headers=AUTH).status_code == 404
    assert post(client, []).status_code == 404
    answer = client.post(
        "/services/board/api/events", json={"events": passed("ana", 1)}, headers=AUTH
    )
    assert answer.status_code == 200
    signed = client.post("/services/board/login", data={"token": TOKEN}, follow_redirects=False)
    assert signed.headers["location"] == "/services/board/"
    assert "Path=/services/board/" in signed.headers["set-cookie"]
    page = client.get("/services/board/").text
    assert 'src="static/board.js"' in page and 'href="/' not in page and 'src="/' not in page
    assert client.get("/services/board/api/progress").json()["trainees"][0]["name"] == "ana"
    assert client.get("/services/board/static/board.css").status_code == 200


def test_jupyterhub_service_variables_give_the_address_and_prefix() -> None:
    service = {
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101",
        "JUPYTERHUB_SERVICE_PREFIX": "/hub-base/services/board/",
    }
    assert hub_service(service) == HubService("127.0.0.1", 10101, "/hub-base/services/board/")
    no_prefix = {"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101/services/board/"}
    assert hub_service(no_prefix) == HubService("127.0.0.1", 10101, "/services/board/")
    # a trainer's own single-user server sets the same names for itself: not a service
    users_server = {
        "JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8888/user/trainer/",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/trainer/",
    }
    assert hub_service(users_server) is None
    assert hub_service({}) is None


def test_an_old_board_token_that_is_not_ours_is_ignored_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "someone-elses-file"
    target.write_text("keep me\n")
    (tmp_path / "board.token").symlink_to(target)
    assert "ignored" in retire_old_token(tmp_path)
    assert target.read_text() == "keep me\n" and (tmp_path / "board.token").is_symlink()
    assert retire_old_token(tmp_path / "nothing-here") == ""


@pytest.mark.parametrize("prefix", ["/", "/class/"])
def test_on_loopback_the_json_api_keeps_the_cross_site_check(store, prefix: str) -> None:
    """A foreign page may post forms and text anywhere without asking: on loopback the board
    refuses them for everything but its own sign-in and sign-out forms (Origin: null)."""
    served = served_app(build_app(store, TOKEN, prefix=prefix), None, prefix)
    client = TestClient(served, base_url="http://127.0.0.1:8800")
    foreign = {"Origin": "http://evil.example", "Content-Type": "text/plain", **AUTH}
    body = json.dumps({"events": passed("ann", 1)})
    answer = client.post(f"{prefix}api/events", content=body, headers=foreign)
    assert answer.status_code == 403 and "Cross-site" in answer.text
    assert store.count() == 0
    own_form = {"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"}
    signed_in = client.post(
        f"{prefix}login", content=f"token={TOKEN}", headers=own_form, follow_redirects=False
    )
    assert signed_in.status_code == 303
    assert (
        client.post(f"{prefix}logout", headers=own_form, follow_redirects=False).status_code == 303
    )
    assert (
        client.post(
            f"{prefix}api/events", json={"events": passed("ann", 1)}, headers=AUTH
        ).status_code
        == 200
    )


# ``kore-plaid board`` as a real process


class BoardProcess:
    """``python -m kore_plaid_nb board`` with its stderr in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kore_plaid_nb", "board", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(url, timeout=1, verify=TLS).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"the board did not start: {self.log.read_text()}")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()


@pytest.fixture
def board_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in (
        "KORE_PLAID_BOARD_TOKEN",
        "KORE_PLAID_BOARD_TRAINER_TOKEN",
        "JUPYTERHUB_SERVICE_URL",
        "JUPYTERHUB_SERVICE_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_the_board_reads_the_trainers_token_and_ignores_the_old_variable(
    board_env: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Old READMEs had trainers hand KORE_PLAID_BOARD_TOKEN out: it never opens the board."""
    old = "old-token-trainees-were-given-0123456789"
    monkeypatch.setenv("KORE_PLAID_BOARD_TOKEN", old)
    home.mkdir(parents=True, exist_ok=True)
    token, source = trainer_token(home)
    assert token != old and source == str(home / "trainer.token")
    err = capsys.readouterr().err
    assert "KORE_PLAID_BOARD_TOKEN is ignored" in err and "KORE_PLAID_BOARD_TRAINER_TOKEN" in err
    assert old not in err
    chosen = "trainer-chosen-token-0123456789abcdef"
    monkeypatch.setenv("KORE_PLAID_BOARD_TRAINER_TOKEN", chosen)
    assert trainer_token(home) == (chosen, "KORE_PLAID_BOARD_TRAINER_TOKEN")


def test_the_command_keeps_its_token_and_events_across_a_restart(
    board_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # an earlier version's token, which every trainee was given: never used again
    old_token = "old-board-token-every-trainee-had-0123"
    home.mkdir(parents=True, exist_ok=True)
    (home / "board.token").write_text(old_token + "\n")
    first = BoardProcess(board_env, tmp_path / "first.log", "--port", str(port))
    try:
        first.wait_ready(url + "/healthz")
        token_file = home / "trainer.token"
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token != old_token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert not (home / "board.token").exists()
        old = httpx.get(url + "/api/progress", headers={"Authorization": f"Bearer {old_token}"})
        assert old.status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        sent = httpx.post(
            url + "/api/events", json={"events": failing("cy")}, headers=headers, timeout=5
        )
        assert sent.json()["stored"] == len(failing("cy"))
    finally:
        log = first.stop()
    assert f"shown once): {token}" in log
    assert "the old board token (trainees were given it) no longer opens the board" in log
    assert old_token not in log
    assert stat.S_IMODE((home / "board.sqlite3").stat().st_mode) == 0o600

    second = BoardProcess(board_env, tmp_path / "second.log", "--port", str(port))
    try:
        second.wait_ready(url + "/healthz")
        answer = httpx.get(url + "/api/progress", headers=headers, timeout=5)
        assert answer.status_code == 200
        [cy] = answer.json()["trainees"]
        assert cy["name"] == "cy" and cy["notebooks"][1]["status"] == "fail"
    finally:
        log = second.stop()
    assert token not in log  # shown once only
    assert f"{token[:4]}…{token[-4:]}" in log


def test_the_command_as_a_jupyterhub_service(board_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {
        **board_env,
        "KORE_PLAID_BOARD_TRAINER_TOKEN": TOKEN,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}",
        "JUPYTERHUB_SERVICE_PREFIX": "/services/board/",
    }
    board = BoardProcess(env, tmp_path / "hub.log", "--db", str(tmp_path / "hub.sqlite3"))
    try:
        base = f"http://127.0.0.1:{port}/services/board"
        board.wait_ready(base + "/healthz")
        with httpx.Client(base_url=base, timeout=5) as http:
            form = http.post("/login", data={"token": TOKEN}, follow_redirects=True)
            assert form.status_code == 200 and str(form.url) == base + "/"  # after the 303
            assert "static/board.js" in form.text
            assert http.get("/api/progress").json() == {"trainees": []}
    finally:
        log = board.stop()
    assert TOKEN not in log
    assert not (Path(board_env["KORE_PLAID_HOME"]) / "trainer.token").exists()


def test_a_port_in_use_is_a_message_not_a_traceback(board_env, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "kore_plaid_nb", "board", "--port", str(port)],
            env=board_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "lsof -i" in done.stderr and f"--port {port + 1}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (Path(board_env["KORE_PLAID_HOME"]) / "trainer.token").exists()  # nothing shown
