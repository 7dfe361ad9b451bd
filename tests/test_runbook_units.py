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
        assert text.startswith("[The form for ") and text.endswith(" when this cell runs]")
        assert "secret-0123456789abcdef" not in text and "ngrok-0123456789abcdef" not in text
    keys = widgets.plaid_keys_form(current)
    password = keys.children[1]
    assert password.value == ""
    assert password.placeholder.startswith("saved: secr…cdef")


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
    from types import SimpleNamespace

    from kore_plaid_nb.kore.standin import STANDIN_BEHAVIOUR, StandinRun
    from kore_plaid_nb.runbook import steps

    embedded = settings.load({})
    running = SimpleNamespace(settings=embedded, public_url="http://127.0.0.1:9/")
    played: list[tuple[object, str]] = []

    def play(current: settings.Settings, url: str) -> StandinRun:
        played.append((current, url))
        return StandinRun(STANDIN_BEHAVIOUR, 200)

    monkeypatch.setattr(steps.stack, "ensure_stack", lambda current: running)
    monkeypatch.setattr(steps, "play_kore", play)
    steps.wait_for_kore(embedded)
    out = capsys.readouterr().out
    assert played == [(embedded, "http://127.0.0.1:9/")]
    assert "a stand-in plays it" in out
    assert "The stand-in Kore authorized once (both, json, no state, no PKCE)" in out
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
    client_id, secret, environment, button = form.children[:4]
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
    lines = info.value._render_traceback_()  # wrapped at words (issue 29): read as one text
    shown = " ".join(" ".join(lines).split())
    assert shown.startswith(
        "error: check_tunnel failed unexpectedly: the connection was refused: "
        "nothing answers at that address What to do: Run the cell again."
    )
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
    message, _ = runner._cell_failure(runner._cell_failure_in(hidden))
    assert message.startswith("PLAID_ENV=development")
    alone = RuntimeError("kernel did not start")
    assert runner._cell_failure(runner._cell_failure_in(alone)) == (
        "RuntimeError: kernel did not start",
        "",
    )


def test_a_failed_cell_reads_as_its_message_and_fix_without_class_names() -> None:
    from nbclient.exceptions import CellExecutionError

    from kore_plaid_nb.errors import ServiceError

    error = ServiceError("The bridge did not start.", fix="Run `kore-plaid status`.", step="4.x")
    raised = CellExecutionError("traceback", "ServiceError", str(error))
    assert runner._cell_failure(raised) == (
        "The bridge did not start. (procedure step 4.x)",
        "Run `kore-plaid status`.",
    )
    library = CellExecutionError("traceback", "ConnectError", "[Errno 111] Connection refused")
    assert runner._cell_failure(library) == ("[Errno 111] Connection refused", "")
    builtin = CellExecutionError("traceback", "NameError", "name 'x' is not defined")
    assert runner._cell_failure(builtin)[0] == "NameError: name 'x' is not defined"


# -- 01: keys are checked before they are saved (issue 15) --------------------------------

LIBRARY_NAMES = (
    "MaxRetryError",
    "NewConnectionError",
    "NameResolutionError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "HTTPSConnectionPool",
    "HTTPConnectionPool",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "TimeoutError",
    "SSLCertVerificationError",
    "ServiceError",
    "RunbookError",
    "PlaidUnreachable",
    "ApiException",
    "object at 0x",
)


def _closed_plaid(monkeypatch) -> str:
    from kore_plaid_nb import services

    closed = f"http://127.0.0.1:{services.free_port()}"
    monkeypatch.setenv("PLAID_API_URL", closed)
    return closed


