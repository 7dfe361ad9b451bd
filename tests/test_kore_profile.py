"""The authorization profile: every value Kore's form asks for, secrets masked unless revealed."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

import ipywidgets
import nbformat
import pytest
from nbconvert import HTMLExporter

from kore_plaid_nb import cli, command_line, services, settings, tunnel
from kore_plaid_nb.command_line import cli_command
from kore_plaid_nb.kore import command, profile_view
from kore_plaid_nb.kore.profile import build_profile, resolve_public_url
from kore_plaid_nb.kore.profile_view import LINK_STYLE, ProfileView

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


# Kore's "OAuth v2 - Custom" form in its own order and labels (Kore's docs: the OAuth v2 page's
# labels, the HubSpot guide's order), each with the procedure step that fills it
FORM_ORDER = [
    ("4.i", "Authorization Type"),
    ("4.v-vi", "Callback Link"),
    ("4.ii", "Identity Provider Name"),
    ("4.iii", "Client ID"),
    ("4.iv", "Client Secret Key"),
    ("5", "Authorization URL"),
    ("-", "Access Using a Connector"),
    ("7", "Token Request URL"),
    ("-", "Scope"),
    ("7", "Refresh Token URL"),
    ("-", "Description"),
    ("6", "Subdomain / Tenancy URL"),
    ("6", "Base URL"),
    ("-", "Additional Fields"),
    ("8", "Authorization Field 1 > Field Type"),
    ("8", "Authorization Field 1 > Field Key"),
    ("8", "Authorization Field 1 > Field Value"),
    ("9", "Authorization Field 2 > Field Type"),
    ("9", "Authorization Field 2 > Field Key"),
    ("9", "Authorization Field 2 > Field Value"),
    ("9", "Authorization Field 3 > Field Type"),
    ("9", "Authorization Field 3 > Field Key"),
    ("9", "Authorization Field 3 > Field Value"),
    ("-", "Auth Error Status Code"),
]


def test_rows_follow_the_form_order(live_keys: settings.Settings) -> None:
    profile = build_profile(live_keys, PUBLIC)
    form = profile.form_rows()
    assert [(r.step, r.label) for r in form] == FORM_ORDER
    values = {r.label: r.value for r in form}
    # the Authorization Field rows: one Kore input each (seed steps 8-9), not "a | b | c"
    assert [values[f"Authorization Field {n} > Field Type"] for n in (1, 2, 3)] == [
        "payload",
        "header",
        "header",
    ]
    assert [values[f"Authorization Field {n} > Field Key"] for n in (1, 2, 3)] == [
        "access_token",
        "PLAID-CLIENT-ID",
        "PLAID-SECRET",
    ]
    assert [values[f"Authorization Field {n} > Field Value"] for n in (1, 2, 3)] == [
        "{{accessToken}}",
        CLIENT_ID,
        "0123…abcd",
    ]
    assert [r.label for r in form if r.secret] == [
        "Client Secret Key",
        "Authorization Field 3 > Field Value",
    ]
    assert all("|" not in r.value for r in form)
    callback = next(r for r in form if r.label == "Callback Link")
    assert callback.action == "read-only: check it shows exactly this"
    assert callback.value == live_keys.plaid_redirect_uri
    elsewhere = [(r.label, r.value) for r in profile.elsewhere_rows()]
    assert elsewhere == [
        (
            "Plaid dashboard > Developers > API > Allowed redirect URIs",
            "https://idp.kore.com/workflows/callback",
        ),
        ("Plaid dashboard > Developers > API > Allowed redirect URIs", PUBLIC + "/oauth-return"),
        ("Tenant (Kore asks on Authorize)", "sandbox"),
    ]
    # rows(): the same, as (step, Kore input, value)
    assert profile.rows()[: len(FORM_ORDER)] == [(r.step, r.label, r.value) for r in form]
    markdown = profile.to_markdown()
    assert "| 8 | Authorization Field 1 > Field Value | paste | {{accessToken}} |" in markdown
    assert SECRET not in markdown


# every key `kore-plaid profile --json` printed before Kore's form was matched input by input
KEYS_BEFORE = EVERY_FIELD | {
    "client_secret_revealed",
    "public_url",
    "public_url_source",
    "reachable_by_kore",
    "note",
    "mode",
    "form",
    "elsewhere",
    "reveal_command",
}
NEW_INPUTS = {
    "access_using_connector": "No",
    "description": "",
    "additional_fields": [],
    "auth_error_status_code": "",
}


def test_profile_json_keeps_its_keys_and_adds_the_forms_new_inputs(
    live_keys: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profile_command("--json", "--url", PUBLIC) == 0
    data = json.loads(capsys.readouterr().out)
    assert KEYS_BEFORE <= set(data)
    assert {key: data[key] for key in NEW_INPUTS} == NEW_INPUTS
    assert data["callback_url"] == "https://idp.kore.com/workflows/callback"
    assert [(row["step"], row["label"]) for row in data["form"]] == FORM_ORDER
    for row in data["form"]:
        assert {"step", "label", "action", "value", "secret"} <= set(row)  # as before
        assert row["source"].startswith(("the seed procedure", "Kore's docs")), row
        assert isinstance(row["shown"], str) and isinstance(row["note"], str)
    shown = {row["label"]: row["shown"] for row in data["form"] if row["shown"] != "always"}
    assert shown == {
        "Access Using a Connector": "may not be shown",
        "Auth Error Status Code": "only on the Agent Platform's form",
    }
    by_label = {row["label"]: row for row in data["form"]}
    assert by_label["Auth Error Status Code"]["source"] == (
        "Kore's docs, the Agent Platform's OAuth v2 page"
    )
    assert "PLAID_REDIRECT_URI" in by_label["Callback Link"]["note"]
    assert [f["key"] for f in data["authorization_fields"]] == [
        "access_token",
        "PLAID-CLIENT-ID",
        "PLAID-SECRET",
    ]
    assert set(data["authorization_fields"][0]) == {"type", "key", "value", "step"}


def test_new_inputs_have_their_values_and_every_view_says_which_may_be_missing(
    live_keys: settings.Settings,
) -> None:
    profile = build_profile(live_keys, PUBLIC)
    rows = {r.label: r for r in profile.form_rows()}
    assert [
        (rows[label].action, rows[label].value)
        for label in (
            "Access Using a Connector",
            "Scope",
            "Description",
            "Additional Fields",
            "Auth Error Status Code",
        )
    ] == [
        ("select", "No"),
        ("leave empty", ""),
        ("optional (any text)", ""),
        ("add none", ""),
        ("leave empty (if shown)", ""),
    ]
    assert (rows["Subdomain / Tenancy URL"].value, rows["Base URL"].value) == (
        "Yes",
        "https://{tenant}.plaid.com",
    )
    first_field = rows["Authorization Field 1 > Field Type"]
    assert "Plaid guide" in first_field.source and "OAuth v2 page" in first_field.source
    remarks = profile.remarks()
    assert [said.split(":")[0] for said in remarks] == [
        "Callback Link",
        "Authorization URL",
        "Access Using a Connector",
        "Scope",
        "Authorization Field 1 > Field Type",
        "Auth Error Status Code",
    ]
    # the pages' language (issue 27): how, and that Kore keeping the query is an assumption
    assert "?ui_locales=es" in remarks[1] and "an assumption" in remarks[1]
    assert "May not be shown." in remarks[2] and "(inference)" in remarks[2]
    assert remarks[-1] == (
        "Auth Error Status Code: Only on the Agent Platform's form. "
        "Source: Kore's docs, the Agent Platform's OAuth v2 page."
    )
    view = _view(live_keys)
    bundle = view._repr_mimebundle_()
    html_page, state = bundle["text/html"], _widget_state(view)
    for shown in (profile.to_text(), profile.to_markdown(), bundle["text/plain"]):
        assert "About some rows" in shown
        assert all(f"- {said}" in shown for said in remarks)
    for shown in (html_page, state):
        assert "About some rows" in shown
        assert "Auth Error Status Code: Only on the Agent Platform&#x27;s form." in shown
    text = profile.to_text()
    assert text.index("Auth Error Status Code") < text.index("About some rows")
    assert text.index("About some rows") < text.index("Outside the profile form")


def test_the_note_says_what_the_url_is_not_given(live_keys: settings.Settings) -> None:
    local = "http://127.0.0.1:8123"
    by_default = build_profile(live_keys, local)
    assert "(given)" not in by_default.note
    assert "the URL given with --url" in by_default.note
    stand_in = build_profile(live_keys, local, public_url_source="tunnel (local stand-in)")
    assert f"{local} is the local ngrok stand-in's URL (embedded mode)" in stand_in.note
    # the fix names a command that runs from the checkout, not a bare `kore-plaid`
    assert f"`{cli_command('tunnel open')}`" in stand_in.note


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


def test_profile_command_prints_a_plain_text_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert profile_command() == 0
    out = capsys.readouterr().out
    port = settings.load().app_port  # chosen for this state folder (APP_PORT is unset)
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("5 "))
    assert row.split() == ["5", "Authorization", "URL", "paste", f"http://127.0.0.1:{port}/"]
    assert "|" not in out and "\\|" not in out  # no Markdown in a terminal
    assert settings.DEMO_SECRET not in out
    assert "Embedded mode" in out
    assert f"`{cli_command('profile --reveal')}` prints them" in out


def test_profile_reveal_prints_one_aligned_row_per_kore_input(
    live_keys: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profile_command("--reveal", "--url", PUBLIC) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("step ")))
    table = lines[header + 2 : header + 2 + len(FORM_ORDER)]
    value_column = lines[header].index("value")
    for (step, label), line in zip(FORM_ORDER, table, strict=True):
        assert line.split()[0] == step
        assert f"  {label}  " in line
        if len(line) > value_column:  # values start in one column
            assert line[value_column - 2 : value_column] == "  " != line[value_column]
    by_label = {
        label: line[value_column:] for (_, label), line in zip(FORM_ORDER, table, strict=True)
    }
    assert by_label["Client Secret Key"] == SECRET
    assert by_label["Authorization Field 3 > Field Value"] == SECRET
    assert by_label["Token Request URL"] == PUBLIC + "/api/send_the_access_token_AUTH"
    assert by_label["Scope"] == ""
    assert not any("|" in line for line in lines)
    assert not any("profile --reveal" in line for line in lines)  # nothing left to reveal


def test_profile_markdown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert profile_command("--markdown") == 0
    out = capsys.readouterr().out
    port = settings.load().app_port
    assert f"| 5 | Authorization URL | paste | http://127.0.0.1:{port}/ |" in out
    assert settings.DEMO_SECRET not in out


def test_cli_command_is_the_checkouts_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "checkout"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "kore-plaid").write_text("#!/bin/sh\n")
    monkeypatch.setattr(command_line, "project_root", lambda: root)
    monkeypatch.setattr(command_line.sys, "prefix", str(root / ".venv"))
    assert cli_command("profile --reveal") == ".venv/bin/kore-plaid profile --reveal"
    elsewhere = tmp_path / "env"
    (elsewhere / "bin").mkdir(parents=True)
    monkeypatch.setattr(command_line.sys, "prefix", str(elsewhere))
    assert cli_command("stop") == f"{elsewhere.resolve()}/bin/python -m kore_plaid_nb stop"


# -- the notebook view ----------------------------------------------------------------------


def _view(live_keys: settings.Settings, url: str = PUBLIC) -> ProfileView:
    return ProfileView(build_profile(live_keys, url), secret=lambda: live_keys.secret)


def _widget_state(view: ProfileView) -> str:
    """What a notebook would save as widget state: every widget's state, as JSON."""
    manager = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    views = [view, *view.children]
    views += [c for box in view.children for c in getattr(box, "children", ())]
    own = [w.get_state() for w in views]
    return json.dumps([manager, own], ensure_ascii=False)


