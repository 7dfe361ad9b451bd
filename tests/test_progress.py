"""Progress records: events, the checklist, the trainee's identity, delivery to a board."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from kore_plaid_nb import progress, settings
from kore_plaid_nb.board.app import build_app
from kore_plaid_nb.board.identity import new_trainee_token, token_digest
from kore_plaid_nb.board.store import BoardStore, Caps
from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.progress import catalog, journal, outbox
from kore_plaid_nb.progress.checklist import notebook_statuses
from kore_plaid_nb.progress.events import Event, EventError, from_dict
from kore_plaid_nb.runbook import steps
from kore_plaid_nb.serving import serve_in_thread

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def event(notebook: str, step: str, status: str = "pass", at: str = "", **more: str) -> Event:
    return Event(
        "ann", notebook, step, status, at=at or f"2026-12-01T10:00:{more.pop('s', '00')}Z", **more
    )


def test_catalog_lists_every_notebook_and_step_the_notebooks_call() -> None:
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        called = re.findall(r"steps\.(\w+)\(", source)
        assert called[-1] == "finish", f"{path.stem} must end with steps.finish(settings)"
        found[path.stem] = tuple(dict.fromkeys(c for c in called if c != "finish"))
    assert found == {n.name: n.steps for n in catalog.RUNBOOK}


def test_checklist_pending_pass_fail_and_rerun() -> None:
    assert [s.status for s in notebook_statuses([])] == ["pending"] * len(catalog.RUNBOOK)
    events = [
        event("00_start_here", "start", s="01"),
        event("00_start_here", "prerequisites", s="02"),
        event("00_start_here", catalog.FINISH, s="03"),
        event("01_plaid_keys", "start", s="04"),
        event("01_plaid_keys", "check_plaid_keys", "fail", s="05", message="bad keys", fix="copy"),
        event("02_redirect_uri", "start", s="06"),
    ]
    first, second, third, *rest = notebook_statuses(events)
    assert (first.status, first.message) == ("pass", "done")
    assert second.status == "fail" and second.text == "bad keys\nWhat to do: copy"
    assert {s.step: s.status for s in second.steps}["check_plaid_keys"] == "fail"
    assert third.status == "pending" and "start" in third.message
    assert all(n.status == "pending" and n.at is None for n in rest)
    # the trainee fixes the keys and reruns 01 from the top: pending, then done
    rerun = [*events, event("01_plaid_keys", "start", s="07")]
    assert notebook_statuses(rerun)[1].status == "pending"
    done = [*rerun, event("01_plaid_keys", "check_plaid_keys", s="08")]
    done.append(event("01_plaid_keys", catalog.FINISH, s="09"))
    assert notebook_statuses(done)[1].status == "pass"


def test_verification_checks_are_listed_after_the_cells() -> None:
    events = [event("06_authorize", "start"), event("06_authorize", "check: Token URL", s="02")]
    authorize = notebook_statuses(events)[6]
    assert [s.step for s in authorize.steps] == [
        "start",
        "verify",
        "wait_for_kore",
        "what_kore_sent",
        "check: Token URL",
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KORE_PLAID_TRAINEE": "ann", "JUPYTERHUB_USER": "hub-ann"}, "ann"),
        ({"JUPYTERHUB_USER": "hub-ann"}, "hub-ann"),
    ],
)
def test_trainee_identity_order(environ: dict[str, str], expected: str) -> None:
    assert settings.trainee_name(environ) == expected
    assert (
        settings.load({**environ, "KORE_PLAID_HOME": "/nonexistent/x"}, validate=False).trainee
        == expected
    )


def test_trainee_identity_falls_back_to_the_os_user() -> None:
    import getpass

    assert settings.trainee_name({}) == getpass.getuser()


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ([], "JSON object"),
        (
            {
                "trainee": "a",
                "notebook": "n",
                "step": "s",
                "status": "ok",
                "at": "2026-12-01T00:00:00Z",
                "id": "1",
            },
            "status",
        ),
        (
            {
                "trainee": "a",
                "notebook": "n",
                "step": "s",
                "status": "pass",
                "at": "yesterday",
                "id": "1",
            },
            "ISO 8601",
        ),
        (
            {
                "trainee": "",
                "notebook": "n",
                "step": "s",
                "status": "pass",
                "at": "2026-12-01T00:00:00Z",
                "id": "1",
            },
            "trainee",
        ),
        (
            {
                "trainee": 3,
                "notebook": "n",
                "step": "s",
                "status": "pass",
                "at": "2026-12-01T00:00:00Z",
                "id": "1",
            },
            "string",
        ),
    ],
)
def test_invalid_events_say_which_field(data: object, complaint: str) -> None:
    with pytest.raises(EventError, match=complaint):
        from_dict(data)


def test_journal_keeps_every_line_when_processes_append_at_once(home: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from kore_plaid_nb.progress import journal;"
        "from kore_plaid_nb.progress.events import Event\n"
        "for i in range(200):\n"
        "    journal.record(Path(sys.argv[1]), Event('t', 'nb', f's{i}', 'pass', 'x' * 3000))"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(home)]) for _ in range(3)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]
    assert len(journal.read(home)) == 600
    assert (journal.events_path(home).stat().st_mode & 0o777) == 0o600


def test_step_records_pass_and_fail_with_secrets_masked(home: Path, monkeypatch) -> None:
    secret = "s3cr3t-value-0123456789"
    monkeypatch.setenv("PLAID_CLIENT_ID", "abc123def456abc123def456")
    monkeypatch.setenv("PLAID_SECRET", secret)
    monkeypatch.setenv("KORE_PLAID_TRAINEE", "ann")
    steps.start("00_start_here")

    @steps.step
    def leaky() -> None:
        raise RunbookError(f"Plaid refused {secret}", fix=f"do not paste {secret}", step="4.iv")

    @steps.step
    def crashes() -> None:
        raise KeyError("boom")

    with pytest.raises(RunbookError):
        leaky()
    with pytest.raises(RunbookError, match="crashes failed unexpectedly: KeyError"):
        crashes()
    recorded = journal.read(home)
    assert [(e.trainee, e.step, e.status) for e in recorded] == [
        ("ann", "start", "pass"),
        ("ann", "leaky", "fail"),
        ("ann", "crashes", "fail"),
    ]
    assert secret not in journal.events_path(home).read_text()
    assert recorded[1].message == "Plaid refused s3cr…6789 (procedure step 4.iv)"
    assert recorded[1].fix == "do not paste s3cr…6789"


def test_start_of_a_lenient_notebook_shows_a_wrong_setting_and_01_fails(
    home: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PLAID_ENV", "development")
    monkeypatch.setenv("KORE_PLAID_TRAINEE", "dev")
    current = steps.start("00_start_here")
    out = capsys.readouterr().out
    assert current.plaid_env == "development"
    assert "Settings problem (notebook 01 fixes it): PLAID_ENV=development" in out
    assert "Progress (dev): 0 of 9 notebooks done, next: 00_start_here" in out
    steps.finish(current)
    assert "00_start_here done. Next: 01_plaid_keys (Plaid keys)." in capsys.readouterr().out
    keys = steps.start("01_plaid_keys")  # its form fixes it: shown, not stopped (issue 29)
    assert "Settings problem (the form below fixes it)" in capsys.readouterr().out
    with pytest.raises(RunbookError, match="Fix the settings above first: PLAID_ENV=development"):
        steps.check_plaid_keys(keys)
    statuses = progress.checklist(settings.load(validate=False))
    assert [s.status for s in statuses[:3]] == ["pass", "fail", "pending"]
    assert "What to do: Set PLAID_ENV=sandbox" in statuses[1].text


# -- delivery to a board ---------------------------------------------------------------


class FakeBoard:
    """Stores what it is sent; answers 401 to a wrong token, 503 while ``down``, ``refuse``
    (a status) when set."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.events: dict[str, dict] = {}
        self.down = False
        self.refuse = 0

    async def receive(self, request: Request) -> JSONResponse:
        if self.down:
            return JSONResponse({"error": "down"}, status_code=503)
        if self.refuse:
            reason = f"refused with {self.refuse} by the fake board"
            return JSONResponse({"error": "x", "error_description": reason}, self.refuse)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        for item in (await request.json())["events"]:
            self.events[item["id"]] = item
        return JSONResponse({"stored": len(self.events)})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/events", self.receive, methods=["POST"])])

    def hub_app(self) -> Starlette:
        """The same, under a Hub service's prefix (``/services/board``)."""
        return Starlette(routes=[Mount("/services/board", app=self.app())])


