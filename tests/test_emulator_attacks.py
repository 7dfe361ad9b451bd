"""The attacker's path against the emulator (issue 15): hostile bodies (deep nesting, lone
surrogates, NaN, huge or aborted bodies) and the fault controls get a Plaid-shaped 4xx, never
a 5xx; the emulator's memory, log and state folder stay as promised."""

from __future__ import annotations

import functools
import json
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from kore_plaid_nb import services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.emulator import create_app, endpoints, ensure_emulator, stop_emulator
from kore_plaid_nb.emulator.body import MAX_BODY_BYTES
from kore_plaid_nb.settings import Settings

SPEC = Path(__file__).resolve().parent / "openapi" / "emulator.yaml"
STAND_IN = ("/link/_standin/session", "/link/_standin/complete")
FAULTS = "/_emulator/faults"
EVERY_POST = (*endpoints.ENDPOINTS, *STAND_IN, FAULTS)
PLAID_ERROR_FIELDS = {"error_type", "error_code", "error_message", "display_message", "request_id"}
FIFTY_MB = 50 * 1024 * 1024
CLIENT: httpx.Client


def credentials(settings: Settings | None = None) -> dict[str, str]:
    settings = settings or Settings()
    return {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}


@pytest.fixture(scope="module", autouse=True)
def client() -> Iterator[httpx.Client]:
    global CLIENT
    with httpx.Client(timeout=10) as CLIENT:
        yield CLIENT


def post(url: str, path: str, raw: bytes, **headers: str) -> httpx.Response:
    sent = {**credentials(), "Content-Type": "application/json", **headers}
    return CLIENT.post(url + path, content=raw, headers=sent)


def assert_plaid_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()
    assert PLAID_ERROR_FIELDS <= set(error), error
    assert (error["error_type"], error["error_code"]) == ("INVALID_REQUEST", code), error
    assert re.fullmatch(r"[A-Za-z0-9]{15}", error["request_id"])
    return error


@functools.cache
def emulator_spec() -> dict:
    """The emulator's OpenAPI description, parsed once (70 ms a parse)."""
    return yaml.safe_load(SPEC.read_text())


def body_fields(path: str) -> list[str]:
    """The request fields of ``path`` (from the emulator's OpenAPI description)."""
    if path == FAULTS:
        return ["endpoint", "count", "error_code", "status", "error_type", "delay"]
    if path in STAND_IN:
        return ["link_token", "institution_id", "username", "password", "received_redirect_uri"]
    schema = emulator_spec()["paths"][path]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return list(schema["properties"])


# ---------------------------------------------------------------------------- raw sockets


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path: str, url: str, *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {urlsplit(url).netloc}",
        "Content-Type: application/json",
        *(f"{name}: {value}" for name, value in credentials().items()),
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Status, headers and JSON body of one response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    header_block, rest = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, value in (line.split(":", 1) for line in header_lines)
    )
    while len(rest) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of the response"
        rest += chunk
    return int(status_line.split()[1]), headers, json.loads(rest)


def send_until_refused(sock: socket.socket, total: int, chunked: bool) -> int:
    """Send up to ``total`` body bytes; returns how many were accepted before the server
    closed the connection (``total`` when it never did)."""
    piece = b"x" * 65536
    framed = b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece
    sent = 0
    try:
        while sent < total:
            sock.sendall(framed)
            sent += len(piece)
    except OSError:  # EPIPE / ECONNRESET: the server closed the connection
        return sent
    return sent


# ---------------------------------------------------------------------------- 1. nesting


@pytest.mark.parametrize("path", EVERY_POST)
def test_deeply_nested_bodies_are_invalid_requests(emulator_url: str, path: str) -> None:
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    field = body_fields(path)[0]
    just_too_deep = json.dumps({field: json.loads("[" * 40 + "]" * 40)}).encode()
    for raw in (deep_list, deep_object, b"[" * 100_000, just_too_deep):
        error = assert_plaid_error(post(emulator_url, path, raw), 400, "INVALID_BODY")
        assert "nested" in error["error_message"] or "parsed" in error["error_message"]


