"""pyngrok drives the local agent stand-in exactly as it drives ngrok: connect, list,
disconnect, kill; requests really pass through; the authtoken errors look like ngrok's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pyngrok import conf, ngrok, process
from pyngrok.exception import PyngrokNgrokError
from tunnel_support import KORE_REDIRECT, processes_mentioning, target_app

from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.tunnel import REJECTED_AUTHTOKEN, STANDIN_AUTHTOKEN
from kore_plaid_nb.tunnel.agent import explain
from kore_plaid_nb.tunnel.launcher import write_launcher


@pytest.fixture
def target() -> Iterator[str]:
    with serve_in_thread(target_app(), what="target app") as url:
        yield url


def make_config(home: Path, token: str | None = STANDIN_AUTHTOKEN, **kw) -> conf.PyngrokConfig:
    return conf.PyngrokConfig(
        ngrok_path=str(write_launcher(home)),
        config_path=str(home / "ngrok.yml"),
        auth_token=token,
        **kw,
    )


@pytest.fixture
def config(home: Path) -> Iterator[conf.PyngrokConfig]:
    cfg = make_config(home)
    yield cfg
    ngrok.kill(cfg)


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


def test_connect_list_disconnect_kill(config: conf.PyngrokConfig, target: str) -> None:
    tunnel = ngrok.connect(port_of(target), pyngrok_config=config)
    assert tunnel.public_url.startswith("http://127.0.0.1:")
    assert tunnel.proto == "http"
    assert tunnel.upstream["url"] == f"http://localhost:{port_of(target)}"
    assert tunnel.data["description"] == "local stand-in, not reachable from Kore"
    assert tunnel.uri == f"/api/endpoints/{tunnel.name}"

    listed = ngrok.get_tunnels(config)
    assert [t.public_url for t in listed] == [tunnel.public_url]

    ngrok.disconnect(tunnel.public_url, config)
    assert ngrok.get_tunnels(config) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(tunnel.public_url + "/echo/x", timeout=2)

    agent = ngrok.get_ngrok_process(config)
    ngrok.kill(config)
    assert agent.proc.poll() is not None
    assert not process.is_process_running(config.ngrok_path)


def test_startup_log_is_ngrok_logfmt(config: conf.PyngrokConfig) -> None:
    agent = ngrok.get_ngrok_process(config)
    messages = [log.msg for log in agent.logs]
    assert "starting web service" in messages
    assert "client session established" in messages
    assert "tunnel session started" in messages
    web = next(log for log in agent.logs if log.msg == "starting web service")
    assert agent.api_url == f"http://{web.addr}"
    assert web.addr.startswith("127.0.0.1:")


def test_request_passes_through_untouched(config: conf.PyngrokConfig, target: str) -> None:
    public = ngrok.connect(f"http://127.0.0.1:{port_of(target)}", pyngrok_config=config).public_url

    got = httpx.get(
        public + "/echo/a%2Fb/c?x=1&y=%20z&x=2",
        headers={"X-Custom": "Value 1", "Authorization": "Basic abc="},
    )
    assert got.status_code == 200
    assert got.headers["x-target"] == "yes"
    seen = got.json()
    assert seen["method"] == "GET"
    assert seen["raw_path"] == "/echo/a%2Fb/c"
    assert seen["query"] == "x=1&y=%20z&x=2"
    headers = dict(seen["headers"])
    assert headers["x-custom"] == "Value 1"
    assert headers["authorization"] == "Basic abc="
    assert headers["host"] == public.removeprefix("http://")  # the public host, as ngrok does
    assert headers["x-forwarded-proto"] == "http"

    body = bytes(range(256)) * 10
    posted = httpx.post(
        public + "/echo/token", content=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert bytes.fromhex(posted.json()["body_hex"]) == body
    assert posted.json()["method"] == "POST"

    form = httpx.post(
        public + "/echo/token", data={"grant_type": "authorization_code", "code": "a b&c"}
    )
    assert bytes.fromhex(form.json()["body_hex"]) == b"grant_type=authorization_code&code=a+b%26c"

    moved = httpx.get(public + "/redirect", follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["location"] == KORE_REDIRECT

    cookies = httpx.get(public + "/cookies")
    assert cookies.status_code == 201
    assert len(cookies.headers.get_list("set-cookie")) == 2
    assert cookies.text == "two cookies"


def test_unreachable_target_is_ngroks_502(config: conf.PyngrokConfig) -> None:
    from kore_plaid_nb.services import free_port

    public = ngrok.connect(str(free_port()), pyngrok_config=config).public_url
    answer = httpx.get(public + "/anything")
    assert answer.status_code == 502
    assert answer.headers["ngrok-error-code"] == "ERR_NGROK_8012"
    assert "local stand-in" in answer.text


def test_v2_tunnels_api(home: Path, target: str) -> None:
    cfg = make_config(home, config_version="2")
    try:
        tunnel = ngrok.connect(port_of(target), pyngrok_config=cfg)
        assert tunnel.uri == f"/api/tunnels/{tunnel.name}"
        assert tunnel.config["addr"] == f"http://localhost:{port_of(target)}"
        assert [t.public_url for t in ngrok.get_tunnels(cfg)] == [tunnel.public_url]
        assert httpx.get(tunnel.public_url + "/echo/v2").json()["path"] == "/echo/v2"
        ngrok.disconnect(tunnel.public_url, cfg)
        assert ngrok.get_tunnels(cfg) == []
    finally:
        ngrok.kill(cfg)


def test_add_authtoken_and_version(home: Path) -> None:
    cfg = make_config(home, token=None)
    ngrok.set_auth_token("2abcdefTOKEN_fromdashboard", cfg)
    assert "authtoken: 2abcdefTOKEN_fromdashboard" in (home / "ngrok.yml").read_text()
    assert (home / "ngrok.yml").stat().st_mode & 0o077 == 0
    version, _ = ngrok.get_version(cfg)
    assert version == "3-local-stand-in"
    # the token from the config file is enough to start
    try:
        assert ngrok.get_ngrok_process(cfg).api_url
    finally:
        ngrok.kill(cfg)


def test_no_authtoken_fails_like_ngrok(home: Path) -> None:
    cfg = make_config(home, token=None)
    with pytest.raises(PyngrokNgrokError) as caught:
        ngrok.connect("8000", pyngrok_config=cfg)
    assert caught.value.ngrok_error_code == "ERR_NGROK_4018"
    assert not process.is_process_running(cfg.ngrok_path)
    error = explain(caught.value)
    assert isinstance(error, RunbookError)
    assert "ERR_NGROK_4018" in error.message
    assert "NGROK_AUTHTOKEN" in error.fix
    assert "dashboard.ngrok.com" in error.fix


def test_rejected_authtoken_fails_like_ngrok(home: Path) -> None:
    cfg = make_config(home, token=REJECTED_AUTHTOKEN)
    with pytest.raises(PyngrokNgrokError) as caught:
        ngrok.connect("8000", pyngrok_config=cfg)
    assert caught.value.ngrok_error_code == "ERR_NGROK_105"
    error = explain(caught.value, REJECTED_AUTHTOKEN)
    assert "rejected the authtoken" in error.message
    assert REJECTED_AUTHTOKEN not in str(error)


def test_agent_exits_when_its_parent_dies(home: Path) -> None:
    """A notebook kernel killed outright leaves no stand-in agent behind."""
    launcher = write_launcher(home)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"subprocess.Popen([{str(launcher)!r}, 'start', '--none', '--log', 'false', "
            f"'--authtoken', 'x', '--config', {str(home / 'ngrok.yml')!r}])\n"
            "time.sleep(60)\n",
        ],
    )
    try:
        deadline = time.monotonic() + 10
        while not processes_mentioning(str(home / "ngrok.yml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_mentioning(str(home / "ngrok.yml"))
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while processes_mentioning(str(home / "ngrok.yml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(home / "ngrok.yml")) == []


def test_agent_exits_when_its_parent_dies_before_the_agent_has_started(home: Path) -> None:
    """The parent is gone before Python inside the agent has even started."""
    launcher = write_launcher(home)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import subprocess\n"
            f"subprocess.Popen([{str(launcher)!r}, 'start', '--none', '--log', 'false', "
            f"'--authtoken', 'x', '--config', {str(home / 'ngrok.yml')!r}])\n",
        ],
        check=True,
    )
    time.sleep(1.5)  # the orphaned agent has started by now
    deadline = time.monotonic() + 10
    while processes_mentioning(str(home / "ngrok.yml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(home / "ngrok.yml")) == []


def test_agent_exits_when_its_parent_was_gone_before_the_launcher_ran(home: Path) -> None:
    """The race the test above hits now and then: the parent died even before the launcher's
    shell read $PPID, which was then init's (1), as is the agent's parent from then on. Such
    an agent stops at once instead of living on."""
    config = str(home / "ngrok.yml")
    env = {**os.environ, "KORE_PLAID_STANDIN_HOME": str(home), "KORE_PLAID_STANDIN_PARENT": "1"}
    agent = [sys.executable, "-m", "kore_plaid_nb.tunnel.standin", "start", "--none"]
    agent += ["--log", "false", "--authtoken", "x", "--config", config]
    # a shell that starts the agent in the background and exits: the agent is an orphan
    subprocess.run(["sh", "-c", '"$@" &', "sh", *agent], env=env, check=True)
    # it stops within a second when alone; a loaded CI machine has taken over 10 s to start it
    deadline = time.monotonic() + 30
    while processes_mentioning(config) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_mentioning(config)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []
