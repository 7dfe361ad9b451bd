"""Units of the runbook layer: tables, error rendering, sanitizing, redaction, forms."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kore_plaid_nb import settings, widgets
from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.runbook import runner
from kore_plaid_nb.runbook.sanitize import load_patterns, sanitize_text
from kore_plaid_nb.tables import format_table

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_format_table_aligns_columns() -> None:
    text = format_table(("check", "result"), [("a", "ok"), ("longer name", "FAILED")])
    lines = text.splitlines()
    assert lines[0] == "check        result"
    assert lines[1] == "-----------  ------"
    assert lines[3] == "longer name  FAILED"


def test_runbook_error_renders_without_traceback() -> None:
    exc = RunbookError("Port 8000 is in use.", fix="Set APP_PORT.", step="4.x")
    assert exc._render_traceback_() == [
        "error: Port 8000 is in use. (procedure step 4.x)",
        "What to do: Set APP_PORT.",
    ]


def test_redact_masks_secrets_in_every_output_kind() -> None:
    secret = "canary-secret-0123456789"
    nb = new_notebook(cells=[new_code_cell("x")])
    nb.cells[0].outputs = [
        new_output("stream", name="stdout", text=f"leak {secret}\n"),
        new_output(
            "execute_result", data={"text/plain": secret, "text/html": secret}, execution_count=1
        ),
        new_output("error", ename="E", evalue=secret, traceback=[f"line with {secret}"]),
    ]
    assert runner.redact(nb, [secret]) == 5
    assert secret not in nbformat.writes(nb)
    assert settings.mask(secret) in nb.cells[0].outputs[0].text


def test_sanitize_rules_hide_what_varies() -> None:
    patterns = load_patterns(NOTEBOOKS / "sanitize.cfg")
    text = (
        "http://127.0.0.1:41234/x access-sandbox-8d5f8a3e-1111-4222-8333-444455556666 took 0.123 s"
    )
    out = sanitize_text(text, patterns)
    assert "41234" not in out and "8d5f8a3e" not in out and "0.123" not in out


def test_forms_never_show_values_in_their_text(monkeypatch) -> None:
    current = settings.load(
        {
            "PLAID_CLIENT_ID": "client-0123456789abcd",
            "PLAID_SECRET": "secret-0123456789abcdef",
            "NGROK_AUTHTOKEN": "ngrok-0123456789abcdef",
        }
    )
    for form in (
        widgets.plaid_keys_form(current),
        widgets.ngrok_form(current),
        widgets.callback_form(current),
    ):
        text = repr(form)
        assert text.startswith("[form: ")
        assert "secret-0123456789abcdef" not in text and "ngrok-0123456789abcdef" not in text
    keys = widgets.plaid_keys_form(current)
    password = keys.children[1]
    assert password.value == ""
    assert password.placeholder == "saved: secr…cdef"


def test_save_plaid_keys_validates_and_masks(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    line = settings.save_plaid_keys(
        "client-0123456789abcd", "secret-0123456789abcdef", "sandbox", env_file
    )
    assert "secret-0123456789abcdef" not in line and "secr…cdef" in line
    try:
        settings.save_plaid_keys("c", "s", "development", env_file)
    except RunbookError as exc:
        assert "2024-06-20" in str(exc)
    else:
        raise AssertionError("development must be refused")
    assert "development" not in env_file.read_text()


def test_wait_for_kore_never_blocks_a_headless_or_embedded_run(monkeypatch, capsys) -> None:
    from kore_plaid_nb.runbook import steps

    steps.wait_for_kore(settings.load({}))
    assert "simulator above played Kore's part" in capsys.readouterr().out
    live = settings.load({"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "s" * 20})
    monkeypatch.setenv(steps.HEADLESS_ENV, "1")
    steps.wait_for_kore(live)
    assert "Headless run" in capsys.readouterr().out


def test_prerequisites_flag_a_world_readable_env_file(tmp_path: Path, capsys) -> None:
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_ENV=sandbox\n")
    env_file.chmod(0o644)
    current = settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file)
    try:
        steps.prerequisites(current)
    except RunbookError:
        pass
    else:
        raise AssertionError("a world-readable .env must fail the check")
    assert "chmod 600 .env" in capsys.readouterr().out


def test_link_return_is_checked_only_once_its_public_url_is_known(
    monkeypatch, capsys, embedded
) -> None:
    from kore_plaid_nb.runbook import steps

    live = embedded.with_values(
        mode_choice="live",
        plaid_client_id=settings.DEMO_CLIENT_ID,
        plaid_secret=settings.DEMO_SECRET,
    )
    assert not live.embedded and live.plaid_api_url  # live keys, Plaid played by the emulator
    monkeypatch.setattr(steps, "resolve_public_url", lambda s: "http://127.0.0.1:8000")
    steps.check_redirect_uris(live)
    out = capsys.readouterr().out
    assert "Kore callback  allowed" in out and "not checked yet" in out
    monkeypatch.setattr(steps, "resolve_public_url", lambda s: "https://bot.ngrok.app")
    with pytest.raises(RunbookError) as info:  # the emulated dashboard lacks that URI
        steps.check_redirect_uris(live)
    assert "https://bot.ngrok.app/oauth-return" in str(info.value)
    assert info.value.step == "4.v-vi"


def test_check_and_save_passes_the_values_and_clears_the_password() -> None:
    calls = []
    current = settings.load(
        {"PLAID_CLIENT_ID": "old-client-01234", "PLAID_SECRET": "old-secret-0123456"}
    )
    form = widgets.plaid_keys_form(current, on_save=lambda *args: calls.append(args) or "ok")
    client_id, secret, environment, button, _ = form.children
    client_id.value = "new-client-01234"
    environment.value = "production"
    button.click()  # empty secret box: keep the saved one
    secret.value = "new-secret-0123456"
    button.click()
    assert calls == [
        ("new-client-01234", "old-secret-0123456", "production"),
        ("new-client-01234", "new-secret-0123456", "production"),
    ]
    assert secret.value == ""  # the typed secret does not stay in the widget's state


def test_a_refused_save_shows_the_reason_not_a_traceback(capsys) -> None:
    def refuse(*_: str) -> str:
        raise RunbookError("PLAID_ENV=development is gone.", fix="Pick sandbox.")

    form = widgets.plaid_keys_form(settings.load({}), on_save=refuse)
    form.children[3].click()
    out = capsys.readouterr().out
    assert "error: PLAID_ENV=development is gone." in out and "Traceback" not in out


def test_a_tunnel_url_that_changed_since_the_profile_names_the_kore_fields(embedded) -> None:
    from kore_plaid_nb import kore, stack, tunnel

    running = stack.ensure_stack(embedded)
    try:
        kore.remember_public_url(embedded, running.public_url + "/")
        assert kore.remembered_public_url(embedded) == running.public_url
        tunnel.check_tunnel(running.settings, expected_url=kore.remembered_public_url(embedded))
        kore.remember_public_url(embedded, "https://old-name.ngrok.app")
        with pytest.raises(RunbookError) as info:
            tunnel.check_tunnel(running.settings, expected_url=kore.remembered_public_url(embedded))
        text = str(info.value)
        assert "https://old-name.ngrok.app" in text and running.public_url in text
        for field in ("Authorization URL", "Token Request URL", "Refresh Token URL"):
            assert field in text
    finally:
        stack.teardown(embedded)


def test_an_unexpected_failure_in_a_step_is_a_readable_error(monkeypatch) -> None:
    import httpx

    from kore_plaid_nb.runbook import steps

    def refuse(*args, **kwargs):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    monkeypatch.setattr(steps.stack, "ensure_stack", refuse)
    with pytest.raises(RunbookError) as info:
        steps.check_tunnel(settings.load({}))
    lines = info.value._render_traceback_()
    assert lines[0] == (
        "error: check_tunnel failed unexpectedly: ConnectError: [Errno 111] Connection refused"
    )
    assert lines[1].startswith("What to do: Run the cell again.")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_an_unreachable_plaid_says_so(capsys) -> None:
    from kore_plaid_nb import services
    from kore_plaid_nb.runbook import steps

    closed = f"http://127.0.0.1:{services.free_port()}"
    live = settings.load(
        {"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "s" * 20, "PLAID_API_URL": closed}
    )
    with pytest.raises(RunbookError) as info:
        steps.check_plaid_keys(live)
    assert str(info.value).startswith(f"Plaid could not be reached at {closed} (")
    assert "unexpectedly" not in str(info.value)


def test_a_failure_while_the_kernel_shuts_down_keeps_the_cells_error() -> None:
    from nbclient.exceptions import CellExecutionError

    try:
        try:
            raise CellExecutionError("trace", "SettingsError", "PLAID_ENV=development: gone")
        except CellExecutionError:
            raise RuntimeError("kernel did not shut down") from None
    except RuntimeError as exc:
        hidden = exc
    assert hidden.__context__ is not None
    assert runner._cell_failure_in(hidden).__class__.__name__ == "CellExecutionError"
    message = runner._cell_error_message(runner._cell_failure_in(hidden))
    assert message.startswith("SettingsError: PLAID_ENV=development")
    alone = RuntimeError("kernel did not start")
    assert runner._cell_error_message(runner._cell_failure_in(alone)) == (
        "RuntimeError: kernel did not start"
    )
