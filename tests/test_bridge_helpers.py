"""Shared helpers of the bridge tests (no tests here)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

from kore_plaid_nb import plaid_client, services
from kore_plaid_nb.settings import Settings

TOKEN_PATH = "/api/send_the_access_token_AUTH"


def authorize_params(settings: Settings, state: str = "st-1", **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.simulator_callback,
        "state": state,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize_query(settings: Settings, state: str = "st-1", **extra: str) -> str:
    return urlencode(authorize_params(settings, state, **extra))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def sandbox_public_token(settings: Settings, institution: str = "ins_109508") -> str:
    """What Plaid Link hands the page on success (made through plaid-python)."""
    request = SandboxPublicTokenCreateRequest(
        institution_id=institution, initial_products=[Products("transactions")]
    )
    return plaid_client.create(settings).sandbox_public_token_create(request).public_token


def authorize_and_link(
    http: httpx.Client, base: str, settings: Settings, state: str = "st-1", **extra: str
) -> dict[str, str]:
    """GET / (JSON) -> Link (sandbox public token) -> set_access_token; the callback params."""
    start = http.get(
        base + "/?" + authorize_query(settings, state, **extra),
        headers={"Accept": "application/json"},
    )
    assert start.status_code == 200, start.text
    session = start.json()["session"]
    done = http.post(
        base + "/api/set_access_token",
        json={"session": session, "public_token": sandbox_public_token(settings)},
    )
    assert done.status_code == 200, done.text
    return query_of(done.json()["redirect_to"])


def exchange(
    http: httpx.Client, base: str, settings: Settings, code: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, **extra}
    return http.post(base + TOKEN_PATH, data=data, auth=(settings.client_id, settings.secret))


def refresh(http: httpx.Client, base: str, settings: Settings, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post(base + TOKEN_PATH, data=data, auth=(settings.client_id, settings.secret))


class BridgeProcess:
    """``python -m kore_plaid_nb bridge`` as its own process group, killed by the test."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.app_port}"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kore_plaid_nb", "bridge", "--port", str(settings.app_port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **settings.as_env()},
                start_new_session=True,
            )
        healthy = services.wait_healthy(self.url + "/healthz", timeout=30, pid=self.process.pid)
        assert healthy, log.read_text()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