def test_view_shows_every_value_but_never_the_secret(live_keys: settings.Settings) -> None:
    view = _view(live_keys)
    bundle = view._repr_mimebundle_()
    text, page, state = bundle["text/plain"], bundle["text/html"], _widget_state(view)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    for shown in (text, page, state):
        assert SECRET not in shown
        assert "0123…abcd" in shown  # masked, as abcd…wxyz
        for value in (CLIENT_ID, PUBLIC + "/api/send_the_access_token_AUTH", "{{accessToken}}"):
            assert value in shown
    # text/plain: the whole table (a widget's own would be cut at 110 characters)
    assert all(f"  {label}  " in text for _, label in FORM_ORDER)
    assert "`.venv/bin/kore-plaid" in text or f"`{cli_command('profile --reveal')}`" in text


def test_view_html_has_links_that_open_and_a_copy_button_per_value(
    live_keys: settings.Settings,
) -> None:
    view = _view(live_keys)
    page = view._repr_mimebundle_()["text/html"]
    links = re.findall(r'<a href="([^"]*)" ([^>]*)>', page)
    assert (
        f"{PUBLIC}/",
        f'target="_blank" rel="noopener noreferrer" style="{LINK_STYLE}"',
    ) in links
    assert all('target="_blank" rel="noopener noreferrer"' in attributes for _, attributes in links)
    assert '<a href="https://{tenant}' not in page  # a template, not a link
    rows = view.profile.form_rows() + view.profile.elsewhere_rows()
    with_value = [r for r in rows if r.value]
    plain = [r for r in with_value if not r.secret]
    assert page.count('class="kore-plaid-copy"') == len(plain)
    for row in plain:
        assert f'data-copy="{row.value}"' in page
    assert page.count("masked: <code>") == 2  # the secret's rows say how to get it
    # the widget grid: a Copy button on every row that has a value, the secret's included
    assert len(view.copy_buttons) == len(with_value)
    assert {b.tooltip for b in view.copy_buttons} >= {
        "Copy Client ID",
        "Copy the real Client Secret Key",
        "Copy the real Authorization Field 3 > Field Value",
    }