def test_keys_plaid_cannot_check_are_not_saved_unless_asked(tmp_path: Path, monkeypatch) -> None:
    from kore_plaid_nb.errors import PlaidUnreachable
    from kore_plaid_nb.runbook import steps

    closed = _closed_plaid(monkeypatch)
    env_file = tmp_path / ".env"
    with pytest.raises(PlaidUnreachable) as info:
        steps._check_and_save("client-0123456789abcd", "secret-0123456789abcdef", "sandbox")
    text = str(info.value)
    assert text.startswith(f"Plaid could not be reached at {closed} (the connection was refused")
    assert "nothing was saved" in text and "Save anyway" in text and str(env_file) in text
    assert not any(name in text for name in LIBRARY_NAMES)
    assert not env_file.exists()
    line = steps._save_unchecked("client-0123456789abcd", "secret-0123456789abcdef", "sandbox")
    assert f"Saved to {env_file}: PLAID_CLIENT_ID clie…abcd, PLAID_SECRET secr…cdef" in line
    assert "WITHOUT a check" in line
    assert f"remove PLAID_CLIENT_ID and PLAID_SECRET from {env_file}" in line
    assert "secret-0123456789abcdef" not in line
    assert settings.read_env_file(env_file)["PLAID_SECRET"] == "secret-0123456789abcdef"


def test_keys_plaid_refuses_are_not_saved(tmp_path: Path, embedded) -> None:
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    with pytest.raises(RunbookError) as info:
        steps._check_and_save("client-0123456789abcd", "secret-0123456789abcdef", "sandbox")
    text = str(info.value)
    assert "INVALID_API_KEYS" in text and "Nothing was saved." in text
    assert "dashboard.plaid.com > Developers > Keys" in info.value.fix
    assert not env_file.exists()


def test_accepted_keys_are_saved_and_the_way_back_is_shown(tmp_path: Path, embedded) -> None:
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nNGROK_DOMAIN=my-bot.ngrok.app\n")
    line = steps._check_and_save(settings.DEMO_CLIENT_ID, settings.DEMO_SECRET, "sandbox")
    assert line.startswith("The embedded emulator accepted the keys")
    assert f"Saved to {env_file}: PLAID_CLIENT_ID kore…000a, PLAID_SECRET kore…00b1" in line
    assert (
        f"To go back to the embedded mode: remove PLAID_CLIENT_ID and PLAID_SECRET from {env_file}"[
            :60
        ]
        in line
    )  # noqa: E501
    values = settings.read_env_file(env_file)
    assert values["PLAID_CLIENT_ID"] == settings.DEMO_CLIENT_ID
    assert values["NGROK_DOMAIN"] == "my-bot.ngrok.app"
    back = steps._check_and_save("", "", "sandbox")  # empty client_id: embedded mode again
    assert f"Removed PLAID_CLIENT_ID and PLAID_SECRET from {env_file}" in back
    assert "PLAID_CLIENT_ID" not in settings.read_env_file(env_file)
    assert settings.load().embedded


def test_the_wrong_secret_demo_never_says_as_expected_without_plaid(monkeypatch, capsys) -> None:
    from kore_plaid_nb.errors import PlaidUnreachable
    from kore_plaid_nb.runbook import steps

    closed = _closed_plaid(monkeypatch)
    live = settings.load()
    live = live.with_values(plaid_client_id="client-0123456789", plaid_secret="s" * 20)
    with pytest.raises(PlaidUnreachable) as info:
        steps.show_wrong_secret(live)
    text = str(info.value) + capsys.readouterr().out
    assert "As expected" not in text and "as expected" not in text
    assert (
        f"Could not show what a wrong secret looks like: Plaid could not be reached at {closed}"
        in text
    )  # noqa: E501
    assert f"What to do: PLAID_API_URL points at {closed}: start the emulator" in text


def test_the_wrong_secret_demo_shows_plaids_refusal(embedded, capsys) -> None:
    from kore_plaid_nb.runbook import steps

    steps.show_wrong_secret(embedded)
    out = capsys.readouterr().out
    assert (
        out.startswith("As expected, Plaid refuses a wrong secret:") and "INVALID_API_KEYS" in out
    )


