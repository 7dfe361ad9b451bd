"""The tunnel as the runbook uses it: a background service holding pyngrok (the local
stand-in in the embedded mode), found again by a later notebook, every failure readable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tunnel_support import KORE_REDIRECT, target_app, tunnel_processes

from kore_plaid_nb import cli, services
from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings, load
from kore_plaid_nb.tunnel import (
    REJECTED_AUTHTOKEN,
    check_tunnel,
    close_all,
    close_tunnel,
    current_tunnel,
    list_tunnels,
    open_tunnel,
)

# conftest removes NGROK_AUTHTOKEN from every test's environment; the live test needs it.
LIVE_AUTHTOKEN = os.environ.get("NGROK_AUTHTOKEN", "")
LIVE_FIELDS = "Authorization URL, Token Request URL and Refresh Token URL"


@pytest.fixture
def settings(home: Path) -> Iterator[Settings]:
    current = load()
    yield current
    close_all(current)
    assert tunnel_processes(str(home)) == []


@pytest.fixture
def target() -> Iterator[int]:
    with serve_in_thread(target_app(), what="target app") as url:
        yield int(url.rsplit(":", 1)[1])


def test_open_is_local_idempotent_and_forwards(settings: Settings, target: int) -> None:
    info = open_tunnel(settings, target)
    assert info.local
    assert info.port == target
    assert info.public_url.startswith("http://127.0.0.1:")
    assert "(local stand-in, not reachable from Kore)" in info.describe()

    assert open_tunnel(settings, target) == info  # idempotent
    assert current_tunnel(load()) == info  # a later kernel finds it in the state folder
    assert [t.public_url for t in list_tunnels(settings)] == [info.public_url]
    assert check_tunnel(settings, expected_url=info.public_url + "/oauth/authorize") == info

    posted = httpx.post(info.public_url + "/echo/api/token", data={"code": "x y"})
    assert bytes.fromhex(posted.json()["body_hex"]) == b"code=x+y"
    moved = httpx.get(info.public_url + "/redirect?state=1")
    assert moved.status_code == 302
    assert moved.headers["location"] == KORE_REDIRECT

    assert close_tunnel(settings) is True
    assert current_tunnel(settings) is None
    assert list_tunnels(settings) == []
    assert not services.pid_alive(info.agent_pid)
    assert close_tunnel(settings) is False


def test_other_port_reopens_then_check_sees_nothing_listening(
    settings: Settings, target: int
) -> None:
    first = open_tunnel(settings, target)
    with serve_in_thread(target_app(), what="second app") as url:
        other = int(url.rsplit(":", 1)[1])
        second = open_tunnel(settings, other)
        assert second.port == other
        assert not services.pid_alive(first.agent_pid)
        assert httpx.get(second.public_url + "/echo/x").json()["path"] == "/echo/x"
    # the app behind the tunnel stopped
    with pytest.raises(RunbookError) as caught:
        check_tunnel(settings)
    assert f"Nothing listens on port {other}" in caught.value.message


def test_cli_open_list_check_close(
    settings: Settings,
    target: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_PORT", str(target))  # bare `kore-plaid tunnel` exposes APP_PORT
    assert cli.main(["tunnel"]) == 0
    out = capsys.readouterr().out
    url = current_tunnel(settings).public_url
    assert current_tunnel(settings).port == target
    assert f"Public URL: {url} (local stand-in, not reachable from Kore)" in out

    assert cli.main(["tunnel", "list"]) == 0
    assert "not reachable from Kore" in capsys.readouterr().out
    assert cli.main(["tunnel", "check"]) == 0
    assert "Tunnel OK" in capsys.readouterr().out
    assert cli.main(["tunnel", "check", "--expected-url", "http://127.0.0.1:1"]) == 2
    assert LIVE_FIELDS in capsys.readouterr().err
    assert cli.main(["tunnel", "close"]) == 0
    assert capsys.readouterr().out.strip() == "Tunnel closed."
    assert cli.main(["tunnel", "close-all"]) == 0
    assert "nothing was open" in capsys.readouterr().out


def test_nothing_listening_on_the_port(settings: Settings) -> None:
    port = services.free_port()
    with pytest.raises(RunbookError) as caught:
        open_tunnel(settings, port)
    assert f"Nothing listens on port {port}" in caught.value.message
    assert "bridge" in caught.value.fix
    assert services.read(settings.home, "tunnel") is None


def test_check_reports_agent_died_then_url_changed(settings: Settings, target: int) -> None:
    info = open_tunnel(settings, target)
    os.kill(info.agent_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while services.pid_alive(info.agent_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(RunbookError) as caught:
        check_tunnel(settings)
    assert "agent died" in caught.value.message
    assert LIVE_FIELDS in caught.value.fix
    assert current_tunnel(settings) is None  # its health check now fails
    reopened = open_tunnel(settings, target)  # opening again replaces it
    assert services.pid_alive(reopened.agent_pid)
    assert reopened.public_url != info.public_url

    # a Kore profile made with the old URL no longer matches
    with pytest.raises(RunbookError) as changed:
        check_tunnel(settings, expected_url=info.public_url + "/api/send_the_access_token_AUTH")
    assert info.public_url in changed.value.message
    assert reopened.public_url in changed.value.message
    assert LIVE_FIELDS in changed.value.fix


def test_check_without_tunnel(settings: Settings) -> None:
    with pytest.raises(RunbookError, match="No tunnel is open"):
        check_tunnel(settings)


def test_rejected_authtoken_is_readable(home: Path, target: int) -> None:
    settings = load({**os.environ, "NGROK_AUTHTOKEN": REJECTED_AUTHTOKEN})
    try:
        with pytest.raises(RunbookError) as caught:
            open_tunnel(settings, target)
        assert "ERR_NGROK_105" in caught.value.message
        assert "rejected the authtoken" in caught.value.message
        assert REJECTED_AUTHTOKEN not in str(caught.value)
        assert "Traceback" not in str(caught.value)
    finally:
        close_all(settings)


def live_settings(**extra: str) -> Settings:
    values = {
        **os.environ,
        "PLAID_CLIENT_ID": "live0client0id000000000",
        "PLAID_SECRET": "live0secret000000000000000000",
        **extra,
    }
    return load(values)


def test_live_mode_without_authtoken(home: Path, target: int) -> None:
    settings = live_settings()
    assert not settings.embedded
    with pytest.raises(RunbookError) as caught:
        open_tunnel(settings, target)
    assert "ERR_NGROK_4018" in caught.value.message
    assert "NGROK_AUTHTOKEN" in caught.value.fix


def test_live_mode_offline_cannot_download(
    home: Path, target: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no ngrok on disk, and every download goes to a closed port: what "offline" looks like
    monkeypatch.setenv("PYNGROK_NGROK_PATH", str(home / "no-ngrok" / "ngrok"))
    dead = f"http://127.0.0.1:{services.free_port()}"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    settings = live_settings(NGROK_AUTHTOKEN="2live_token_0000000000000000")
    with pytest.raises(RunbookError) as caught:
        open_tunnel(settings, target)
    assert caught.value.message.startswith(
        "cannot download the ngrok agent: no internet; use "
        "the embedded mode or install ngrok and set "
        "PYNGROK_NGROK_PATH"
    )
    assert services.read(home, "tunnel") is None


def test_tunnel_outlives_a_killed_kernel_and_closes_clean(settings: Settings, target: int) -> None:
    kernel = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\n"
            "from kore_plaid_nb import settings\n"
            "from kore_plaid_nb.tunnel import open_tunnel\n"
            f"print(open_tunnel(settings.load(), {target}).public_url, flush=True)\n"
            "os.kill(os.getpid(), 9)\n",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )
    assert kernel.returncode == -signal.SIGKILL
    url = kernel.stdout.strip()
    info = current_tunnel(settings)
    assert info is not None and info.public_url == url
    assert httpx.get(url + "/echo/after").json()["path"] == "/echo/after"
    assert close_all(settings)
    assert tunnel_processes(str(settings.home)) == []


def _internet() -> bool:
    try:
        socket.create_connection(("connect.ngrok-agent.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.live
def test_live_ngrok_tunnel(home: Path, target: int) -> None:
    if not LIVE_AUTHTOKEN:
        pytest.skip("NGROK_AUTHTOKEN is not set: the live ngrok test needs a real authtoken")
    if not _internet():
        pytest.skip("no internet: the live ngrok test needs to reach ngrok.com")
    settings = live_settings(NGROK_AUTHTOKEN=LIVE_AUTHTOKEN)
    try:
        info = open_tunnel(settings, target)
        assert not info.local
        assert info.public_url.startswith("https://")
        assert "reachable from the internet" in info.describe()
        echoed = httpx.get(
            info.public_url + "/echo/live", headers={"ngrok-skip-browser-warning": "1"}, timeout=30
        )
        assert echoed.json()["path"] == "/echo/live"
        assert check_tunnel(settings) == info
    finally:
        close_all(settings)


def test_bridge_token_flow_through_the_tunnel(settings: Settings, tmp_path: Path) -> None:
    """Kore's part through the tunnel's public URL: authorize, Link, code, token, refresh."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    from plaid.model.products import Products
    from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

    from kore_plaid_nb import plaid_client
    from kore_plaid_nb.bridge import running_bridge
    from kore_plaid_nb.emulator import running_emulator

    with running_emulator(settings, state_path=tmp_path / "emulator.sqlite3") as emulator:
        flow_settings = settings.with_values(plaid_api_url=emulator)
        with running_bridge(flow_settings) as bridge, httpx.Client(timeout=30) as http:
            public = open_tunnel(flow_settings, int(bridge.rsplit(":", 1)[1])).public_url
            callback = flow_settings.simulator_callback
            query = {
                "response_type": "code",
                "client_id": flow_settings.client_id,
                "redirect_uri": callback,
                "state": "via-tunnel",
            }

            # an error redirect comes back exactly as the bridge sent it
            bad = urlencode({**query, "response_type": "token"})
            direct = http.get(f"{bridge}/?{bad}")
            tunneled = http.get(f"{public}/?{bad}")
            assert tunneled.status_code == direct.status_code == 302
            assert tunneled.headers["location"] == direct.headers["location"]
            assert tunneled.headers["location"].startswith(callback + "?")

            start = http.get(
                f"{public}/?{urlencode(query)}", headers={"Accept": "application/json"}
            ).json()
            public_token = (
                plaid_client.create(flow_settings)
                .sandbox_public_token_create(
                    SandboxPublicTokenCreateRequest(
                        institution_id="ins_109508", initial_products=[Products("transactions")]
                    )
                )
                .public_token
            )
            done = http.post(
                f"{public}/api/set_access_token",
                json={"session": start["session"], "public_token": public_token},
            )
            assert done.status_code == 200, done.text
            back = {
                k: v[0] for k, v in parse_qs(urlsplit(done.json()["redirect_to"]).query).items()
            }
            assert back["state"] == "via-tunnel"

            token = http.post(
                f"{public}/api/send_the_access_token_AUTH",
                data={
                    "grant_type": "authorization_code",
                    "code": back["code"],
                    "redirect_uri": callback,
                },
                auth=(flow_settings.client_id, flow_settings.secret),
            )
            assert token.status_code == 200, token.text
            assert token.headers["cache-control"] == "no-store"
            body = token.json()
            assert body["access_token"].startswith("access-sandbox-")
            again = http.post(
                f"{public}/api/send_the_access_token_AUTH",
                data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                auth=(flow_settings.client_id, flow_settings.secret),
            )
            assert again.json()["access_token"] == body["access_token"]
            close_tunnel(flow_settings)