@pytest.mark.parametrize("path", EVERY_POST)
def test_lone_surrogates_in_any_field_are_invalid_requests(emulator_url: str, path: str) -> None:
    bodies = [{name: "\ud800"} for name in body_fields(path)]
    bodies += [
        {"\udfff": "x"},
        {body_fields(path)[0]: ["ok", {"deeper": "a\udc00b"}]},
        {"client_id": "\ud800", "secret": "\ud800"},
    ]
    for body in bodies:
        raw = json.dumps(body).encode()  # ASCII, with "\ud800"-style escapes
        error = assert_plaid_error(post(emulator_url, path, raw), 400, "INVALID_BODY")
        assert "surrogate" in error["error_message"], error


def test_nan_infinity_and_overflowing_numbers_are_invalid_requests(emulator_url: str) -> None:
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        raw = b'{"access_token": "access-sandbox-x", "count": %b}' % literal
        assert_plaid_error(post(emulator_url, "/transactions/sync", raw), 400, "INVALID_BODY")
        raw = b'{"endpoint": "/item/get", "delay": %b}' % literal
        assert_plaid_error(post(emulator_url, FAULTS, raw), 400, "INVALID_BODY")
    assert httpx.get(emulator_url + FAULTS, headers=credentials()).json() == {"faults": []}


def test_a_valid_unicode_body_still_works(emulator_url: str) -> None:
    body = {"institution_id": "ins_109508", "country_codes": ["US"], "options": {"x": "é 😀"}}
    raw = json.dumps(body).encode()  # the emoji as a valid surrogate pair escape
    response = post(emulator_url, "/institutions/get_by_id", raw)
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------------------- 2. body size


def test_a_declared_oversized_body_is_refused_before_it_is_sent(emulator_url: str) -> None:
    with connect(emulator_url) as sock:
        sock.sendall(head("/item/get", emulator_url, f"Content-Length: {FIFTY_MB}"))
        status, headers, error = read_response(sock)  # not one body byte was sent
    assert (status, error["error_type"], error["error_code"]) == (
        413,
        "INVALID_REQUEST",
        "INVALID_BODY",
    )
    assert PLAID_ERROR_FIELDS <= set(error)
    assert "1 MiB" in error["error_message"]
    assert headers["connection"] == "close"


def test_a_streamed_oversized_body_is_refused_at_the_limit(emulator_url: str) -> None:
    with connect(emulator_url) as sock:
        sock.sendall(head("/accounts/get", emulator_url, "Transfer-Encoding: chunked"))
        sent = send_until_refused(sock, MAX_BODY_BYTES + 4 * 65536, chunked=True)
        status, headers, error = read_response(sock)  # the body is not finished
        assert (status, error["error_code"]) == (413, "INVALID_BODY")
        assert headers["connection"] == "close"
        # The server stopped reading: the rest of a 50 MB body is refused.
        sent += send_until_refused(sock, FIFTY_MB - sent, chunked=True)
    assert sent < 16 * 1024 * 1024


def test_a_body_at_the_limit_is_still_read(emulator_url: str) -> None:
    padding = "x" * (MAX_BODY_BYTES - 200)
    raw = json.dumps({"institution_id": "ins_109508", "country_codes": ["US"], "p": padding})
    assert len(raw) <= MAX_BODY_BYTES
    assert post(emulator_url, "/institutions/get_by_id", raw.encode()).status_code == 200


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """``kore-plaid sandbox`` in its own process: (url, pid, log file)."""
    settings = Settings(home=tmp_path_factory.mktemp("attacks-home"))
    record = ensure_emulator(settings, port=services.free_port())
    try:
        yield record.url, record.pid, services.logs_dir(settings.home) / "emulator.log"
    finally:
        stop_emulator(settings)


def peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_50_mb_body_does_not_grow_the_emulator(background: tuple[str, int, Path]) -> None:
    url, pid, _ = background
    assert httpx.post(url + "/item/get", json={}, headers=credentials()).status_code == 400
    before = peak_rss_kb(pid)
    for chunked in (True, False):
        with connect(url) as sock:
            extra = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {FIFTY_MB}"
            sock.sendall(head("/item/get", url, extra))
            sent = send_until_refused(sock, FIFTY_MB, chunked=chunked)
        assert sent < FIFTY_MB
    assert httpx.get(url + "/healthz").status_code == 200
    grown_mb = (peak_rss_kb(pid) - before) / 1024
    assert grown_mb < 20, f"the emulator's peak memory grew by {grown_mb:.0f} MB"