def _transport_failures() -> list[BaseException]:
    """What plaid-python's transport (urllib3) and httpx raise, wrapped as they come."""
    import socket
    import ssl

    import httpx
    import urllib3
    from urllib3 import exceptions as u3

    pool = urllib3.HTTPSConnectionPool("sandbox.plaid.com", 443)
    conn = urllib3.connection.HTTPSConnection("sandbox.plaid.com", 443)
    url = "/link/token/create"
    refused = u3.NewConnectionError(conn, "Failed to establish: [Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    unknown = socket.gaierror(-2, "Name or service not known")
    connect_timeout = u3.ConnectTimeoutError(conn, "Connection timed out. (connect timeout=30)")
    certificate = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] failed")
    reset = ConnectionResetError(104, "Connection reset by peer")
    return [
        u3.MaxRetryError(pool, url, refused),
        u3.MaxRetryError(pool, url, u3.NameResolutionError("sandbox.plaid.com", conn, unknown)),
        u3.MaxRetryError(pool, url, connect_timeout),
        u3.ReadTimeoutError(pool, url, "Read timed out. (read timeout=30)"),
        u3.MaxRetryError(pool, url, u3.SSLError(certificate)),
        u3.ProtocolError("Connection aborted.", reset),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectTimeout("timed out"),
        TimeoutError("timed out"),
    ]


EXPECTED_WORDS = (
    "refused",
    "could not be resolved",
    "timed out",
    "timed out",
    "TLS",
    "closed before an answer",
    "refused",
    "timed out",
    "timed out",
)


@pytest.mark.parametrize("index", range(len(EXPECTED_WORDS)))
def test_connection_failures_are_told_without_library_class_names(
    index: int, monkeypatch, capsys
) -> None:
    from kore_plaid_nb import plaid_client
    from kore_plaid_nb.runbook import steps

    failure = _transport_failures()[index]

    def fail(*_: object, **__: object) -> str:
        raise failure

    monkeypatch.setattr(plaid_client, "create_link_token", fail)
    live = settings.load({"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "s" * 20})
    shown = []
    for action in (
        lambda: steps.check_plaid_keys(live),
        lambda: steps.show_wrong_secret(live),
        lambda: steps._check_and_save("client-0123456789abcd", "secret-0123456789abcd", "sandbox"),
    ):
        with pytest.raises(RunbookError) as info:
            action()
        shown.append(" ".join(" ".join(info.value._render_traceback_()).split()))
    form = widgets.plaid_keys_form(live, on_save=steps._check_and_save, on_save_anyway=None)
    form.children[3].click()
    shown.append(capsys.readouterr().out)
    for text in shown:
        assert EXPECTED_WORDS[index] in text, text
        assert not any(name in text for name in LIBRARY_NAMES), text
        assert "unexpectedly" not in text


def test_the_check_after_the_form_checks_the_keys_the_form_saved(
    tmp_path: Path, embedded, monkeypatch, capsys
) -> None:
    from kore_plaid_nb.runbook import step_runner, steps

    monkeypatch.setattr(
        step_runner, "running", {"notebook": None, "settings": None, "started": None}
    )
    current = steps.start("01_plaid_keys")
    assert not current.plaid_client_id
    steps._check_and_save(settings.DEMO_CLIENT_ID, settings.DEMO_SECRET, "sandbox")  # the form
    capsys.readouterr()
    steps.check_plaid_keys(current)  # the next cell, with the settings of the first one
    out = capsys.readouterr().out
    assert f"Using the settings now saved in {tmp_path / '.env'}: embedded mode" in out
    assert "Plaid accepted the keys" in out
    # every later cell passes the same first object: it gets the saved keys too
    steps.show_settings(current)
    assert settings.mask(settings.DEMO_CLIENT_ID) in capsys.readouterr().out


def test_a_plaid_refusal_escaping_a_step_is_explained_not_named() -> None:
    import json

    import plaid

    from kore_plaid_nb.runbook import steps

    @steps.step
    def lists_accounts() -> None:
        refusal = plaid.ApiException(status=400, reason="Bad Request")
        refusal.body = json.dumps(
            {"error_type": "INVALID_INPUT", "error_code": "INVALID_API_KEYS", "error_message": "x"}
        )
        raise refusal

    with pytest.raises(RunbookError) as info:
        lists_accounts()
    text = "\n".join(info.value._render_traceback_())
    assert text.startswith("error: Plaid refused the call: INVALID_INPUT/INVALID_API_KEYS")
    assert "dashboard.plaid.com > Developers > Keys" in text
    assert "ApiException" not in text and "unexpectedly" not in text
