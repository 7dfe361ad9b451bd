"""Secrets (issue 8): with canary credentials planted (a distinctive Plaid secret the emulator
accepts, a canary ngrok authtoken), the whole chain runs - emulator, bridge and tunnel as
background services (``stack.ensure_stack``), ``verification.verify``, a Kore simulator
authorization whose tokens we keep, ``stack.teardown`` - and then every file written under
the state folder (logs, service records, tunnel state, reports) and the build output is
scanned for the canary secrets and for every public token, code, refresh token and access
token of the run. What this process printed is scanned too.

Only the files whose job is to hold a secret may contain one, and they must be private
(0600): the bridge's store (Plaid access tokens, by design; codes and refresh tokens only as
digests), the emulator's store (it plays Plaid), the ngrok agent config (the authtoken, as
ngrok keeps it) and ``.env``.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from kore_plaid_nb import services, stack
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.store import digest
from kore_plaid_nb.kore.simulator import KoreSimulator
from kore_plaid_nb.verification import verify

CANARY_CLIENT_ID = "c4a7a2y0c1i3e5t6d9f8a0b1"
CANARY_SECRET = "CANARYsecret0f7e3d9c1b5a2e8d4c"
CANARY_AUTHTOKEN = "2CANARYngrokAuthtoken0b9e1f3a5c7d9e_4NqDkZmXfT8hG6uJ2wYc"
# Files that hold secrets by design (relative to the state folder, glob patterns).
SECRET_HOLDERS = ("bridge*.sqlite3*", "emulator.sqlite3*", "tunnel/ngrok.yml", "**/ngrok.yml")

pytestmark = pytest.mark.timeout(120)


def written_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def holds_secrets_by_design(path: Path, home: Path) -> bool:
    relative = path.relative_to(home) if path.is_relative_to(home) else path
    return any(relative.match(pattern) for pattern in SECRET_HOLDERS)


def test_no_secret_code_or_token_lands_in_any_written_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    for name, value in {
        "PLAID_CLIENT_ID": CANARY_CLIENT_ID,
        "PLAID_SECRET": CANARY_SECRET,
        "KORE_PLAID_MODE": "embedded",  # the emulator accepts the configured (canary) keys
        "NGROK_AUTHTOKEN": CANARY_AUTHTOKEN,
        "APP_PORT": str(services.free_port()),
        "KORE_SIMULATOR_PORT": str(services.free_port()),
    }.items():
        monkeypatch.setenv(name, value)
    build = tmp_path / "build"
    build.mkdir()
    settings = settings_module.load()
    assert settings.secret == CANARY_SECRET and settings.embedded

    needles: dict[str, str] = {
        CANARY_SECRET: "PLAID_SECRET",
        CANARY_AUTHTOKEN: "NGROK_AUTHTOKEN",
    }
    try:
        running = stack.ensure_stack(settings)
        report = verify(running.settings)
        assert report.ok, report.to_text()
        (build / "verification.md").write_text(report.to_markdown())  # as a notebook shows it
        (build / "verification.txt").write_text(report.to_text())

        with KoreSimulator(running.settings, running.public_url) as sim:
            request = sim.authorization_request()
            session = sim.get_link_token(request)
            public_token = sim.create_public_token()
            link = sim.complete_link(session, public_token)
            code = sim.follow_redirect(link, request).code
            tokens = sim.exchange_code_form_basic(request, code)
            refreshed = sim.refresh(tokens.refresh_token)
        assert refreshed.access_token == tokens.access_token
        needles |= {
            public_token: "public token",
            session.session: "bridge session id",
            code: "authorization code",
            tokens.refresh_token: "refresh token",
            tokens.access_token: "access token",
        }
        with sqlite3.connect(running.settings.bridge_db_path) as db:
            stored = [row[0] for row in db.execute("SELECT access_token FROM items")]
            dump = "\n".join(db.iterdump())
        assert len(stored) >= 2  # verify's authorization and ours
        needles |= {token: "access token (verify's)" for token in stored}
        # The bridge's own store keeps codes and refresh tokens as digests only.
        assert code not in dump and tokens.refresh_token not in dump
        assert digest(code) in dump and digest(tokens.refresh_token) in dump
    finally:
        done = stack.teardown(settings)
    assert any(line.startswith("stopped") for line in done), done

    leaks = []
    checked = 0
    held: set[str] = set()  # positive control: the scan does find what the holders keep
    for path in written_files(home, build):
        data = path.read_bytes()
        if holds_secrets_by_design(path, home):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is not private"
            held |= {what for needle, what in needles.items() if needle.encode() in data}
            continue
        checked += 1
        leaks += [f"{path}: {what}" for needle, what in needles.items() if needle.encode() in data]
    assert checked >= 3, "the run wrote no log or record to scan"
    assert "NGROK_AUTHTOKEN" in held and any(w.startswith("access") for w in held), held
    logs = list((home / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"emulator", "bridge", "tunnel"}, logs
    printed = "".join(capfd.readouterr())
    leaks += [f"stdout/stderr: {what}" for needle, what in needles.items() if needle in printed]
    assert leaks == [], "\n".join(leaks)
    env_file = Path(os.environ["KORE_PLAID_ENV_FILE"])
    if env_file.exists():
        assert stat.S_IMODE(env_file.stat().st_mode) & 0o077 == 0