def test_secret_copy_goes_to_the_clipboard_and_leaves_no_trace(
    live_keys: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(profile_view, "display", lambda obj: sent.append(obj.data))
    view = _view(live_keys)
    cleared: list[bool] = []
    monkeypatch.setattr(view.clipboard, "clear_output", lambda: cleared.append(True))
    secret_button = next(
        b for b in view.copy_buttons if b.tooltip == "Copy the real Client Secret Key"
    )
    secret_button.click()
    assert len(sent) == 1 and json.dumps(SECRET) in sent[0]  # the real value, to the browser
    assert "navigator.clipboard.writeText" in sent[0]
    assert cleared == [True]  # the script's output is cleared at once
    assert view.status.value == "Copying Client Secret Key…"
    assert SECRET not in _widget_state(view)
    id_button = next(b for b in view.copy_buttons if b.tooltip == "Copy Client ID")
    id_button.click()
    assert json.dumps(CLIENT_ID) in sent[1]


def test_saved_notebook_and_html_report_show_the_table_without_the_secret(
    live_keys: settings.Settings,
) -> None:
    """As the runner stores it (no widget state) and as report.py renders it."""
    bundle = _view(live_keys)._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("steps.show_profile(settings)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("execute_result", data=bundle, execution_count=1)]
    nb.cells = [cell]
    saved = nbformat.writes(nb)
    body, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    for stored in (saved, body):
        assert SECRET not in stored
    assert 'class="kore-plaid-profile"' in body  # the HTML table, not a dead widget
    links = re.findall(r"<a [^>]*>", body)
    assert links and all('target="_blank"' in a and "noopener" in a for a in links)
    assert 'data-copy="' + CLIENT_ID + '"' in body


def test_a_click_in_a_kernel_leaves_the_secret_out_of_the_saved_notebook(
    live_keys: settings.Settings,
) -> None:
    """A real kernel: the Copy click runs, the notebook is saved with its widget state (as
    nbclient emulates the Output widget), and neither outputs nor state hold the secret."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from kore_plaid_nb import settings\n"
            "from kore_plaid_nb.kore.profile import build_profile\n"
            "from kore_plaid_nb.kore.profile_view import LINK_STYLE, ProfileView\n"
            "current = settings.load()\n"
            f"view = ProfileView(build_profile(current, {PUBLIC!r}), lambda: current.secret)\n"
            "view"
        ),
        nbformat.v4.new_code_cell(
            "for button in view.copy_buttons:\n    button.click()\nprint(view.status.value)"
        ),
    ]
    NotebookClient(nb, kernel_name="python3", store_widget_state=True, timeout=60).execute()
    assert nb.cells[1].outputs[0]["text"].startswith("Copying Tenant")
    assert "widgets" in nb.metadata  # the state was saved...
    saved = nbformat.writes(nb)
    assert SECRET not in saved  # ...without the secret
    assert CLIENT_ID in saved


def test_view_refuses_a_revealed_profile(live_keys: settings.Settings) -> None:
    with pytest.raises(ValueError, match="masked profile"):
        ProfileView(build_profile(live_keys, PUBLIC, reveal=True))


def test_long_kore_inputs_wrap_instead_of_being_cut(live_keys: settings.Settings) -> None:
    """Issue 29: "Allowed redirect URIs" was cut off at 1400 px (an ipywidgets Label keeps one
    line and ends it with an ellipsis); the label and action cells wrap."""
    view = _view(live_keys)
    cells = [c for box in view.children for c in getattr(box, "children", ())]
    labelled = [c for c in cells if "Allowed redirect URIs" in str(getattr(c, "value", ""))]
    assert labelled, "the dashboard row is in the view"
    assert all(isinstance(c, ipywidgets.HTML) for c in labelled)
    assert not any(isinstance(c, ipywidgets.Label) and len(c.value) > 30 for c in cells), (
        "a long text in a Label is cut"
    )


def test_the_token_urls_are_text_with_copy_not_links(live_keys: settings.Settings) -> None:
    """Issue 29: 05's Token URL links opened a page that said "Method Not Allowed"."""
    rows = {row.label: row for row in build_profile(live_keys, PUBLIC).form_rows()}
    assert not rows["Token Request URL"].link and not rows["Refresh Token URL"].link
    assert rows["Authorization URL"].link  # a browser opens that one
