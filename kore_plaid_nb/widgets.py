"""ipywidgets forms for the notebooks, pre-filled from ``.env``/environment.

Secrets travel through ``.env``, never through widget state: the Password box starts empty
(its placeholder shows the saved value masked), and each form's plain-text form (what nbval
compares and what a saved notebook keeps) is a fixed label, not the widgets' values.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from .errors import RunbookError
from .settings import KNOWN_KORE_CALLBACKS, PLAID_ENVIRONMENTS, Settings, mask


class Form(widgets.VBox):
    """A VBox whose text form is a stable label (no values, no secrets)."""

    def __init__(self, label: str, children: list[widgets.Widget]) -> None:
        super().__init__(children=children)
        self._label = label

    def __repr__(self) -> str:
        return f"[form: {self._label}]"


def _report(output: widgets.Output, action: Callable[[], str]) -> None:
    output.clear_output()
    with output:
        try:
            print(action())
        except RunbookError as exc:
            print(f"error: {exc}")
        except Exception as exc:  # a button must never leave a bare traceback
            print(f"error: {type(exc).__name__}: {exc}")


def plaid_keys_form(
    current: Settings, on_save: Callable[[str, str, str], str] | None = None
) -> Form:
    """Client id, secret (Password) and environment, with a Check-and-save button.

    ``on_save(client_id, secret, env)`` runs on click and returns the line to show; an
    empty secret keeps the saved one.
    """
    client_id = widgets.Text(
        value=current.plaid_client_id,
        description="client_id",
        placeholder="from dashboard.plaid.com > Developers > Keys",
    )
    secret = widgets.Password(
        value="",
        description="secret",
        placeholder=f"saved: {mask(current.plaid_secret)}" if current.plaid_secret else "",
    )
    environment = widgets.Dropdown(
        options=[*PLAID_ENVIRONMENTS, "development"],
        value=current.plaid_env,
        description="environment",
    )
    button = widgets.Button(description="Check and save", button_style="primary")
    output = widgets.Output()

    def clicked(_: widgets.Button) -> None:
        if on_save is None:
            return
        chosen_secret = secret.value or current.plaid_secret
        secret.value = ""
        _report(output, lambda: on_save(client_id.value.strip(), chosen_secret, environment.value))

    button.on_click(clicked)
    return Form(
        "Plaid keys: client_id, secret, environment",
        [client_id, secret, environment, button, output],
    )


def callback_form(current: Settings, on_save: Callable[[str], str] | None = None) -> Form:
    """The Kore callback URL (a known one, or typed), saved as PLAID_REDIRECT_URI."""
    options = list(dict.fromkeys([current.plaid_redirect_uri, *KNOWN_KORE_CALLBACKS]))
    url = widgets.Combobox(
        value=current.plaid_redirect_uri,
        options=options,
        description="callback",
        ensure_option=False,
        layout=widgets.Layout(width="40rem"),
    )
    button = widgets.Button(description="Save", button_style="primary")
    output = widgets.Output()

    def clicked(_: widgets.Button) -> None:
        if on_save is not None:
            _report(output, lambda: on_save(url.value.strip()))

    button.on_click(clicked)
    return Form("Kore callback URL", [url, button, output])


def ngrok_form(current: Settings, on_save: Callable[[str, str], str] | None = None) -> Form:
    """ngrok authtoken (Password) and an optional reserved domain."""
    token = widgets.Password(
        value="",
        description="authtoken",
        placeholder=f"saved: {mask(current.ngrok_authtoken)}" if current.ngrok_authtoken else "",
    )
    domain = widgets.Text(value=current.ngrok_domain or "", description="domain")
    button = widgets.Button(description="Save", button_style="primary")
    output = widgets.Output()

    def clicked(_: widgets.Button) -> None:
        if on_save is None:
            return
        chosen = token.value or current.ngrok_authtoken
        token.value = ""
        _report(output, lambda: on_save(chosen, domain.value.strip()))

    button.on_click(clicked)
    return Form("ngrok: authtoken, reserved domain", [token, domain, button, output])