def board_settings(home: Path, url: str, token: str) -> settings.Settings:
    return settings.Settings(home=home, trainee="ann", board_url=url, board_trainee_token=token)


@pytest.fixture(autouse=True)
def outside_jupyterhub(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "JUPYTERHUB_API_TOKEN",
        "JUPYTERHUB_API_URL",
        "JUPYTERHUB_BASE_URL",
        "KORE_PLAID_BOARD_AUTH",
    ):
        monkeypatch.delenv(name, raising=False)


def test_events_wait_while_the_board_is_down_and_go_with_the_next(home: Path) -> None:
    board = FakeBoard("t" * 32)
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        current = board_settings(home, url, board.token)
        board.down = True
        for step in ("start", "prerequisites"):
            progress.record(current, "00_start_here", step, "pass")
        assert len(outbox.waiting(home)) == 2 and board.events == {}
        assert (
            "2 event(s) waiting; last try: the board answered HTTP 503"
            in progress.delivery_note(current)
        )
        board.down = False
        progress.record(current, "00_start_here", "show_settings", "pass")
        assert [e["step"] for e in board.events.values()] == [
            "start",
            "prerequisites",
            "show_settings",
        ]
        assert outbox.waiting(home) == []
        assert "every event delivered" in progress.delivery_note(current)


