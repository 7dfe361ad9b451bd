"""The bridge's logs, as an operator reads them (issue 24): a real ``kore-plaid bridge``
process in each format (``BRIDGE_LOG_FORMAT`` text and json) serves 50 authorizations, a
refused webhook, a replayed code, a Plaid error, an Item's repair (its bank asks for the login
again, ``kore-plaid items --new-repair-link``, the repair page, Link in update mode, ``done``)
and a Link-exit beacon; then every line of its stderr is read.

* json: every line is one JSON object with time, level and event; request lines carry the
  request id, the route's template, the status and the duration; Plaid calls carry Plaid's
  request id;
* text: every line has the readable layout;
* both: no line holds a secret seen during the run (public token, code, access token,
  refresh token, session, Link token, client secret, repair token, item_ref) nor a query
  string; the repair routes are named by their template (``/repair/{token}``) only;
* ``X-Request-Id``: an untrusted caller's is replaced, a trusted proxy's is echoed, and the
  id is on the error page and in the JSON errors.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bridge_support import TOKEN_PATH, authorize_query, exchange, query_of, sandbox_public_token

from kore_plaid_nb import plaid_client, services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import logs, running_bridge
from kore_plaid_nb.bridge.items import list_items, new_repair_link
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries

AUTHORIZATIONS = 50
USERS = 4
JSON = {"Accept": "application/json"}
UNTRUSTED_PEER = "127.0.0.2"  # a loopback address of its own, not in FORWARDED_ALLOW_IPS
GENERATED_ID = re.compile(r"[0-9a-f]{16}")
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"[A-Za-z0-9_.]+: \S.*"
)
QUERY = re.compile(r"\?[^\s\"'=&]+=")
REPAIR_ROUTES = {"/repair/{token}", "/repair/{token}/link_token", "/repair/{token}/done"}
ROUTE_TEMPLATES = {
    "/",
    "/api/link_token",
    "/api/set_access_token",
    "/api/link_exit",
    TOKEN_PATH,
    "/plaid/webhook",
    "/healthz",
    "(no route)",
    *REPAIR_ROUTES,
}

pytestmark = pytest.mark.timeout(180)


@dataclass
class Seen:
    """What the run handed out: every secret, and what the X-Request-Id checks saw."""

    secrets: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, *values: str) -> None:
        with self.lock:
            self.secrets.update(v for v in values if v)


@dataclass
class BridgeRun:
    url: str
    settings: settings_module.Settings
    process: subprocess.Popen[bytes]
    stderr: Path

    def stop(self) -> list[str]:
        """Stop the bridge as ``kore-plaid stop`` does (SIGTERM); its stderr's lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.stderr.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def start_bridge(tmp_path: Path, emulator_url: str) -> Iterator[object]:
    started: list[BridgeRun] = []

    def start(log_format: str, workers: int) -> BridgeRun:
        home = tmp_path / f"home-{log_format}"
        home.mkdir()
        port = services.free_port()
        env = {
            **os.environ,
            "KORE_PLAID_HOME": str(home),
            "KORE_PLAID_ENV_FILE": str(tmp_path / f"{log_format}.env"),
            "PLAID_API_URL": emulator_url,
            "APP_PORT": str(port),
            "KORE_SIMULATOR_PORT": str(services.free_port()),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            "BRIDGE_SESSIONS_PER_ADDRESS": "1000",
            "BRIDGE_LOG_FORMAT": log_format,
            "BRIDGE_LOG_LEVEL": "info",
        }
        settings = settings_module.load(env)
        stderr = tmp_path / f"bridge-{log_format}.stderr"
        with open(stderr, "wb") as err:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kore_plaid_nb",
                    "bridge",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        run = BridgeRun(f"http://127.0.0.1:{port}", settings, process, stderr)
        started.append(run)
        healthy = services.wait_healthy(run.url + "/healthz", timeout=30, pid=process.pid)
        assert healthy, stderr.read_text()
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(timeout=10)


