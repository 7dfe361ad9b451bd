"""Issue 29, point 12: the command line says what is wrong, names the setting, and starts
nothing it does not keep."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kore_plaid_nb import cli, services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.errors import SettingsError
from kore_plaid_nb.runbook.command import plan_line
from kore_plaid_nb.settings import plaid_vocabulary


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


# -- settings Plaid would refuse are named as settings


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("PLAID_PRODUCTS", "auth,foo", "foo"),
        ("PLAID_COUNTRY_CODES", "US,XX", "XX"),
    ],
)
def test_a_value_plaid_does_not_know_names_its_setting(
    name: str, value: str, named: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        settings_module.load()
    assert f"{name}=" in info.value.message and named in info.value.message
    assert "redirect" not in str(info.value).lower()
    assert name in info.value.fix and info.value.step != "4.v-vi"


def test_the_settings_vocabulary_is_plaid_pythons() -> None:
    from plaid.model.country_code import CountryCode
    from plaid.model.products import Products

    assert plaid_vocabulary.PRODUCTS == frozenset(Products.allowed_values[("value",)].values())
    assert plaid_vocabulary.COUNTRY_CODES == frozenset(
        CountryCode.allowed_values[("value",)].values()
    )


def test_an_env_file_named_but_missing_is_said(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "my.env"
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(missing))
    with pytest.raises(SettingsError) as info:
        settings_module.load()
    assert str(missing) in info.value.message and "KORE_PLAID_ENV_FILE" in info.value.fix


def test_an_env_file_named_in_an_existing_folder_may_be_created_later(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notebook 01 writes it: a named file in a folder that exists is not an error yet."""
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / "later.env"))
    assert settings_module.load().env_file == tmp_path / "later.env"


# -- kore-plaid run


def test_run_only_an_unknown_notebook_lists_the_valid_ones(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--only", "99"]) == 2
    out = capsys.readouterr().out
    assert "99" in out and "00" in out and "08" in out and "No notebooks found" not in out


def test_run_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--notebooks NOTEBOOKS" in text and "the folder of the runbook's notebooks" in text


@pytest.mark.parametrize(("count", "said"), [(1, "1 notebook,"), (9, "9 notebooks,")])
def test_run_counts_notebooks_in_english(count: int, said: str) -> None:
    assert said in plan_line(count, "embedded", "page")


# -- kore-plaid stop


def test_stop_a_name_that_is_no_service_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["stop", "bogus"]) == 2
    out = capsys.readouterr().out
    assert "bogus is not a service" in out and "bridge" in out and "emulator" in out
    assert "nothing was running" not in out


# -- bridge and sandbox on a busy port


