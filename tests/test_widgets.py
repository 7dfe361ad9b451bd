"""The notebook forms: what an unrun notebook shows, labels and hints, the Save-anyway path."""

from __future__ import annotations

import ipywidgets
import pytest
import urllib3

from kore_plaid_nb import settings, widgets
from kore_plaid_nb.errors import PlaidUnreachable, RunbookError


def _forms(current: settings.Settings) -> list[widgets.Form]:
    return [
        widgets.plaid_keys_form(current),
        widgets.callback_form(current),
        widgets.ngrok_form(current),
    ]


def test_an_unrun_notebook_says_the_form_appears_when_the_cell_runs() -> None:
    keys, callback, ngrok = (repr(form) for form in _forms(settings.load({})))
    assert keys == (
        "[The form for your Plaid keys (client_id, secret, environment) appears here when "
        "this cell runs]"
    )
    assert callback == "[The form for the Kore callback URL appears here when this cell runs]"
    assert ngrok.startswith("[The form for ngrok (authtoken, reserved domain) appears here")
    assert not any(text.startswith("[form:") for text in (keys, callback, ngrok))


def test_the_environment_list_offers_only_what_plaid_has_and_labels_are_whole() -> None:
    live = {"PLAID_CLIENT_ID": "client-id-0123456789ab", "PLAID_SECRET": "s" * 30}
    keys = widgets.plaid_keys_form(settings.load({**live, "PLAID_ENV": "production"}))
    environment = keys.children[2]
    assert isinstance(environment, ipywidgets.Dropdown)
    assert list(environment.options) == ["sandbox", "production"]
    assert environment.value == "production"
    for form in _forms(settings.load({})):
        for child in form.children:
            if getattr(child, "description", "") and not isinstance(child, ipywidgets.Button):
                assert child.style.description_width == "initial", child.description


def test_every_box_says_what_to_paste_and_where_to_get_it() -> None:
    keys, callback, ngrok = _forms(settings.load({}))
    client_id, secret = keys.children[:2]
    assert "dashboard.plaid.com" in client_id.placeholder
    assert "secret" in secret.placeholder and "client_id" in secret.placeholder
    assert "Kore" in callback.children[0].placeholder
    token, domain = ngrok.children[:2]
    assert "dashboard.ngrok.com" in token.placeholder and "Authtoken" in token.placeholder
    assert "dashboard.ngrok.com" in domain.placeholder and ".ngrok.app" in domain.placeholder
    saved = settings.load({"NGROK_AUTHTOKEN": "ngrok-0123456789abcdef"})
    assert widgets.ngrok_form(saved).children[0].placeholder.startswith("saved: ngro…cdef")


def _keys_form(on_save, on_save_anyway):
    form = widgets.plaid_keys_form(
        settings.load({}), on_save=on_save, on_save_anyway=on_save_anyway
    )
    client_id, secret, _, check, _, anyway = form.children
    client_id.value = "client-0123456789abcd"
    secret.value = "secret-0123456789abcdef"
    return check, anyway


def test_save_anyway_appears_only_when_plaid_cannot_be_reached(capsys) -> None:
    saved = []

    def unreachable(*_: str) -> str:
        raise PlaidUnreachable("Plaid could not be reached at https://sandbox.plaid.com (x).")

    check, anyway = _keys_form(unreachable, lambda *values: saved.append(values) or "saved")
    assert anyway.layout.display == "none"
    anyway.click()  # hidden and nothing pending: does nothing
    assert saved == []
    check.click()
    assert "Plaid could not be reached: save anyway?" in capsys.readouterr().out
    assert anyway.layout.display != "none"
    anyway.click()
    assert saved == [("client-0123456789abcd", "secret-0123456789abcdef", "sandbox")]
    assert anyway.layout.display == "none"
    assert "saved" in capsys.readouterr().out


@pytest.mark.parametrize("outcome", ["refused", "accepted"])
def test_no_save_anyway_when_plaid_answered(outcome: str, capsys) -> None:
    def answer(*_: str) -> str:
        if outcome == "refused":
            raise RunbookError("Plaid refused the call: INVALID_API_KEYS. Nothing was saved.")
        return "Saved."

    check, anyway = _keys_form(answer, lambda *_: "saved anyway")
    check.click()
    assert anyway.layout.display == "none"
    assert "save anyway?" not in capsys.readouterr().out


def test_a_library_failure_in_a_button_is_told_in_words(capsys) -> None:
    pool = urllib3.HTTPSConnectionPool("sandbox.plaid.com", 443)

    def fail(*_: str) -> str:
        raise urllib3.exceptions.MaxRetryError(
            pool, "/link/token/create", urllib3.exceptions.ReadTimeoutError(pool, "/", "timed out")
        )

    check, _ = _keys_form(fail, None)
    check.click()
    out = capsys.readouterr().out
    assert "error: no answer in time" in out and "What to do:" in out
    assert "MaxRetryError" not in out and "ReadTimeoutError" not in out and "Pool" not in out


def test_an_empty_client_id_means_no_keys() -> None:
    calls = []
    current = settings.load({"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "s" * 20})
    form = widgets.plaid_keys_form(current, on_save=lambda *args: calls.append(args) or "ok")
    form.children[0].value = ""
    form.children[3].click()
    assert calls == [("", "", "sandbox")]  # not the saved secret without its client_id