def authorization(run: BridgeRun, http: httpx.Client, seen: Seen, n: int) -> None:
    """Authorization URL -> Link token -> Link's public token -> code -> token exchange."""
    settings = run.settings
    start = http.get(run.url + "/?" + authorize_query(settings, f"st-{n}"), headers=JSON)
    assert start.status_code == 200, start.text
    session, link_token = start.json()["session"], start.json()["link_token"]
    again = http.post(run.url + "/api/link_token", json={"session": session})
    assert again.status_code == 200, again.text
    public_token = sandbox_public_token(settings)
    seen.keep(session, link_token, again.json()["link_token"], public_token)
    done = http.post(
        run.url + "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    assert done.status_code == 200, done.text
    code = query_of(done.json()["redirect_to"])["code"]
    seen.keep(code)
    token = exchange(http, run.url, settings, code)
    assert token.status_code == 200, token.text
    seen.keep(token.json()["access_token"], token.json()["refresh_token"])


def drive(run: BridgeRun, emulator_url: str) -> tuple[Seen, dict[str, str]]:
    """The run: authorizations, a refused webhook, a replayed code, a Plaid error and the
    X-Request-Id checks; returns the secrets and the ids the checks saw."""
    seen, ids = Seen(), {}
    seen.keep(run.settings.secret)
    with httpx.Client(timeout=30) as http:
        with ThreadPoolExecutor(USERS) as pool:
            list(pool.map(lambda n: authorization(run, http, seen, n), range(AUTHORIZATIONS)))
        refused = http.post(
            run.url + "/plaid/webhook",
            content=b'{"webhook_type": "ITEM", "webhook_code": "ERROR"}',
            headers={"Content-Type": "application/json", "Plaid-Verification": "not.a.jwt"},
        )
        assert refused.status_code in (400, 401), refused.text
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        ids["webhook"] = refused.headers["x-request-id"]
        ids.update(replayed_code(run, http, seen))
        ids.update(plaid_error(run, http, seen, emulator_url))
        ids.update(repair(run, http, seen, emulator_url))
        ids.update(link_exit(run, http, seen))
        ids.update(request_id_trust(run, http))
    return seen, ids


def replayed_code(run: BridgeRun, http: httpx.Client, seen: Seen) -> dict[str, str]:
    start = http.get(run.url + "/?" + authorize_query(run.settings, "st-replay"), headers=JSON)
    session = start.json()["session"]
    public_token = sandbox_public_token(run.settings)
    done = http.post(
        run.url + "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    code = query_of(done.json()["redirect_to"])["code"]
    first = exchange(http, run.url, run.settings, code)
    grant = first.json()
    seen.keep(session, public_token, code, grant["access_token"], grant["refresh_token"])
    replay = exchange(http, run.url, run.settings, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    return {"replay": replay.headers["x-request-id"]}


def plaid_error(
    run: BridgeRun, http: httpx.Client, seen: Seen, emulator_url: str
) -> dict[str, str]:
    """Plaid refuses the public token exchange (ITEM_LOGIN_REQUIRED): a readable 400."""
    start = http.get(run.url + "/?" + authorize_query(run.settings, "st-plaid"), headers=JSON)
    session = start.json()["session"]
    public_token = sandbox_public_token(run.settings)
    seen.keep(session, start.json()["link_token"], public_token)
    exchange_path = "/item/public_token/exchange"
    faults.inject(
        emulator_url, exchange_path, error_code="ITEM_LOGIN_REQUIRED", settings=run.settings
    )
    failed = http.post(
        run.url + "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    assert failed.status_code == 400, failed.text
    body = failed.json()
    assert body["plaid_error_code"] == "ITEM_LOGIN_REQUIRED"
    assert body["request_id"] == failed.headers["x-request-id"]
    return {"plaid_error": failed.headers["x-request-id"]}


def broken_item(run: BridgeRun, http: httpx.Client, seen: Seen, emulator_url: str) -> str:
    """An Item whose bank asks for its login again (Plaid's signed ITEM ERROR webhook reached
    the bridge); its ``item_ref``."""
    start = http.get(run.url + "/?" + authorize_query(run.settings, "st-repair"), headers=JSON)
    session = start.json()["session"]
    public_token = sandbox_public_token(run.settings, webhook=run.url + "/plaid/webhook")
    done = http.post(
        run.url + "/api/set_access_token", json={"session": session, "public_token": public_token}
    )
    code = query_of(done.json()["redirect_to"])["code"]
    grant = exchange(http, run.url, run.settings, code).json()
    seen.keep(session, start.json()["link_token"], public_token, code, grant["access_token"])
    seen.keep(grant["refresh_token"])
    plaid_client.sandbox_reset_login(run.settings, grant["access_token"])
    wait_for_deliveries(emulator_url, run.settings.client_id, run.settings.secret)
    [item] = [
        i
        for i in list_items(run.settings, lookup=False, repair_links=False)
        if i["health"] == "ITEM_LOGIN_REQUIRED"
    ]
    return str(item["item_ref"])


def repair(run: BridgeRun, http: httpx.Client, seen: Seen, emulator_url: str) -> dict[str, str]:
    """``kore-plaid items --new-repair-link``, then the user's repair: the page, Link in update
    mode (the emulator's stand-in), ``done``."""
    item_ref = broken_item(run, http, seen, emulator_url)
    token = str(new_repair_link(run.settings, item_ref)["repair_url"]).rsplit("/", 1)[1]
    seen.keep(item_ref, token)
    page = http.get(f"{run.url}/repair/{token}")
    assert page.status_code == 200, page.text
    issued = http.post(f"{run.url}/repair/{token}/link_token", json={})
    assert issued.status_code == 200, issued.text
    link_token = issued.json()["link_token"]
    seen.keep(link_token)
    standin = f"{emulator_url}/link/_standin/"
    [bank] = http.post(standin + "session", json={"link_token": link_token}).json()["institutions"]
    login = {"username": "user_good", "password": "pass_good"}
    relogged = http.post(
        standin + "complete",
        json={"link_token": link_token, "institution_id": bank["institution_id"], **login},
    )
    assert relogged.status_code == 200, relogged.text
    done = http.post(f"{run.url}/repair/{token}/done", json={"link_token": link_token})
    assert done.status_code == 200 and done.json() == {"repaired": True}, done.text
    return {"repair_page": page.headers["x-request-id"], "repaired": done.headers["x-request-id"]}


def link_exit(run: BridgeRun, http: httpx.Client, seen: Seen) -> dict[str, str]:
    """The page's beacon when the user closes Link (or presses Cancel)."""
    start = http.get(run.url + "/?" + authorize_query(run.settings, "st-exit"), headers=JSON)
    session = start.json()["session"]
    seen.keep(session, start.json()["link_token"])
    beacon = http.post(run.url + "/api/link_exit", json={"session": session, "error": False})
    assert beacon.status_code == 204, beacon.text
    return {"link_exit": beacon.headers["x-request-id"]}


def request_id_trust(run: BridgeRun, http: httpx.Client) -> dict[str, str]:
    """A trusted proxy's X-Request-Id is echoed; anyone else's is replaced; the error page
    shows the id to quote."""
    trusted = http.get(run.url + "/healthz", headers={"X-Request-Id": "proxy-chosen-1"})
    assert trusted.headers["x-request-id"] == "proxy-chosen-1"
    transport = httpx.HTTPTransport(local_address=UNTRUSTED_PEER)
    with httpx.Client(transport=transport, timeout=30) as stranger:
        claimed = stranger.get(run.url + "/healthz", headers={"X-Request-Id": "caller-chosen-1"})
        assert GENERATED_ID.fullmatch(claimed.headers["x-request-id"]), claimed.headers
        page = stranger.get(run.url + "/?response_type=code")  # a browser: the error page
    assert page.status_code == 400 and "<html" in page.text
    assert f"Request id: <code>{page.headers['x-request-id']}</code>" in page.text
    return {"trusted": "proxy-chosen-1", "untrusted": claimed.headers["x-request-id"]}


def assert_no_secret(lines: list[str], seen: Seen) -> None:
    assert len(seen.secrets) > 6 * AUTHORIZATIONS
    for line in lines:
        leaked = [s for s in seen.secrets if s in line]
        assert not leaked, f"a secret in the log: {line}"
        assert not QUERY.search(line), f"a query string in the log: {line}"


def json_records(lines: list[str]) -> list[dict[str, object]]:
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "event"} <= record.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(record["time"])), line
        assert re.fullmatch(r"[a-z][a-z0-9_]*", str(record["event"])), line
        records.append(record)
    return records


def check_json(lines: list[str], ids: dict[str, str]) -> None:
    records = json_records(lines)
    requests = [r for r in records if r["event"] == "http_request"]
    assert len(requests) >= AUTHORIZATIONS * 4
    for r in requests:
        assert r["route"] in ROUTE_TEMPLATES, r
        assert isinstance(r["status"], int) and isinstance(r["duration_ms"], float), r
        assert r["request_id"] and "client" not in r, r
    by_id = {r["request_id"]: r for r in requests}
    assert by_id[ids["trusted"]]["route"] == "/healthz"
    assert by_id[ids["untrusted"]]["status"] == 200
    assert by_id[ids["replay"]]["status"] == 400 and by_id[ids["replay"]]["route"] == TOKEN_PATH
    assert by_id[ids["webhook"]]["route"] == "/plaid/webhook"
    assert by_id[ids["repair_page"]]["route"] == "/repair/{token}"
    assert by_id[ids["repaired"]]["route"] == "/repair/{token}/done"
    assert by_id[ids["link_exit"]]["route"] == "/api/link_exit"
    assert by_id[ids["link_exit"]]["status"] == 204
    repairs = [r for r in requests if "repair" in str(r["route"])]
    assert {str(r["route"]) for r in repairs} == REPAIR_ROUTES  # templates, never the token
    plaid_calls = [r for r in records if r["event"] == "plaid_call"]
    assert len(plaid_calls) >= AUTHORIZATIONS * 2
    assert all(r["plaid_request_id"] for r in plaid_calls), plaid_calls[:3]
    assert {"ITEM_LOGIN_REQUIRED", "ok"} <= {str(r["outcome"]) for r in plaid_calls}
    failed_call = [r for r in plaid_calls if r["request_id"] == ids["plaid_error"]]
    assert [r["outcome"] for r in failed_call] == ["ITEM_LOGIN_REQUIRED"]
    started = [r for r in records if r["event"] == "started_server_process"]
    assert len(started) == 2 and started[0]["logger"] == "uvicorn.error"  # one per worker
    assert not [r for r in records if r["logger"] == "uvicorn.access"]  # the bridge's line only


@pytest.mark.parametrize(("log_format", "workers"), [("text", 1), ("json", 2)])
def test_every_log_line_is_valid_and_holds_no_secret(
    start_bridge, emulator_url: str, log_format: str, workers: int
) -> None:
    """json runs two workers: each sets up its logs again after uvicorn's own setup."""
    run = start_bridge(log_format, workers)
    seen, ids = drive(run, emulator_url)
    lines = run.stop()
    assert len(lines) > AUTHORIZATIONS * 4
    assert_no_secret(lines, seen)
    if log_format == "json":
        check_json(lines, ids)
    else:
        bad = [line for line in lines if not TEXT_LINE.fullmatch(line)]
        assert not bad, bad[:5]
        assert any(f"[request {ids['trusted']}]" in line for line in lines)
        assert any(f"POST {TOKEN_PATH} 200 " in line for line in lines)
        repairs = [line for line in lines if "/repair/" in line]
        shown = {line.split(" /repair/", 1)[1].split(" ", 1)[0] for line in repairs}
        assert shown == {"{token}", "{token}/link_token", "{token}/done"}, repairs
        assert any(f"[request {ids['link_exit']}]" in line for line in lines)


# -- The same rules, in this process (fast)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever :func:`logs.configure` changes is put back afterwards."""
    names = ["", *logs.UVICORN_LOGGERS, *logs.QUIET_LIBRARIES]
    kept = {
        n: (list(lg.handlers), lg.level, lg.propagate)
        for n in names
        if (lg := logging.getLogger(n))
    }
    yield
    for name, (handlers, level, propagate) in kept.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_carry_uvicorn_lines_and_keep_a_traceback_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(settings_module.load({**os.environ, "BRIDGE_LOG_FORMAT": "json"}))
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("kore_plaid_nb.bridge").exception("unexpected error in %s", "GET /")
    lines = capsys.readouterr().err.splitlines()
    started, failed = (json.loads(line) for line in lines)
    assert started["event"] == "started_server_process" and started["level"] == "info"
    assert started["logger"] == "uvicorn.error" and started["message"].endswith("[42]")
    assert failed["event"] == "unexpected_error_in" and failed["level"] == "error"
    assert "Traceback" in failed["exc_info"] and "ValueError: boom" in failed["exc_info"]


@pytest.mark.usefixtures("restored_logging")
def test_text_is_the_default_one_line_layout_at_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(settings_module.load())
    log = logging.getLogger("kore_plaid_nb.bridge")
    log.info("not shown at the default level")
    log.warning("store unavailable: %s", "line one\nline two")
    [line] = capsys.readouterr().err.splitlines()
    assert TEXT_LINE.fullmatch(line), line
    assert line.endswith("WARNING kore_plaid_nb.bridge: store unavailable: line one\\nline two")


@pytest.mark.parametrize("log_format", logs.FORMATS)
@pytest.mark.usefixtures("restored_logging")
def test_a_traceback_stays_on_its_record_s_one_line(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """Tracebacks and odd line breaks in a message (a Plaid text, an exception's) included:
    a line-based reader never splits a record."""
    logs.configure(settings_module.load({**os.environ, "BRIDGE_LOG_FORMAT": log_format}))
    log = logging.getLogger("kore_plaid_nb.bridge")
    try:
        raise ValueError("boom\nsecond line\u2028third")
    except ValueError:
        log.exception("unexpected error in %s", "GET /\r\nforged 2026 line")
    log.warning("after it")
    first, after = capsys.readouterr().err.splitlines()
    if log_format == "json":
        record = json.loads(first)
        text = str(record["exc_info"])
        assert record["message"] == "unexpected error in GET /\r\nforged 2026 line"
    else:
        assert TEXT_LINE.fullmatch(first) and TEXT_LINE.fullmatch(after), (first, after)
        assert "ERROR kore_plaid_nb.bridge: unexpected error in GET /\\r\\nforged" in first
        text = first.replace("\\n", "\n").replace("\\u2028", "\u2028")
    assert "Traceback (most recent call last):\n" in text
    assert text.rstrip().endswith("ValueError: boom\nsecond line\u2028third")
    assert after.endswith("after it") or json.loads(after)["message"] == "after it"


@pytest.mark.parametrize("log_format", logs.FORMATS)
@pytest.mark.usefixtures("restored_logging")
def test_a_configured_secret_in_an_exception_s_text_is_redacted(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """An exception the bridge did not word (a driver's, a library's) may quote the database
    URL or a key: the configured secrets never reach the line, traceback included."""
    password, plaid_secret = "db-pass/word-0123", "plaid-secret-0123456789abcdef"
    environ = {
        **os.environ,
        "BRIDGE_LOG_FORMAT": log_format,
        "BRIDGE_DB": f"postgresql://kore:{password}@db.example:5432/kp",
        "PLAID_CLIENT_ID": "client-id-0123456789",
        "PLAID_SECRET": plaid_secret,
    }
    logs.configure(settings_module.load(environ))
    try:
        raise RuntimeError(f'connect "{environ["BRIDGE_DB"]}" failed')
    except RuntimeError:
        logging.getLogger("kore_plaid_nb.bridge").exception("store unavailable: %s", plaid_secret)
    [line] = capsys.readouterr().err.splitlines()
    assert password not in line and plaid_secret not in line, line
    assert "postgresql://kore:[redacted]@db.example:5432/kp" in line
    assert "store unavailable: [redacted]" in line


def test_request_ids_are_honoured_from_trusted_proxies_only(home: Path) -> None:
    """Behind a trusted proxy, its X-Request-Id and X-Forwarded-For count; from anyone
    else, neither does; the error page and the JSON errors show the id."""
    settings = settings_module.load().with_values(forwarded_allow_ips=("127.0.0.1",))
    with running_bridge(settings) as url:
        sent = {"X-Request-Id": "proxy-chosen-2", "X-Forwarded-For": "203.0.113.9"}
        proxied = httpx.get(url + "/healthz", headers=sent)
        transport = httpx.HTTPTransport(local_address=UNTRUSTED_PEER)
        with httpx.Client(transport=transport) as stranger:
            claimed = stranger.get(url + "/healthz", headers=sent)
            page = stranger.get(url + "/?response_type=code")
            api = stranger.post(url + "/api/link_token", json={"session": "x" * 43})
    assert proxied.headers["x-request-id"] == "proxy-chosen-2"
    assert GENERATED_ID.fullmatch(claimed.headers["x-request-id"])
    assert page.status_code == 400
    assert f"Request id: <code>{page.headers['x-request-id']}</code>" in page.text
    assert api.status_code >= 400 and api.json()["request_id"] == api.headers["x-request-id"]


def test_unknown_paths_and_methods_answer_the_one_error_model(home: Path) -> None:
    """404 and 405 are not Starlette's plain text: JSON with the request id for a program,
    the readable page with the id to quote for a browser; the token endpoint's in RFC 6749's
    shape; /metrics without its token is a 404 like any unknown path."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with running_bridge(settings_module.load()) as url, httpx.Client(base_url=url) as http:
        unknown, metrics = http.get("/no/such/page"), http.get("/metrics")
        unknown_page = http.get("/no/such/page", headers=browser)
        wrong_method = http.get("/api/set_access_token")
        wrong_token_method = http.get(TOKEN_PATH)
        wrong_method_page = http.post("/healthz", headers=browser)
    for answer in (unknown, metrics, wrong_method):
        assert answer.status_code in (404, 405), answer.text
        body = answer.json()
        assert body.keys() == {"error", "message", "fix", "request_id"}, body
        assert body["request_id"] == answer.headers["x-request-id"]
    assert (unknown.status_code, metrics.status_code) == (404, 404)
    assert wrong_method.json()["error"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    oauth = wrong_token_method.json()
    assert wrong_token_method.status_code == 405 and oauth["error"] == "invalid_request"
    assert (
        oauth["error_description"]
        and oauth["request_id"] == wrong_token_method.headers["x-request-id"]
    )
    for page, status in ((unknown_page, 404), (wrong_method_page, 405)):
        assert page.status_code == status and "<html" in page.text
        assert f"Request id: <code>{page.headers['x-request-id']}</code>" in page.text


@pytest.mark.parametrize(
    ("template", "event"),
    [
        ("store unavailable: %s", "store_unavailable"),
        ("%d request shape(s) not recorded: %s", "request_shape_s_not_recorded"),
        ("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", "uvicorn_running_on"),
        ("%(x)s", "log"),
    ],
)
def test_an_event_name_comes_from_the_message_template(template: str, event: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, template, (), None)
    assert logs.event_name(record) == event