def test_a_wrong_token_keeps_the_events(home: Path) -> None:
    board = FakeBoard("right-token-0123456789")
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        progress.record(
            board_settings(home, url, "wrong-token-0123456789"), "00_start_here", "start", "pass"
        )
    assert board.events == {}
    assert len(outbox.waiting(home)) == 1
    assert "refused the token (401)" in str(outbox.last_status(home))
    assert "wrong-token" not in json.dumps(outbox.last_status(home))


def test_a_board_that_never_answers_costs_a_step_at_most_a_second(home: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        current = board_settings(home, url, "token-0123456789abcdef")
        started = time.monotonic()
        recorded = progress.record(current, "00_start_here", "start", "pass")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    # the board's two 0.45 s timeouts (connect, read), plus slack for a loaded machine: a
    # default client timeout (5 s and more) would be far over it
    assert recorded is not None and elapsed < 1.5
    assert journal.read(home)[0].step == "start" and len(outbox.waiting(home)) == 1


def test_a_board_configured_midway_first_gets_the_history(home: Path) -> None:
    board = FakeBoard("t" * 32)
    local = settings.Settings(home=home, trainee="ann")
    progress.record(local, "00_start_here", "start", "pass")
    progress.record(local, "00_start_here", catalog.FINISH, "pass")
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        current = board_settings(home, url, board.token)
        progress.record(current, "01_plaid_keys", "start", "pass")
        progress.record(current, "01_plaid_keys", "check_plaid_keys", "pass")
    sent = [(e["notebook"], e["step"]) for e in board.events.values()]
    assert sent == [
        ("00_start_here", "start"),
        ("00_start_here", catalog.FINISH),
        ("01_plaid_keys", "start"),
        ("01_plaid_keys", "check_plaid_keys"),
    ]


def test_the_trainee_posts_with_their_own_token_never_the_trainers(home: Path) -> None:
    """KORE_PLAID_BOARD_TOKEN is the trainer's (it opens the board): a trainee's runbook sends
    with KORE_PLAID_BOARD_TRAINEE_TOKEN, and says so when only the trainer's is set."""
    board = FakeBoard("trainee-token-0123456789")
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        trainers_only = settings.Settings(
            home=home, trainee="ann", board_url=url, board_token="trainer-token-0123456789"
        )
        progress.record(trainers_only, "00_start_here", "start", "pass")
        assert board.events == {}
        note = progress.delivery_note(trainers_only)
        assert "KORE_PLAID_BOARD_TOKEN is the trainer's token" in note
        assert "KORE_PLAID_BOARD_TRAINEE_TOKEN" in note and "add-trainee" in note
        own = dataclasses.replace(trainers_only, board_trainee_token=board.token)
        progress.record(own, "00_start_here", "prerequisites", "pass")
    assert [e["step"] for e in board.events.values()] == ["start", "prerequisites"]


def test_under_jupyterhub_the_trainee_posts_with_their_hub_token(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_token = "hub-api-token-of-ann-0123456789"
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub_token)
    monkeypatch.setenv("KORE_PLAID_BOARD_AUTH", "hub")  # what the Hub's configuration sets
    board = FakeBoard(hub_token)
    with serve_in_thread(board.hub_app(), "127.0.0.1", 0, "fake-board") as url:
        current = settings.Settings(home=home, trainee="ann", board_url=url + "/services/board")
        event = progress.record(current, "00_start_here", "start", "fail", f"token {hub_token}")
    assert len(board.events) == 1
    assert event is not None and hub_token not in event.message  # masked like every secret


def test_a_hub_token_goes_only_where_the_hubs_configuration_says(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Hub token lets its holder act as the trainee: never a silent fallback."""
    hub_token = "hub-api-token-of-ann-0123456789"
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub_token)
    board = FakeBoard(hub_token)
    with serve_in_thread(board.hub_app(), "127.0.0.1", 0, "fake-board") as url:
        current = settings.Settings(home=home, trainee="ann", board_url=url + "/services/board")
        progress.record(current, "00_start_here", "start", "pass")  # no KORE_PLAID_BOARD_AUTH
        assert board.events == {}
        note = progress.delivery_note(current)
        assert "nothing is sent" in note and "KORE_PLAID_BOARD_AUTH is not 'hub'" in note
        assert hub_token not in note
        monkeypatch.setenv("KORE_PLAID_BOARD_AUTH", "hub")
        elsewhere = dataclasses.replace(current, board_url=url)  # not a Hub service's path
        progress.record(elsewhere, "00_start_here", "prerequisites", "pass")
        assert board.events == {}
        assert "is not one of the Hub's services" in progress.delivery_note(elsewhere)
        progress.record(current, "00_start_here", "show_settings", "pass")
    assert [e["step"] for e in board.events.values()] == [
        "start",
        "prerequisites",
        "show_settings",
    ]


def test_a_hub_server_started_before_the_upgrade_is_told_to_restart(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JUPYTERHUB_API_TOKEN set, KORE_PLAID_BOARD_AUTH not: the Hub's new configuration reaches
    the server at its next start, so the trainee restarts it (no token to ask for)."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-api-token-of-ann-0123456789")
    url = "http://127.0.0.1:8800/services/board"
    note = progress.delivery_note(settings.Settings(home=home, trainee="ann", board_url=url))
    assert "Stop My Server, then Start My Server" in note
    assert "ask the trainer" not in note
    monkeypatch.setenv("KORE_PLAID_BOARD_AUTH", "hub")
    elsewhere = settings.Settings(home=home, trainee="ann", board_url="http://evil.example/x")
    assert "ask the trainer for your own token" in progress.delivery_note(elsewhere)


PUBLIC = "https://class.example.org/hub/"  # JUPYTERHUB_PUBLIC_HUB_URL


@pytest.mark.parametrize(
    ("url", "environ", "allowed"),
    [
        ("http://127.0.0.1:8800/services/board", {}, True),
        ("http://localhost:8800/services/board/", {}, True),
        ("http://[::1]:8800/services/board", {}, True),
        ("http://hub:8800/services/board", {"JUPYTERHUB_API_URL": "http://hub:8081/hub/api"}, True),
        ("https://class.example.org/services/board", {"JUPYTERHUB_PUBLIC_HUB_URL": PUBLIC}, True),
        (
            "https://class.example.org/base/services/board",
            {"JUPYTERHUB_BASE_URL": "/base/", "JUPYTERHUB_PUBLIC_HUB_URL": PUBLIC},
            True,
        ),
        ("https://class.example.org/services/board", {}, False),  # https alone: any host
        (
            "https://evil.example/services/board",
            {"JUPYTERHUB_PUBLIC_HUB_URL": PUBLIC, "JUPYTERHUB_API_URL": "http://hub:8081/"},
            False,
        ),
        ("http://class.example.org/services/board", {}, False),  # plain HTTP elsewhere
        (  # plain HTTP to a Hub served over https
            "http://class.example.org/services/board",
            {"JUPYTERHUB_PUBLIC_HUB_URL": PUBLIC},
            False,
        ),
        (
            "http://evil.example:8800/services/board",
            {"JUPYTERHUB_API_URL": "http://hub:8081/"},
            False,
        ),
        ("http://127.0.0.1:8800/api", {}, False),  # not a Hub service
        ("https://class.example.org/user/ann/services/x", {}, False),
        ("http://127.0.0.1:8800/services/board", {"JUPYTERHUB_BASE_URL": "/base/"}, False),
        ("not a url", {}, False),
    ],
)
def test_which_boards_may_get_the_hub_token(url: str, environ: dict, allowed: bool) -> None:
    assert progress.hub_board_url(url, environ) is allowed
    auth = {**environ, "KORE_PLAID_BOARD_AUTH": "hub"}
    assert (progress.hub_token_refusal(url, auth) == "") is allowed
    assert progress.hub_token_refusal(url, environ) != ""  # never without the Hub's say-so


def test_the_boards_reason_for_a_refusal_reaches_the_trainee(home: Path) -> None:
    async def refuse(request: Request) -> JSONResponse:
        reason = "events[0]: event field 'at' is 30 min past the board's clock. Set the clock."
        return JSONResponse({"error": "invalid_request", "error_description": reason}, 400)

    app = Starlette(routes=[Route("/api/events", refuse, methods=["POST"])])
    with serve_in_thread(app, "127.0.0.1", 0, "fake-board") as url:
        current = board_settings(home, url, "trainee-token-0123456789")
        progress.record(current, "00_start_here", "start", "pass")
        note = progress.delivery_note(current)
    assert "HTTP 400: events[0]: event field 'at' is 30 min past the board's clock" in note


@pytest.mark.parametrize("status", [400, 413])
def test_a_batch_the_board_refuses_for_good_is_set_aside_and_the_next_ones_go(
    home: Path, status: int
) -> None:
    board = FakeBoard("t" * 32)
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        current = board_settings(home, url, board.token)
        board.refuse = status
        progress.record(current, "00_start_here", "start", "pass")
        assert outbox.waiting(home) == [] and board.events == {}
        [kept] = outbox.rejected(home)
        assert kept.step == "start"
        assert stat.S_IMODE(outbox.rejected_path(home).stat().st_mode) == 0o600
        board.refuse = 0
        progress.record(current, "00_start_here", "prerequisites", "pass")
        note = progress.delivery_note(current)
    assert [e["step"] for e in board.events.values()] == ["prerequisites"]
    assert "every event delivered" in note
    assert f"1 event(s) the board refused (the board answered HTTP {status}: refused" in note
    assert str(outbox.rejected_path(home)) in note and "not sent again" in note


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_a_refusal_that_may_pass_later_keeps_the_events_waiting(home: Path, status: int) -> None:
    board = FakeBoard("t" * 32)
    board.refuse = status
    with serve_in_thread(board.app(), "127.0.0.1", 0, "fake-board") as url:
        current = board_settings(home, url, board.token)
        progress.record(current, "00_start_here", "start", "pass")
    assert len(outbox.waiting(home)) == 1 and outbox.rejected(home) == []
    shown = "refused the token (401)" if status == 401 else f"answered HTTP {status}"
    assert f"1 event(s) waiting; last try: the board {shown}" in progress.delivery_note(current)


@pytest.fixture
def real_board(tmp_path: Path):
    """The real board app with one trainee, 'ann': ``(url, ann's token, store)``."""
    store = BoardStore(tmp_path / "board.sqlite3")
    token = new_trainee_token()
    store.set_trainee_token("ann", token_digest(token), "2026-01-01T00:00:00.000Z")
    try:
        with serve_in_thread(build_app(store, "t" * 32), "127.0.0.1", 0, "board") as url:
            yield url, token, store
    finally:
        store.close()


def test_events_dated_ahead_of_the_boards_clock_wait_until_the_clock_is_right(
    home: Path, real_board
) -> None:
    url, token, store = real_board
    ahead = dataclasses.replace(event("00_start_here", "start"), at="2999-01-01T00:00:00Z")
    outbox.enqueue(home, [ahead, event("00_start_here", "prerequisites")])
    delivery = outbox.flush(home, url, token)
    assert (delivery.sent, delivery.waiting, delivery.rejected) == (0, 2, 0)
    assert "past the board's clock" in delivery.error and outbox.rejected(home) == []
    assert store.count() == 0


def test_an_event_the_board_names_is_set_aside_alone(home: Path, real_board) -> None:
    url, token, store = real_board
    bad = dataclasses.replace(event("00_start_here", "start"), at="0001-01-01T00:00:00+01:00")
    good = event("00_start_here", "prerequisites")
    outbox.enqueue(home, [good, bad])
    delivery = outbox.flush(home, url, token)
    assert (delivery.rejected, delivery.waiting) == (1, 1)
    assert outbox.rejected(home) == [bad] and outbox.waiting(home) == [good]
    assert outbox.flush(home, url, token).sent == 1 and store.count() == 1


def test_a_batch_too_large_is_halved_and_sent_at_once(home: Path) -> None:
    received: list[int] = []

    async def small_bodies(request: Request) -> JSONResponse:
        count = len((await request.json())["events"])
        received.append(count)
        if count > 2:
            return JSONResponse({"error": "request_too_large", "error_description": "big"}, 413)
        return JSONResponse({"stored": count})

    app = Starlette(routes=[Route("/api/events", small_bodies, methods=["POST"])])
    outbox.enqueue(home, [event("00_start_here", f"step{i}") for i in range(5)])
    with serve_in_thread(app, "127.0.0.1", 0, "fake-board") as url:
        delivery = outbox.flush(home, url, "trainee-token-0123456789")
    assert received == [5, 2]
    assert (delivery.sent, delivery.waiting, delivery.rejected) == (2, 3, 0)
    assert [e.step for e in outbox.waiting(home)] == ["step2", "step3", "step4"]


def test_a_trainee_over_the_boards_cap_has_the_batch_set_aside(home: Path, real_board) -> None:
    url, token, store = real_board
    store.add([event("00_start_here", f"old{i}") for i in range(3)], None, Caps(4, 100))
    outbox.enqueue(home, [event("00_start_here", "start"), event("00_start_here", "x")])
    with serve_in_thread(
        build_app(store, "t" * 32, caps=Caps(4, 100)), "127.0.0.1", 0, "capped-board"
    ) as capped:
        delivery = outbox.flush(home, capped, token)
    assert (delivery.rejected, delivery.waiting) == (2, 0) and "HTTP 413" in delivery.error


def test_no_board_configured_sends_nothing_and_keeps_no_outbox(home: Path) -> None:
    progress.record(settings.Settings(home=home, trainee="ann"), "00_start_here", "start", "pass")
    assert len(journal.read(home)) == 1
    assert not outbox.outbox_path(home).exists() or outbox.waiting(home) == []


# -- commands ----------------------------------------------------------------------------


def kore_plaid(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_progress_command_lists_every_notebook_with_the_failure_and_its_fix(home: Path) -> None:
    current = settings.Settings(home=home, trainee="ann")
    progress.record(current, "00_start_here", "start", "pass")
    progress.record(current, "00_start_here", catalog.FINISH, "pass")
    progress.record(
        current,
        "01_plaid_keys",
        "check_plaid_keys",
        "fail",
        "INVALID_API_KEYS",
        "Copy the keys again.",
    )
    text = kore_plaid("progress", env={"KORE_PLAID_TRAINEE": "ann"})
    assert text.returncode == 0, text.stderr
    assert (
        "Progress (ann): 1 of 9 notebooks done (00), failed: 01, next: 01_plaid_keys" in text.stdout
    )
    assert "01_plaid_keys failed: INVALID_API_KEYS\nWhat to do: Copy the keys again." in text.stdout
    for notebook in catalog.NOTEBOOK_NAMES:
        assert notebook in text.stdout
    data = json.loads(kore_plaid("progress", "--json", env={"KORE_PLAID_TRAINEE": "ann"}).stdout)
    assert data["trainee"] == "ann"
    assert [n["notebook"] for n in data["notebooks"]] == list(catalog.NOTEBOOK_NAMES)
    assert [n["status"] for n in data["notebooks"][:3]] == ["pass", "fail", "pending"]
    assert data["notebooks"][1]["steps"][2] == {
        "step": "check_plaid_keys",
        "status": "fail",
        "message": "INVALID_API_KEYS",
        "fix": "Copy the keys again.",
        "at": data["notebooks"][1]["at"],
    }


def test_progress_command_works_with_a_wrong_setting(home: Path) -> None:
    text = kore_plaid("progress", env={"PLAID_ENV": "development"})
    assert text.returncode == 0 and "0 of 9 notebooks done" in text.stdout


def test_reset_stops_services_removes_items_and_keeps_or_clears_progress(home: Path) -> None:
    from kore_plaid_nb import services, stack

    current = settings.load()
    stack.ensure_bridge(current)
    progress.record(current, "03_bridge", "start_bridge", "pass")
    assert {r.name for r in services.running(home)} == {"bridge", "emulator"}
    kept = kore_plaid("reset")
    assert kept.returncode == 0, kept.stderr
    assert "stopped bridge" in kept.stdout and "stopped emulator" in kept.stdout
    assert "removed emulator.sqlite3" in kept.stdout and "progress kept" in kept.stdout
    assert services.running(home) == []
    assert not (home / "emulator.sqlite3").exists()
    assert len(journal.read(home)) == 1
    cleared = kore_plaid("reset", "--clear-progress")
    assert "forgot 1 progress event(s)" in cleared.stdout
    assert journal.read(home) == []
