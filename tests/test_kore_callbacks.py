"""Kore's Callback Links (notebook 02): the documented ones by region, and a warning, never a
refusal, for a URL that is none of them."""

from __future__ import annotations

import ipywidgets
import pytest

from kore_plaid_nb import settings, widgets
from kore_plaid_nb.kore.callbacks import callback_warning, describe_callbacks
from kore_plaid_nb.runbook import steps

# Kore's docs (the OAuth v2 page and the integration guides), as issue 22 lists them
DOCUMENTED = [
    ("kore.ai", "https://idp.kore.ai/workflows/callback/"),
    ("kore.com", "https://idp.kore.com/workflows/callback"),
    ("Japan", "https://jp-bots-idp.kore.ai/workflows/callback"),
    ("Germany", "https://de-bots-idp.kore.ai/workflows/callback"),
]
UNKNOWN = "https://bots.example.com/workflows/callback"


def _current(url: str | None = None) -> settings.Settings:
    return settings.load({"PLAID_REDIRECT_URI": url} if url else {})


def test_notebook_02_lists_every_documented_callback_by_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    steps.kore_callbacks(_current("https://jp-bots-idp.kore.ai/workflows/callback"))
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:6]}
    assert rows == {
        region: [url, "yes"] if region == "Japan" else [url] for region, url in DOCUMENTED
    }
    assert "Copy yours from Kore's form (its Callback Link); it must match exactly." in out
    assert "Source: Kore's docs" in out
    assert "Warning" not in out


@pytest.mark.parametrize(("region", "url"), DOCUMENTED)
def test_no_warning_for_a_documented_callback(region: str, url: str) -> None:
    current = _current(url)
    assert callback_warning(url, current) == ""
    assert f"{region:<8}  {url}" in describe_callbacks(current)
    assert "Warning" not in describe_callbacks(current)


def test_no_warning_for_the_simulators_loopback_callback() -> None:
    current = _current()
    assert current.simulator_callback.startswith("http://127.0.0.1:")
    assert callback_warning(current.simulator_callback, current) == ""
    looped = _current(current.simulator_callback)
    assert "Warning" not in describe_callbacks(looped)


def test_an_unknown_callback_is_warned_about_when_shown(capsys: pytest.CaptureFixture[str]) -> None:
    current = _current(UNKNOWN)  # loads: a warning, not a refusal
    steps.kore_callbacks(current)
    out = capsys.readouterr().out
    assert f"PLAID_REDIRECT_URI now: {UNKNOWN}" in out
    assert (
        f"Warning: {UNKNOWN} is none of the Callback Links Kore's docs show "
        "(kore.ai, kore.com, Japan, Germany)."
    ) in out
    assert "must match exactly" in out
    assert " yes" not in out  # no documented row is marked as ours


def test_a_near_miss_names_the_documented_url() -> None:
    # Kore's docs show the kore.ai callback with a final "/", the others without
    said = callback_warning("https://idp.kore.ai/workflows/callback", _current())
    assert said.startswith("Warning: https://idp.kore.ai/workflows/callback differs from ")
    assert "https://idp.kore.ai/workflows/callback/, which Kore's docs show" in said
    assert "the final '/'" in said
    assert "https://IDP.kore.com/workflows/callback" in callback_warning(
        "https://IDP.kore.com/workflows/callback", _current()
    )


def test_check_redirect_uris_warns_about_an_unknown_callback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def registered(_: settings.Settings, uri: str) -> list[object]:
        return [type("Result", (), {"registered": True, "redirect_uri": uri})()]

    monkeypatch.setattr(steps, "check_redirect_uri_registered", registered)
    monkeypatch.setattr(steps.stack, "plaid_settings", lambda current: current)
    steps.check_redirect_uris(_current(UNKNOWN))
    out = capsys.readouterr().out
    assert f"Kore callback  allowed  {UNKNOWN}" in out
    assert f"Warning: {UNKNOWN} is none of the Callback Links" in out
    steps.check_redirect_uris(_current(DOCUMENTED[1][1]))
    assert "Warning" not in capsys.readouterr().out


def _form(current: settings.Settings) -> tuple[widgets.Form, ipywidgets.Combobox]:
    form = steps.callback_form(current)
    url = form.children[0]
    assert isinstance(url, ipywidgets.Combobox)
    return form, url


def test_saving_an_unknown_callback_saves_it_and_warns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    form, url = _form(_current())
    url.value = UNKNOWN
    save = next(c for c in form.children if isinstance(c, ipywidgets.Button))
    save.click()
    out = capsys.readouterr().out
    assert f"PLAID_REDIRECT_URI={UNKNOWN}" in out and "Saved to " in out
    assert f"Warning: {UNKNOWN} is none of the Callback Links" in out
    assert settings.load().plaid_redirect_uri == UNKNOWN  # saved, not refused
    url.value = DOCUMENTED[3][1]
    save.click()
    out = capsys.readouterr().out
    assert f"PLAID_REDIRECT_URI={DOCUMENTED[3][1]}" in out and "Warning" not in out


def test_the_form_lists_the_regions_and_warns_as_the_url_is_typed() -> None:
    form, url = _form(_current())
    hint, warning = form.children[1:3]
    for region, documented in DOCUMENTED:
        assert f"{region}: <code>{documented}</code>" in hint.value
    assert "it must match exactly" in hint.value
    assert list(url.options)[: len(DOCUMENTED)] == [u for _, u in DOCUMENTED]
    assert warning.value == ""
    url.value = UNKNOWN
    assert f"Warning: {UNKNOWN} is none of the Callback Links" in warning.value
    url.value = DOCUMENTED[2][1]
    assert warning.value == ""
    _, typed = _form(_current(UNKNOWN))  # the current value, when the form opens
    assert typed.value == UNKNOWN
    assert "Warning" in _form(_current(UNKNOWN))[0].children[2].value
    assert repr(form) == "[The form for the Kore callback URL appears here when this cell runs]"