# ---------------------------------------------------------------------------- 4. aborted bodies


def test_a_client_aborting_mid_body_logs_one_line(background: tuple[str, int, Path]) -> None:
    url, _, log_path = background
    start = log_path.stat().st_size
    with connect(url) as sock:
        sock.sendall(head("/item/get", url, "Content-Length: 1000") + b'{"access_t')
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while log_path.stat().st_size == start and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # whatever else it would log arrives by now
    assert httpx.get(url + "/healthz").status_code == 200
    logged = log_path.read_bytes()[start:].decode().splitlines()
    assert len(logged) == 1, logged
    assert "closed the connection" in logged[0] and "Traceback" not in logged[0]
    assert "/item/get" in logged[0] and "10 of 1000" in logged[0]


# ---------------------------------------------------------------------------- 3. fault controls


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"endpoint": "/item/get", "error_code": "RATE_LIMIT"}', "text/plain"),
        (b"endpoint=%2Fitem%2Fget&error_code=RATE_LIMIT", "application/x-www-form-urlencoded"),
        (b'{"endpoint": "/item/get"}', "multipart/form-data; boundary=x"),
        (b'{"endpoint": "/item/get"}', None),
    ],
)
def test_fault_control_takes_only_json(
    emulator_url: str, content: bytes, content_type: str | None
) -> None:
    headers = {**credentials(), **({"Content-Type": content_type} if content_type else {})}
    response = httpx.post(emulator_url + FAULTS, content=content, headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()
    assert (error["error_type"], error["error_code"]) == ("INVALID_REQUEST", "INVALID_HEADERS")
    assert "application/json" in error["error_message"]
    assert httpx.get(emulator_url + FAULTS, headers=credentials()).json() == {"faults": []}


@pytest.mark.parametrize(
    "fault",
    [
        {"delay": 31},
        {"delay": -1},
        {"delay": 1e308},
        {"delay": True},
        {"delay": "1"},
        {"count": 0},
        {"count": 1001},
        {"count": 10**300},
        {"status": 600},
        {"status": 399},
        {"status": True},
        {"error_code": "rate limit"},
        {"error_code": "X" * 65},
        {"error_type": "<script>"},
        {"endpoint": "/nope" * 1000},
    ],
)
def test_out_of_range_fault_values_are_refused(emulator_url: str, fault: dict) -> None:
    body = {"endpoint": "/item/get", "error_code": "RATE_LIMIT", **fault}
    response = post(emulator_url, FAULTS, json.dumps(body).encode())
    error = assert_plaid_error(response, 400, "INVALID_FIELD")
    assert next(iter(fault)) in error["error_message"]
    assert len(error["error_message"]) < 300
    listed = CLIENT.get(emulator_url + FAULTS, headers=credentials())
    assert (listed.status_code, listed.json()) == (200, {"faults": []})


def test_in_range_faults_are_listed_and_pending_faults_are_bounded(emulator_url: str) -> None:
    good = {"endpoint": "*", "count": 1000, "delay": 30, "status": 599, "error_code": "X_1"}
    try:
        for _ in range(100):
            assert post(emulator_url, FAULTS, json.dumps(good).encode()).status_code == 200
        refused = post(emulator_url, FAULTS, json.dumps(good).encode())
        assert "DELETE" in assert_plaid_error(refused, 400, "INVALID_FIELD")["error_message"]
        listed = httpx.get(emulator_url + FAULTS, headers=credentials())
        assert listed.status_code == 200 and len(listed.json()["faults"]) == 100
    finally:
        httpx.delete(emulator_url + FAULTS, headers=credentials())


# ---------------------------------------------------------------------------- 5. state folder


@pytest.mark.usefixtures("umask_022")
def test_the_state_folder_is_created_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("KORE_PLAID_HOME", str(home))
    other = tmp_path / "explicit-home"
    state = tmp_path / "state-dir" / "emu.sqlite3"
    for settings, state_path in (
        (settings_module.load(), None),  # what `kore-plaid sandbox` does
        (Settings(home=other), None),
        (Settings(home=other), state),
    ):
        create_app(settings, state_path=state_path).state.emulator.store.close()
    for folder in (home, other, state.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