def test_bridge_help_names_the_port_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["bridge", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "8000" not in text and "APP_PORT" in text and "free port" in text


@pytest.mark.parametrize(
    ("command", "banner"),
    [("bridge", "kore-plaid bridge ("), ("sandbox", "Plaid Sandbox emulator on")],
)
def test_a_busy_port_is_said_before_any_banner_and_nothing_is_left_running(
    command: str, banner: str, busy_port: int, home: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", command, "--port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert banner not in done.stdout + done.stderr
    assert (
        f"Port {busy_port} on 127.0.0.1 is already in use" in done.stderr
        and "Traceback" not in done.stderr
    )
    assert services.running(settings_module.home_path()) == []


def test_every_background_service_is_a_name_stop_accepts() -> None:
    from kore_plaid_nb.bridge import SERVICE_NAME as BRIDGE
    from kore_plaid_nb.emulator.service import SERVICE_NAME as EMULATOR
    from kore_plaid_nb.tunnel.control import SERVICE as TUNNEL

    assert services.SERVICE_NAMES == (EMULATOR, BRIDGE, TUNNEL)


def test_a_busy_metrics_port_stops_the_emulator_the_bridge_started(
    busy_port: int, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_METRICS_PORT", str(busy_port))
    done = subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "bridge", "--port", str(services.free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert str(busy_port) in done.stderr and "Traceback" not in done.stderr
    assert services.running(settings_module.home_path()) == []


# -- notebook 00: the summary carries the failing check's own fix


def test_a_shared_env_file_fails_00_with_chmod_not_make_install(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.errors import RunbookError
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / "shared.env"
    env_file.write_text("APP_PORT=28123\n")
    env_file.chmod(0o644)
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    with pytest.raises(RunbookError) as info:
        steps.prerequisites(settings_module.load())
    assert ".env private (mode 0600)" in info.value.message
    assert f"chmod 600 {env_file}" in info.value.fix and "make install" not in info.value.fix


# -- point 6: kore-plaid run's summary quotes why a service did not start


def test_a_service_that_did_not_start_is_summarized_with_its_cause() -> None:
    from nbclient.exceptions import CellExecutionError

    from kore_plaid_nb.errors import ServiceError
    from kore_plaid_nb.runbook import runner

    error = ServiceError(
        "The bridge did not start on http://127.0.0.1:1. Last lines of its log:\n"
        "error: BRIDGE_DB: cannot connect to PostgreSQL at db:5432/x: Connection refused\n"
        "What to do: Check BRIDGE_DB, that the server runs.",
        fix="Read bridge.log; fix the setting it names, then run the cell again.",
    )
    message, fix = runner._cell_failure(CellExecutionError("tb", "ServiceError", str(error)))
    assert "Connection refused" in message and "Check BRIDGE_DB" in message
    assert fix == "Read bridge.log; fix the setting it names, then run the cell again."


def test_a_service_start_quotes_only_its_own_log_lines(home: Path) -> None:
    from kore_plaid_nb.errors import ServiceError

    log = services.logs_dir(home) / "emulator.log"
    log.write_text("an older start's line\n")
    with pytest.raises(ServiceError) as info:
        services.ensure_running(
            home, "emulator", ["sandbox", "--port", "not-a-port"], port=services.free_port(),
            timeout=60,
        )  # fmt: skip
    assert "an older start's line" not in info.value.message
    assert "not-a-port" in info.value.message


def test_teardown_with_a_store_it_cannot_reach_still_stops_everything(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb import stack

    monkeypatch.setenv("BRIDGE_DB", "postgresql://kore:a-long-password@127.0.0.1:1/bridge")
    monkeypatch.setenv("PLAID_CLIENT_ID", "0123456789abcdef01234567")
    monkeypatch.setenv("PLAID_SECRET", "0123456789abcdef0123456789abcd")
    done = stack.teardown(settings_module.load())
    [said] = [line for line in done if "Items NOT removed" in line]
    assert "BRIDGE_DB" in said and "a-long-password" not in said
    assert services.running(settings_module.home_path()) == []


# -- point 5: a secret without its client_id is said, not thrown away


def test_a_secret_without_a_client_id_is_refused_and_nothing_saved(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Notebook 01's form: an empty client_id box and a typed secret."""
    from kore_plaid_nb import widgets
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_ENV=sandbox\n")
    env_file.chmod(0o600)
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    form = widgets.plaid_keys_form(settings_module.load(), on_save=steps._check_and_save)
    client_id, secret, _, button = form.children[:4]
    secret.value = "0123456789abcdef0123456789abcd"
    button.click()
    out = capsys.readouterr().out
    assert "A secret was typed, but no client_id: nothing was saved." in out
    assert "Removed" not in out and "Traceback" not in out
    assert env_file.read_text() == "PLAID_ENV=sandbox\n"
    assert secret.value == ""  # the typed secret does not stay in the widget's state


# -- point 4: embedded mode is Sandbox only


def test_embedded_mode_keeps_sandbox_and_says_so(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    said = steps._check_and_save("", "", "production")
    assert "Embedded mode is Sandbox only: PLAID_ENV stays sandbox" in said
    assert settings_module.load().plaid_env == "sandbox"
    assert "PLAID_ENV=production" not in env_file.read_text()


# -- point 9: kore-plaid items hides removed Items unless --all


def test_items_hides_removed_items_unless_all(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bridge_support import one_item_stored
    from store_inspect import rows

    from kore_plaid_nb.bridge.store import open_bridge_store

    settings = one_item_stored()
    [(item_id,)] = rows(settings, "SELECT id FROM items")
    with open_bridge_store(settings) as store:
        store.mark_item_removed(item_id)
    assert cli.main(["items"]) == 0
    out = capsys.readouterr().out
    assert "1 Item removed at Plaid not shown: `kore-plaid items --all` lists them" in out
    assert cli.main(["items", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["items", "--all", "--json"]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["health"] == "removed"


# -- point 7: a wrong board token is said once, with the fix; the events wait


def test_a_wrong_board_token_is_said_once_and_the_events_wait(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from kore_plaid_nb import progress
    from kore_plaid_nb.board.app import build_app
    from kore_plaid_nb.board.identity import new_trainee_token, token_digest
    from kore_plaid_nb.board.store import BoardStore
    from kore_plaid_nb.progress import outbox
    from kore_plaid_nb.serving import serve_in_thread

    for name in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "KORE_PLAID_BOARD_AUTH"):
        monkeypatch.delenv(name, raising=False)
    store = BoardStore(tmp_path / "board.sqlite3")
    right = new_trainee_token()
    store.set_trainee_token("ann", token_digest(right), "2026-01-01T00:00:00.000Z")
    try:
        with serve_in_thread(build_app(store, "t" * 32), "127.0.0.1", 0, "board") as url:
            wrong = settings_module.Settings(
                home=home, trainee="ann", board_url=url, board_trainee_token=new_trainee_token()
            )
            for step in ("start", "prerequisites", "finish"):
                progress.record(wrong, "00_start_here", step, "pass")
            told = capsys.readouterr().out
            assert told.count("refused your token (HTTP 401)") == 1
            assert "KORE_PLAID_BOARD_TRAINEE_TOKEN" in told and right not in told
            assert len(outbox.waiting(home)) == 3 and progress.board_refuses_token(wrong)
            fixed = settings_module.Settings(
                home=home, trainee="ann", board_url=url, board_trainee_token=right
            )
            progress.record(fixed, "01_plaid_keys", "start", "pass")
            assert outbox.waiting(home) == [] and store.count() == 4
            assert not progress.board_refuses_token(fixed)
    finally:
        store.close()


# -- point 13: the report draws the chain and names the link mode


def test_the_report_draws_diagrams_offline_and_names_the_link_mode(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    from kore_plaid_nb.runbook import report as report_module
    from kore_plaid_nb.runbook.runner import NotebookResult, RunReport

    build = tmp_path / "build"
    (build / "notebooks").mkdir(parents=True)
    chain = "```mermaid\nflowchart LR\n    kore[Kore] --> bridge[Bridge]\n```"
    nbformat.write(
        new_notebook(cells=[new_markdown_cell(chain)]), build / "notebooks" / "00_start_here.ipynb"
    )
    run = RunReport([NotebookResult("00_start_here", True, 1.0)])
    path = report_module.write_html_report(run, build, "embedded", link_mode="hosted")
    page = path.read_text()
    assert "Mode: embedded, link mode hosted" in page
    assert '<pre class="mermaid">' in page
    script = build / report_module.ASSETS / "mermaid.min.js"
    assert f'src="{report_module.ASSETS}/mermaid.min.js"' in page
    assert script.stat().st_size > 1_000_000 and "mermaid.initialize" in page
    assert oct(script.stat().st_mode & 0o777) == "0o600"
    assert plan_line(1, "embedded", "hosted") == (
        "kore-plaid runbook: 1 notebook, embedded mode, link mode hosted"
    )


# -- points 1 and 3: every cell uses the settings as they are now


def test_02_checks_the_callback_just_saved_not_the_one_before(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.runbook import step_runner, steps

    monkeypatch.setattr(
        step_runner, "running", {"notebook": None, "settings": None, "started": None}
    )
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / ".env"))
    settings = steps.start("02_redirect_uri")
    form = steps.callback_form(settings)
    url_box, save = form.children[0], form.children[3]
    url_box.value = "https://bots.kore.ai/workflows/callback/"
    save.click()
    assert "Saved to" in capsys.readouterr().out
    steps.kore_callbacks(settings)  # the next cell, with the first cell's settings
    out = capsys.readouterr().out
    assert "PLAID_REDIRECT_URI now: https://bots.kore.ai/workflows/callback/" in out


def test_a_later_cell_of_a_broken_notebook_says_fix_the_settings_above_first(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.errors import RunbookError
    from kore_plaid_nb.runbook import step_runner, steps

    monkeypatch.setattr(
        step_runner, "running", {"notebook": None, "settings": None, "started": None}
    )
    env_file = tmp_path / ".env"
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    monkeypatch.delenv("KORE_PLAID_HEADLESS", raising=False)  # in JupyterLab, not `run`
    settings = steps.start("03_bridge")  # a kernel that ran before: good settings
    env_file.write_text("PLAID_ENV=development\n")
    env_file.chmod(0o600)
    with pytest.raises(RunbookError) as info:
        steps.check_bridge(settings)  # the old settings object is not used quietly
    assert info.value.message.startswith("Fix the settings above first: PLAID_ENV=")
    assert f"The settings file is {env_file}." in info.value.fix
    assert "File > Open from Path..." in info.value.fix  # .env: hidden in JupyterLab


# -- point 2: embedded mode has no dashboard


def test_an_embedded_redirect_refusal_sends_to_notebook_02_not_a_dashboard(
    emulator_url: str, home: Path
) -> None:
    from kore_plaid_nb.errors import RunbookError
    from kore_plaid_nb.verification import check_redirect_uri_registered

    settings = settings_module.load().with_values(plaid_api_url=emulator_url)
    assert settings.embedded
    with pytest.raises(RunbookError) as info:
        check_redirect_uri_registered(settings, "https://bots.example.com/workflows/callback/")
    assert "dashboard" not in info.value.fix.lower().replace("plays plaid's dashboard", "")
    assert "notebook 02" in info.value.fix


def test_the_emulators_dashboard_takes_the_saved_callbacks(emulator_url: str) -> None:
    import httpx

    from kore_plaid_nb.settings import DEMO_CLIENT_ID, DEMO_SECRET

    keys = {"PLAID-CLIENT-ID": DEMO_CLIENT_ID, "PLAID-SECRET": DEMO_SECRET}
    new = ["https://bots.example.com/workflows/callback/"]
    put = httpx.put(
        f"{emulator_url}/_emulator/dashboard", json={"allowed_redirect_uris": new}, headers=keys
    )
    assert put.status_code == 200 and put.json() == {"allowed_redirect_uris": new}
    wrong = {**keys, "PLAID-SECRET": "0" * 30}
    refused = httpx.put(
        f"{emulator_url}/_emulator/dashboard", json={"allowed_redirect_uris": new}, headers=wrong
    )
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_API_KEYS"
    link = httpx.post(
        f"{emulator_url}/link/token/create",
        headers=keys,
        json={
            "client_name": "x", "language": "en", "country_codes": ["US"], "products": ["auth"],
            "user": {"client_user_id": "u"}, "redirect_uri": new[0],
        },
    )  # fmt: skip
    assert link.status_code == 200, link.text


# -- point 9: steps in words, on the board and in kore-plaid progress


def test_every_step_of_the_runbook_has_words() -> None:
    from kore_plaid_nb.progress import catalog

    steps = {step for notebook in catalog.RUNBOOK for step in notebook.steps}
    assert steps <= set(catalog.STEP_WORDS)
    assert all(" " in catalog.step_words(step) for step in steps)  # words, not names


def test_the_board_and_progress_show_step_words(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.board.progress import notebook_json
    from kore_plaid_nb.progress import checklist, record

    current = settings_module.load()
    record(current, "01_plaid_keys", "start", "pass")
    record(current, "01_plaid_keys", "plaid_keys_form", "pass")
    keys = checklist(current)[1]
    labels = {s["step"]: s["label"] for s in notebook_json(keys)["steps"]}  # type: ignore[union-attr]
    assert labels["plaid_keys_form"] == "Plaid keys form"
    assert cli.main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "Plaid keys checked" in out and "plaid_keys_form" not in out


# -- point 15: the Hub's board port


def test_a_busy_board_port_under_the_hub_names_its_setting(
    busy_port: int, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.board import command as board_command
    from kore_plaid_nb.errors import ServiceError

    with pytest.raises(ServiceError) as info:
        board_command._check_port("127.0.0.1", busy_port, hub_port=True)
    assert "KORE_PLAID_BOARD_PORT" in info.value.fix and "--port" not in info.value.fix


def test_the_hub_refuses_to_start_while_the_board_port_is_taken(
    busy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from traitlets.config.loader import PyFileConfigLoader

    config = Path(__file__).resolve().parents[1] / "deploy" / "jupyterhub" / "jupyterhub_config.py"
    monkeypatch.setenv("KORE_PLAID_BOARD_HOME", str(tmp_path / "board"))
    monkeypatch.setenv("KORE_PLAID_BOARD_PORT", str(busy_port))
    with pytest.raises(ValueError, match=f"KORE_PLAID_BOARD_PORT={busy_port} is already in use"):
        PyFileConfigLoader(config.name, str(config.parent)).load_config()


# -- point 14: small things in the notebooks and commands


def test_make_lab_opens_00_and_takes_a_port_and_no_browser() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "-s", "lab", "LAB_PORT=8890", "NO_BROWSER=1", "STAMP=/dev/null"],
        cwd=root, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    command = " ".join(done.stdout.replace("\\\n", " ").split())
    assert "--port=8890" in command and "--no-browser" in command
    assert "--LabApp.default_url=/lab/tree/00_start_here.ipynb" in command


def test_08_has_a_button_that_removes_the_saved_secrets(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.runbook import steps

    env_file = tmp_path / ".env"
    env_file.write_text(
        "PLAID_CLIENT_ID=0123456789abcdef01234567\nPLAID_SECRET=0123456789abcdef0123456789abcd\n"
        "NGROK_AUTHTOKEN=2abcdefghijklmnopqrstuvwxyz_0123456789ABCD\n"
    )
    env_file.chmod(0o600)
    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(env_file))
    form = steps.wipe_secrets_form(settings_module.load())
    form.children[0].click()
    assert "Removed PLAID_SECRET and NGROK_AUTHTOKEN" in capsys.readouterr().out
    text = env_file.read_text()
    assert "PLAID_SECRET" not in text and "NGROK_AUTHTOKEN" not in text
    assert "PLAID_CLIENT_ID=0123456789abcdef01234567" in text
    assert "0123456789abcd" not in repr(form)  # the stored output names no secret


def test_an_ngrok_token_saved_in_embedded_mode_says_the_stand_in_stays(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.runbook import steps

    monkeypatch.setenv("KORE_PLAID_ENV_FILE", str(tmp_path / ".env"))
    form = steps.ngrok_form(settings_module.load())
    token_box, save = (
        form.children[0],
        next(child for child in form.children if getattr(child, "description", "") == "Save"),
    )
    token_box.value = "2abcdefghijklmnopqrstuvwxyz_0123456789ABCD"
    save.click()
    assert "Embedded mode keeps the local tunnel stand-in" in capsys.readouterr().out


def test_00_warns_about_a_wrong_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.runbook import steps

    monkeypatch.setenv("PLAID_ENV", "development")
    steps.prerequisites(settings_module.load(validate=False))  # 00 passes, and says it
    out = capsys.readouterr().out
    assert "WARNING: PLAID_ENV=development: Plaid decommissioned its Development environment" in out


# -- point 10: make test installs the browser, or says how, or says it skipped them


def installer(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """tools/install_browser.sh where Chromium is missing and apt-get cannot be found."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("id",):
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    script = Path(__file__).resolve().parents[1] / "tools" / "install_browser.sh"
    return subprocess.run(
        ["/bin/bash", str(script)],
        env={"PATH": str(bin_dir), "KORE_PLAID_CHROMIUM": str(tmp_path / "chromium"), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_missing_browser_stops_make_test_with_how_to_install_it(tmp_path: Path) -> None:
    done = installer(tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "sudo apt-get install chromium" in line and "SKIP_BROWSER=1" in line


def test_skip_browser_lets_make_test_go_on_and_says_so(tmp_path: Path) -> None:
    done = installer(tmp_path, SKIP_BROWSER="1")
    assert done.returncode == 0 and "the browser tests will NOT run" in done.stderr


def test_make_test_runs_the_browser_installer() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "test", "STAMP=/dev/null"], cwd=root, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert "bash tools/install_browser.sh" in done.stdout


def test_production_in_embedded_mode_is_a_settings_problem_named_at_01(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 29, point 4: before, 01 accepted it, 05 said Tenant = production, 06 failed."""
    monkeypatch.setenv("PLAID_ENV", "production")
    with pytest.raises(SettingsError) as info:
        settings_module.load()
    assert "Sandbox only" in info.value.message and "PLAID_ENV=sandbox" in info.value.fix


def test_stored_notebooks_show_readable_examples_not_placeholders() -> None:
    """Issue 29, point 14: what a newcomer sees before the first run."""
    root = Path(__file__).resolve().parents[1] / "notebooks"
    text = "".join(path.read_text() for path in sorted(root.glob("0*.ipynb")))
    assert "Progress (TRAINEE): PROGRESS" not in text and "APP_PORT             PORT" not in text
    assert "Progress (you): your notebooks done so far" in text


def test_stored_outputs_merge_consecutive_prints_as_nbval_compares_them() -> None:
    from nbformat.v4 import new_output

    from kore_plaid_nb.runbook.runner import _coalesced

    outputs = [
        new_output("stream", name="stdout", text="stopped bridge\n"),
        new_output("stream", name="stdout", text="Nothing is left running.\n"),
        new_output("stream", name="stderr", text="warning\n"),
    ]
    merged = _coalesced(outputs)
    assert [o["text"] for o in merged] == [
        "stopped bridge\nNothing is left running.\n",
        "warning\n",
    ]


def test_an_errors_lines_wrap_at_words_not_mid_word() -> None:
    """Issue 29, point 14: JupyterLab broke long error lines anywhere ("use t|hat")."""
    from kore_plaid_nb.errors import RunbookError

    error = RunbookError(
        "PLAID_ENV=development: Plaid decommissioned its Development environment on 2024-06-20 "
        "(and plaid-python removed it in 24.0.0).",
        fix="Set PLAID_ENV=sandbox for test data (free, user_good / pass_good) or "
        "PLAID_ENV=production for real banks, and use that environment's secret. The settings "
        "file is /tmp/kore-plaid-round3-7p9aka2z/.env.",
        step="4.iv",
    )
    lines = error._render_traceback_()
    assert all(len(line) <= 96 for line in lines)
    assert lines[0].startswith("error: PLAID_ENV=development")
    assert any(line.startswith("What to do: Set PLAID_ENV=sandbox") for line in lines)
    assert " ".join(" ".join(lines).split()) == " ".join(f"error: {error}".split())


def test_stored_notebooks_carry_the_kernel_metadata_jupyterlab_would_set() -> None:
    """Issue 29, point 14: opening a notebook marked it modified, because JupyterLab wrote the
    kernel's display name ("Python 3 (ipykernel)") and language version into it."""
    import json

    from jupyter_client.kernelspec import KernelSpecManager

    installed = KernelSpecManager().get_kernel_spec("python3")
    root = Path(__file__).resolve().parents[1] / "notebooks"
    for path in sorted(root.glob("0*.ipynb")):
        metadata = json.loads(path.read_text())["metadata"]
        assert metadata["kernelspec"]["display_name"] == installed.display_name, path.name
        assert metadata["language_info"].get("version", "").startswith("3."), path.name


def test_08_runs_whole_with_a_wrong_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Teardown must never be kept from running: every step of 08 is lenient."""
    from kore_plaid_nb.progress import catalog
    from kore_plaid_nb.runbook import step_runner, steps

    monkeypatch.setattr(
        step_runner, "running", {"notebook": None, "settings": None, "started": None}
    )
    monkeypatch.setenv("PLAID_ENV", "development")
    settings = steps.start("08_teardown")
    [teardown] = [n for n in catalog.RUNBOOK if n.name == "08_teardown"]
    assert set(teardown.steps) - {"start"} <= step_runner.LENIENT_STEPS
    steps.teardown(settings, wipe_secrets=False)
    steps.wipe_secrets_form(settings)
    steps.go_live(settings)
    assert "Nothing is left running." in capsys.readouterr().out
