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


def test_items_rotate_and_new_repair_link_are_one_or_the_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both at once is a usage error before anything runs (not a rotation alone)."""
    ref = "itm_000000000000"
    with pytest.raises(SystemExit) as info:
        cli.main(["items", "--rotate", ref, "--new-repair-link", ref])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


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


def test_items_lists_each_item_with_health_and_a_repair_link_tokens_masked(home) -> None:
    import json
    import secrets

    from kore_plaid_nb import settings
    from kore_plaid_nb.bridge.store import ItemRecord, open_store

    current = settings.load()
    store = open_store(current.bridge_store, pool_size=1)
    tokens = []
    for n, state in enumerate(("healthy", "login")):
        session = secrets.token_urlsafe(32)
        store.create_session(session, "client", "http://127.0.0.1/cb", "state=s", 1800)
        token = f"access-sandbox-{secrets.token_hex(16)}"
        tokens.append(token)
        item = ItemRecord(f"item-{state}-{n}", token, "ins_109508", "user")
        store.save_authorization(session, item, f"code-{n}", "client", "http://127.0.0.1/cb",
                                 None, None, 60)  # fmt: skip
    store.record_webhook("item-login-1", "ITEM ERROR", "ITEM_LOGIN_REQUIRED", "ITEM_LOGIN_REQUIRED")
    store.close()
    done = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "items", "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    healthy, login = json.loads(done.stdout)
    assert healthy["health"] == "healthy" and healthy["repair_url"] is None
    assert login["health"] == "ITEM_LOGIN_REQUIRED" and login["last_webhook"] == "ITEM ERROR"
    assert login["repair_url"].startswith(f"http://127.0.0.1:{current.app_port}/repair/")
    assert login["institution"] == "ins_109508"
    assert login["item_ref"].startswith("itm_") and "item-login" not in done.stdout
    assert login["access_token"] == tokens[1][:4] + "…" + tokens[1][-4:]
    table = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "items"], capture_output=True, text=True
    )
    assert table.returncode == 0, table.stderr
    assert "ITEM_LOGIN_REQUIRED" in table.stdout and "/repair/" not in table.stdout
    assert f"repair link sent {login['repair_link_sent_at']}, valid until" in table.stdout
    for token in tokens:
        assert token not in done.stdout + done.stderr + table.stdout + table.stderr
