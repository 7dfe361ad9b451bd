"""The ``kore-plaid`` command line: every command loads, and errors are readable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kore_plaid_nb import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    assert cli.COMMANDS[name][1] in capsys.readouterr().out


def test_all_commands_configure_together() -> None:
    parser = cli.build_parser()
    assert set(parser._subparsers._group_actions[0].choices) == set(cli.COMMANDS)


def test_settings_error_is_a_message_not_a_traceback(monkeypatch) -> None:
    monkeypatch.setenv("PLAID_ENV", "development")
    done = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "profile"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "2024-06-20" in done.stderr and "What to do:" in done.stderr


def test_status_and_stop_with_nothing_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status"]) == 0
    assert "No background service is running" in capsys.readouterr().out
    assert cli.main(["stop"]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_bridge_alone_in_embedded_mode_starts_the_emulator(home) -> None:
    import httpx

    from kore_plaid_nb import services, settings

    port = services.free_port()
    bridge = subprocess.Popen(
        [sys.executable, "-m", "kore_plaid_nb", "bridge", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert services.wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=30)
        current = settings.load()
        answer = httpx.get(
            f"http://127.0.0.1:{port}/",
            params={
                "response_type": "code",
                "client_id": current.client_id,
                "redirect_uri": current.plaid_redirect_uri,
                "state": "s1",
            },
            headers={"Accept": "application/json"},
        )
        assert answer.status_code == 200
        assert answer.json()["link_token"].startswith("link-sandbox-")
        assert [r.name for r in services.running(home)] == ["emulator"]
    finally:
        bridge.terminate()
        stderr = bridge.communicate(timeout=15)[1]
    assert "kore-plaid stop emulator" in stderr
