"""The authorization profile: every value Kore's form asks for, secrets masked unless revealed."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import pytest

from kore_plaid_nb import cli, services, settings, tunnel
from kore_plaid_nb.kore import command
from kore_plaid_nb.kore.profile import build_profile, resolve_public_url

CLIENT_ID = "5f1e2d3c4b5a69788796a5b4"
SECRET = "0123456789abcdef0123456789abcd"
PUBLIC = "https://kore-bridge.ngrok.app"


def profile_command(*argv: str) -> int:
    """``kore-plaid profile ARGV`` through the command module that cli.py dispatches to."""
    assert cli.COMMANDS["profile"][0] == command.__name__
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return command.run(parser.parse_args(argv))


EVERY_FIELD = {
    "authorization_type",
    "identity_provider_name",
    "callback_url",
    "client_id",
    "client_secret",
    "authorization_url",
    "token_request_url",
    "refresh_token_url",
    "scope",
    "subdomain",
    "base_url",
    "tenant",
    "authorization_fields",
    "plaid_allowed_redirect_uris",
    "link_redirect_uri",
    "modes",
}


@pytest.fixture
def live_keys(monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    monkeypatch.setenv("PLAID_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PLAID_SECRET", SECRET)
    monkeypatch.setenv("PLAID_REDIRECT_URI", "https://idp.kore.com/workflows/callback")
    return settings.load()


def test_profile_holds_every_value_of_the_seed(live_keys: settings.Settings) -> None:
    profile = build_profile(live_keys, public_url=PUBLIC + "/")

    assert profile.authorization_type == "oAuth v2"
    assert profile.callback_url == "https://idp.kore.com/workflows/callback"
    assert profile.client_id == CLIENT_ID
    assert profile.client_secret == "0123…abcd"
    assert profile.authorization_url == PUBLIC + "/"
    assert profile.token_request_url == PUBLIC + "/api/send_the_access_token_AUTH"
    assert profile.refresh_token_url == profile.token_request_url
    assert (profile.subdomain, profile.base_url, profile.tenant) == (
        "Yes",
        "https://{tenant}.plaid.com",
        "sandbox",
    )
    fields = [(f.field_type, f.key, f.value) for f in profile.authorization_fields]
    assert fields == [
        ("payload", "access_token", "{{accessToken}}"),
        ("header", "PLAID-CLIENT-ID", CLIENT_ID),
        ("header", "PLAID-SECRET", "0123…abcd"),
    ]
    assert profile.plaid_allowed_redirect_uris == (
        "https://idp.kore.com/workflows/callback",
        PUBLIC + "/oauth-return",
    )
    assert profile.modes == (
        "Pre-authorize the Integration",
        "Allow Users to Authorize the Integration",
    )
    assert profile.reachable_by_kore and profile.note == ""


def test_rows_follow_the_form_order(live_keys: settings.Settings) -> None:
    names = [name for _, name, _ in build_profile(live_keys, PUBLIC).rows()]
    expected = [
        "Authorization Type",
        "Identity Provider Name",
        "Callback URL (shown by Kore)",
        "Client ID",
        "Client Secret",
        "Authorization URL",
        "Token Request URL",
        "Refresh Token URL",
        "Scope",
        "Subdomain (Tenancy URL)",
        "Base URL",
    ]
    assert names[: len(expected)] == expected
    assert names.index("Authorization Field 1") < names.index(
        "Plaid dashboard: Allowed redirect URI"
    )
    markdown = build_profile(live_keys, PUBLIC).to_markdown()
    assert (
        "| 8 | Authorization Field 1 | payload \\| access_token \\| {{accessToken}} |" in markdown
    )
    assert SECRET not in markdown


def test_reveal_shows_the_secret_in_both_places(live_keys: settings.Settings) -> None:
    profile = build_profile(live_keys, PUBLIC, reveal=True)
    assert profile.client_secret == SECRET
    assert profile.authorization_fields[2].value == SECRET
    assert profile.as_dict()["client_secret_revealed"] is True


def test_local_url_says_kore_cannot_reach_it(live_keys: settings.Settings) -> None:
    profile = build_profile(live_keys)
    assert profile.public_url == f"http://127.0.0.1:{live_keys.app_port}"
    assert not profile.reachable_by_kore
    assert "Kore cannot reach it yet" in profile.note
    assert "Kore cannot reach it yet" in profile.to_markdown()


def test_public_url_comes_from_the_running_bridge_record(home: Path) -> None:
    stand_in = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a live pid
    try:
        record = services.ServiceRecord(
            "bridge", stand_in.pid, "127.0.0.1", 8123, "http://127.0.0.1:8123", "log", time.time()
        )
        services.write(home, record)
        assert resolve_public_url(settings.load()) == "http://127.0.0.1:8123"
    finally:
        services.stop(home, "bridge")
        stand_in.kill()
        stand_in.wait()


@pytest.mark.parametrize(
    ("public_url", "local", "reachable"),
    [(PUBLIC + "/", False, True), ("http://127.0.0.1:8123", True, False)],
)
def test_public_url_prefers_the_tunnel(
    monkeypatch: pytest.MonkeyPatch, public_url: str, local: bool, reachable: bool
) -> None:
    opened = tunnel.TunnelInfo(public_url=public_url, local=local, port=8000)
    monkeypatch.setattr(tunnel, "current_tunnel", lambda s: opened)
    profile = build_profile(settings.load())
    assert profile.authorization_url == public_url.rstrip("/") + "/"
    assert profile.reachable_by_kore is reachable
    assert profile.public_url_source.startswith("tunnel")
    assert ("Kore cannot reach it yet" in profile.note) is not reachable


def test_profile_json_carries_every_field_and_no_secret(
    live_keys: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profile_command("--json", "--url", PUBLIC) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert EVERY_FIELD <= set(data)
    assert SECRET not in out
    assert data["client_secret"] == "0123…abcd"
    assert [f["key"] for f in data["authorization_fields"]] == [
        "access_token",
        "PLAID-CLIENT-ID",
        "PLAID-SECRET",
    ]


def test_profile_json_reveal_shows_the_secret(
    live_keys: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profile_command("--json", "--reveal") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["client_secret"] == SECRET
    assert data["authorization_fields"][2]["value"] == SECRET
    assert data["reachable_by_kore"] is False


def test_profile_markdown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert profile_command() == 0
    out = capsys.readouterr().out
    port = settings.load().app_port  # chosen for this state folder (APP_PORT is unset)
    assert f"| 5 | Authorization URL | http://127.0.0.1:{port}/ |" in out
    assert settings.DEMO_SECRET not in out
    assert "Embedded mode" in out
