"""Issue 28: the bridge's hot path calls Plaid on the event loop (``*_async``,
:mod:`kore_plaid_nb.bridge.plaid_async`, aiohttp) instead of plaid-python in the thread pool.
Each Plaid failure a real local server can produce (Plaid's error bodies, 429, 5xx, non-JSON
bodies, timeouts, dropped, reset and cut connections, a port where nothing listens, a
certificate nobody signed) runs through both paths; both must give the same result: the same
answer or :class:`LinkStepError` refusal (status, code, message, fix, step, values), the same
requests at the server (count, path, body, keys), the same recorded Plaid calls (endpoint,
outcome, request_id) and log lines, the same spent public token and Item error reports."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.metrics import recording
from kore_plaid_nb.bridge.plaid_link import LinkStepError, PlaidLink, RetryPolicy
from kore_plaid_nb.bridge.refusal import Refusal

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.001, max_delay=0.001)
TIMEOUT = 0.4  # seconds: the "hang" replies wait longer than this
# The client's timeout when no reply hangs: the stub answers at once, but on a loaded machine
# an answer can take longer than TIMEOUT, and would then be a timeout on one path only.
ANSWERED_TIMEOUT = 5.0
PLAID_CALL = recording.plaid_call  # counts, times and logs: wrapped by each run, kept


@dataclass(frozen=True)
class Reply:
    """What the stub does with one request."""

    kind: str = "answer"  # answer | close | reset | hang | truncate | garbage
    status: int = 200
    reason: str = "OK"
    body: bytes = b"{}"
    content_type: str = "application/json"


def plaid_error(status: int, error_type: str, code: str, reason: str = "Bad Request") -> Reply:
    body = {
        "error_type": error_type,
        "error_code": code,
        "error_message": f"{code.lower()} said Plaid",
        "display_message": None,
        "request_id": "req-" + code[:20],
    }
    return Reply(status=status, reason=reason, body=json.dumps(body).encode())


LINK_TOKEN = Reply(body=b'{"link_token": "link-sandbox-1", "request_id": "req-ok1"}')
EXCHANGED = Reply(body=b'{"item_id": "item-1", "access_token": "access-s-1", "request_id": "r2"}')
REMOVED = Reply(body=b'{"request_id": "req-removed"}')
HTML = "text/html"

# (name, replies in order: the last one repeats)
FAILURES: list[tuple[str, list[Reply]]] = [
    ("invalid_field", [plaid_error(400, "INVALID_REQUEST", "INVALID_FIELD")]),
    ("invalid_public_token", [plaid_error(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")]),
    ("invalid_link_token", [plaid_error(400, "INVALID_INPUT", "INVALID_LINK_TOKEN")]),
    ("invalid_api_keys", [plaid_error(400, "INVALID_INPUT", "INVALID_API_KEYS")]),
    ("invalid_access_token", [plaid_error(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")]),
    ("item_login_required", [plaid_error(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")]),
    ("products", [plaid_error(400, "INVALID_REQUEST", "PRODUCTS_NOT_SUPPORTED")]),
    ("unauthorized", [plaid_error(401, "INVALID_INPUT", "INVALID_API_KEYS", "Unauthorized")]),
    ("forbidden", [plaid_error(403, "INVALID_REQUEST", "OTHER_CODE", "Forbidden")]),
    ("not_found", [plaid_error(404, "INVALID_REQUEST", "NOT_FOUND", "Not Found")]),
    ("rate_limit", [plaid_error(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", "Too Many Requests")]),
    ("rate_limit_then_ok", [plaid_error(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT"), None]),
    ("429_empty", [Reply(status=429, reason="Too Many Requests", body=b"")]),
    ("500_api_error", [plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR", "Server Error")]),
    ("500_then_ok", [plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR"), None]),
    ("502_html", [Reply(status=502, reason="Bad Gateway", body=b"<h1>x</h1>", content_type=HTML)]),
    ("503_institution", [plaid_error(503, "INSTITUTION_ERROR", "INSTITUTION_DOWN", "Down")]),
    ("200_html", [Reply(body=b"<html>portal</html>", content_type=HTML)]),
    ("200_json_list", [Reply(body=b"[1, 2]")]),
    ("400_not_json", [Reply(status=400, reason="Bad Request", body=b"nope", content_type=HTML)]),
    ("timeout", [Reply("hang")]),
    ("dropped", [Reply("close")]),
    ("reset", [Reply("reset")]),
    ("cut_body", [Reply("truncate", body=b'{"link_')]),
    ("not_http", [Reply("garbage")]),
]


class StubPlaid:
    """A Plaid stand-in on a raw socket (HTTP/1.1 keep-alive): each request gets the next
    scripted reply (``None``: the operation's success); it records what came in."""

    def __init__(self, replies: list[Reply | None], success: Reply, tls: ssl.SSLContext | None):
        self.replies, self.success, self.tls = replies, success, tls
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.handshakes = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            self.handshakes += 1
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                return
        with conn:
            buffer = b""
            while True:
                request, buffer = read_request(conn, buffer)
                if request is None:
                    return
                with self.lock:
                    self.requests.append(request)
                    reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
                if not self._answer(conn, reply or self.success):
                    return

    def _answer(self, conn: socket.socket, reply: Reply) -> bool:
        """Act out ``reply``; False when the connection ends."""
        if reply.kind == "close":
            return False
        if reply.kind == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if reply.kind == "hang":
            conn.settimeout(TIMEOUT * 10)
            try:
                conn.recv(1)
            except OSError:
                pass
            return False
        if reply.kind == "garbage":
            conn.sendall(b"hello there\r\n\r\n")
            return False
        length = len(reply.body) + (100 if reply.kind == "truncate" else 0)
        head = (
            f"HTTP/1.1 {reply.status} {reply.reason}\r\nContent-Type: {reply.content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        conn.sendall(head.encode() + reply.body)
        return reply.kind != "truncate"

    def close(self) -> None:
        self.sock.close()


def read_request(
    conn: socket.socket, buffer: bytes
) -> tuple[tuple[str, dict[str, str], bytes] | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return (lines[0].split()[1], headers, rest[:length]), rest[length:]


def self_signed(folder: Path) -> ssl.SSLContext:
    """A server context with a certificate no CA signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@dataclass
class Outcome:
    """Everything a user or an operator could see of one call."""

    result: object
    requests: list[tuple[str, dict[str, str], Any]]
    recorded: list[tuple[str, str, object]]
    logged: list[str]
    spent: bool
    item_errors: list[tuple[str, str]]


# The three hot-path calls: (name, success reply, sync call, async call).
SYNC_CALLS: dict[str, Callable[[PlaidLink], object]] = {
    "create": lambda link: link.create_link("session-1", "https://b.example/oauth-return",
                                            "https://b.example/plaid/webhook", None, "fr"),
    "exchange": lambda link: link.exchange("public-sandbox-1", "session-1"),
    "remove": lambda link: link.remove_item("access-sandbox-1"),
}  # fmt: skip
ASYNC_CALLS: dict[str, Callable[[PlaidLink], Any]] = {
    "create": lambda link: link.create_link_async("session-1", "https://b.example/oauth-return",
                                                  "https://b.example/plaid/webhook", None, "fr"),
    "exchange": lambda link: link.exchange_async("public-sandbox-1", "session-1"),
    "remove": lambda link: link.remove_item_async("access-sandbox-1"),
}  # fmt: skip
SUCCESS = {"create": LINK_TOKEN, "exchange": EXCHANGED, "remove": REMOVED}
KEPT_HEADERS = ("content-type", "accept", "user-agent", "plaid-client-id", "plaid-secret",
                "plaid-version", "accept-encoding")  # fmt: skip


def run_path(
    settings: settings_module.Settings,
    call: str,
    replies: list[Reply | None],
    on_loop: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tls: ssl.SSLContext | None = None,
    url: str | None = None,
) -> Outcome:
    stub = StubPlaid(replies, SUCCESS[call], tls)
    recorded: list[tuple[str, str, object]] = []

    def record(endpoint: str, outcome: str, seconds: float, request_id: object) -> None:
        recorded.append((endpoint, outcome, request_id))
        PLAID_CALL(endpoint, outcome, seconds, request_id)

    monkeypatch.setattr(recording, "plaid_call", record)
    reported: list[tuple[str, str]] = []
    link = PlaidLink(
        settings.with_values(plaid_api_url=url or stub.url),
        FAST_RETRY,
        TIMEOUT if any(reply and reply.kind == "hang" for reply in replies) else ANSWERED_TIMEOUT,
        item_errors=lambda token, code: reported.append((token, code)),
    )
    caplog.clear()
    try:
        with caplog.at_level(logging.INFO, logger="kore_plaid_nb.bridge"):
            result: object = (
                asyncio.run(answer_on_loop(link, call)) if on_loop else answer(link, call)
            )
    finally:
        stub.close()
    requests = [
        (path, {k: v for k, v in headers.items() if k in KEPT_HEADERS}, json.loads(body))
        for path, headers, body in stub.requests
    ]
    bridge_lines = [r for r in caplog.records if r.name == "kore_plaid_nb.bridge"]
    logged = [re.sub(r" [\d.]+ ms ", " ms ", r.getMessage()) for r in bridge_lines]
    spent = link.spent.is_public_token_spent("public-sandbox-1")
    if isinstance(result, Refusal) and result.values.get("host") == (url or stub.url):
        result = replace(result, values={**result.values, "host": "<the stub>"})  # its port
    return Outcome(result, requests, recorded, logged, spent, reported)


def answer(link: PlaidLink, call: str) -> object:
    try:
        return SYNC_CALLS[call](link)
    except LinkStepError as exc:
        return exc.refusal
    except Exception as exc:  # a bug: must be the same bug
        return f"{type(exc).__name__}: {exc}"


async def answer_on_loop(link: PlaidLink, call: str) -> object:
    try:
        return await ASYNC_CALLS[call](link)
    except LinkStepError as exc:
        return exc.refusal
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await link.aclose()


def assert_same(sync: Outcome, on_loop: Outcome) -> None:
    assert on_loop.result == sync.result
    assert on_loop.requests == sync.requests
    assert on_loop.recorded == sync.recorded
    assert on_loop.logged == sync.logged
    assert (on_loop.spent, on_loop.item_errors) == (sync.spent, sync.item_errors)


@pytest.fixture
def settings(home: Path) -> settings_module.Settings:
    return settings_module.load()


@pytest.mark.parametrize("call", ["create", "exchange", "remove"])
@pytest.mark.parametrize(("name", "replies"), FAILURES, ids=[n for n, _ in FAILURES])
def test_each_plaid_failure_means_the_same_on_both_paths(
    settings: settings_module.Settings,
    call: str,
    name: str,
    replies: list[Reply | None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sync = run_path(settings, call, replies, False, monkeypatch, caplog)
    on_loop = run_path(settings, call, replies, True, monkeypatch, caplog)
    assert sync.requests, "the stub saw no request: the case tests nothing"
    assert_same(sync, on_loop)


@pytest.mark.parametrize("call", ["create", "exchange", "remove"])
def test_success_is_the_same_on_both_paths(
    settings: settings_module.Settings,
    call: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sync = run_path(settings, call, [None], False, monkeypatch, caplog)
    on_loop = run_path(settings, call, [None], True, monkeypatch, caplog)
    assert not isinstance(sync.result, str | LinkStepError) and sync.recorded[0][1] == "ok"
    assert_same(sync, on_loop)


def test_a_retried_failure_is_retried_as_often_on_both_paths(
    settings: settings_module.Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the parametrized cases compare, spelled out once: a 500 on the Link token is
    retried to the policy's 3 attempts, an exchange's 500 is sent once and spends the token."""
    busy = [plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR")]
    for on_loop in (False, True):
        created = run_path(settings, "create", busy, on_loop, monkeypatch, caplog)
        assert len(created.requests) == 3 and len(created.recorded) == 3
        exchanged = run_path(settings, "exchange", busy, on_loop, monkeypatch, caplog)
        assert len(exchanged.requests) == 1 and exchanged.spent
        assert exchanged.result.status == 502  # type: ignore[attr-defined]


@pytest.mark.parametrize("call", ["create", "exchange"])
def test_nothing_listening_and_an_unsigned_certificate_mean_the_same(
    settings: settings_module.Settings,
    call: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    sync = run_path(settings, call, [None], False, monkeypatch, caplog, url=closed)
    on_loop = run_path(settings, call, [None], True, monkeypatch, caplog, url=closed)
    assert sync.result.values["code"] == "MaxRetryError"  # type: ignore[attr-defined]
    assert_same(sync, on_loop)
    tls = self_signed(tmp_path)
    sync = run_path(settings, call, [None], False, monkeypatch, caplog, tls=tls)
    on_loop = run_path(settings, call, [None], True, monkeypatch, caplog, tls=tls)
    assert not sync.requests and "TLS" in str(sync.result.values["message"])  # type: ignore[attr-defined]
    assert_same(sync, on_loop)


@pytest.fixture(autouse=True, scope="module")
def no_aiohttp_session_left_open() -> Iterator[None]:
    """Once for the module (a gc.collect() per test cost ~13 s): any session left open by any
    test here fails the module's last test."""
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
