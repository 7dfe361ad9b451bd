"""ipywidgets forms for the notebooks, pre-filled from ``.env``/environment.

Secrets travel through ``.env``, never through widget state: the Password box starts empty
(its placeholder shows the saved value masked), and each form's plain-text form (what nbval
compares and what a saved notebook keeps) is a fixed label, not the widgets' values.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

from .errors import PlaidUnreachable, RunbookError, plain_reason
from .kore.callbacks import COPY_YOURS, callback_warning, documented_callbacks
from .settings import KNOWN_KORE_CALLBACKS, PLAID_ENVIRONMENTS, Settings, mask

# Labels whole ("environment", not "environm..."), boxes wide enough for a key or a URL.
LABEL_STYLE = {"description_width": "initial"}
WIDE = "36rem"


class Form(widgets.VBox):
    """A VBox whose text form is a stable label (no values, no secrets)."""

    def __init__(self, label: str, children: list[widgets.Widget]) -> None:
        super().__init__(children=children)
        self._label = label

    def __repr__(self) -> str:
        # what an unrun or stored notebook shows in place of the widgets
        return f"[The form for {self._label} appears here when this cell runs]"


def _report(output: widgets.Output, action: Callable[[], str]) -> BaseException | None:
    """Show ``action()``'s line, or its error as message + fix; returns the error."""
    output.clear_output()
    with output:
        try:
            print(action())
        except RunbookError as exc:
            print(f"error: {exc}")
            return exc
        except Exception as exc:  # a button must never leave a bare traceback
            print(f"error: {plain_reason(exc)}")
            print("What to do: press the button again; if it fails again, rerun this cell.")
            return exc
    return None


def _secret_box(description: str, saved: str | None, hint: str) -> widgets.Password:
    """A Password box that starts empty: its placeholder shows the saved value masked."""
    return widgets.Password(
        value="",
        description=description,
        placeholder=f"saved: {mask(saved)} (empty keeps it)" if saved else hint,
        style=LABEL_STYLE,
        layout=widgets.Layout(width=WIDE),
    )


KeysAction = Callable[[str, str, str], str]


def plaid_keys_form(
    current: Settings,
    on_save: KeysAction | None = None,
    on_save_anyway: KeysAction | None = None,
) -> Form:
    """Client id, secret (Password) and environment, with a Check-and-save button.

    ``on_save(client_id, secret, env)`` runs on click and returns the line to show; an
    empty secret keeps the saved one, an empty client_id means no keys (embedded mode).
    When it raises :class:`PlaidUnreachable`, a "Save anyway" button appears that calls
    ``on_save_anyway`` with the same values.
    """
    client_id = widgets.Text(
        value=current.plaid_client_id,
        description="client_id",
        placeholder="paste from dashboard.plaid.com > Developers > Keys (empty: embedded mode)",
        style=LABEL_STYLE,
        layout=widgets.Layout(width=WIDE),
    )
    secret = _secret_box(
        "secret",
        current.plaid_secret,
        "the secret of the environment below, same page as the client_id",
    )
    environment = widgets.Dropdown(
        options=list(PLAID_ENVIRONMENTS),
        value=current.plaid_env if current.plaid_env in PLAID_ENVIRONMENTS else "sandbox",
        description="environment",
        tooltip="sandbox: test banks (user_good / pass_good); production: real banks",
        style=LABEL_STYLE,
    )
    button = widgets.Button(description="Check and save", button_style="primary")
    output = widgets.Output()
    save_anyway = widgets.Button(
        description="Save anyway",
        button_style="warning",
        tooltip="Write the keys to .env without checking them against Plaid",
        layout=widgets.Layout(display="none"),
    )
    unchecked: list[tuple[str, str, str]] = []  # the values Plaid could not check

    def clicked(_: widgets.Button) -> None:
        if on_save is None:
            return
        typed_id = client_id.value.strip()
        typed_secret = secret.value.strip()  # without a client_id: said, not dropped
        chosen_secret = (typed_secret or current.plaid_secret) if typed_id else typed_secret
        secret.value = ""
        values = (typed_id, chosen_secret, environment.value)
        unchecked.clear()
        save_anyway.layout.display = "none"
        error = _report(output, lambda: on_save(*values))
        if isinstance(error, PlaidUnreachable) and on_save_anyway is not None:
            unchecked.append(values)
            with output:
                print("Plaid could not be reached: save anyway?")
            save_anyway.layout.display = None

    def anyway(_: widgets.Button) -> None:
        if on_save_anyway is None or not unchecked:
            return
        values = unchecked.pop()
        save_anyway.layout.display = "none"
        _report(output, lambda: on_save_anyway(*values))

    button.on_click(clicked)
    save_anyway.on_click(anyway)
    return Form(
        "your Plaid keys (client_id, secret, environment)",
        [client_id, secret, environment, button, output, save_anyway],
    )


def callback_form(current: Settings, on_save: Callable[[str], str] | None = None) -> Form:
    """The Kore callback URL (a documented one, or typed), saved as PLAID_REDIRECT_URI.

    A URL that is none of those Kore documents is warned about as it is typed, not refused."""
    options = list(dict.fromkeys([current.plaid_redirect_uri, *KNOWN_KORE_CALLBACKS]))
    url = widgets.Combobox(
        value=current.plaid_redirect_uri,
        options=options,
        description="Kore callback URL",
        placeholder="copy the Callback Link from Kore's authorization profile",
        ensure_option=False,
        style=LABEL_STYLE,
        layout=widgets.Layout(width="40rem"),
    )
    regions = "; ".join(f"{region}: <code>{link}</code>" for region, link in documented_callbacks())
    hint = widgets.HTML(f"<small>Kore's docs show {regions}. {COPY_YOURS}</small>")
    warning = widgets.HTML("")
    button = widgets.Button(description="Save", button_style="primary")
    output = widgets.Output()

    def typed(_: object = None) -> None:
        said = callback_warning(url.value.strip(), current) if url.value.strip() else ""
        warning.value = f"<strong>{html.escape(said)}</strong>" if said else ""

    def clicked(_: widgets.Button) -> None:
        if on_save is not None:
            _report(output, lambda: on_save(url.value.strip()))

    typed()
    url.observe(typed, names="value")
    button.on_click(clicked)
    return Form("the Kore callback URL", [url, hint, warning, button, output])


def ngrok_form(current: Settings, on_save: Callable[[str, str], str] | None = None) -> Form:
    """ngrok authtoken (Password) and an optional reserved domain."""
    token = _secret_box(
        "ngrok authtoken",
        current.ngrok_authtoken,
        "paste from dashboard.ngrok.com > Your Authtoken",
    )
    domain = widgets.Text(
        value=current.ngrok_domain or "",
        description="reserved domain (optional)",
        placeholder="e.g. my-bot.ngrok.app, from dashboard.ngrok.com > Domains",
        style=LABEL_STYLE,
        layout=widgets.Layout(width=WIDE),
    )
    button = widgets.Button(description="Save", button_style="primary")
    output = widgets.Output()

    def clicked(_: widgets.Button) -> None:
        if on_save is None:
            return
        chosen = token.value or current.ngrok_authtoken
        token.value = ""
        _report(output, lambda: on_save(chosen, domain.value.strip()))

    button.on_click(clicked)
    return Form("ngrok (authtoken, reserved domain)", [token, domain, button, output])


def action_form(label: str, description: str, action: Callable[[], str]) -> Form:
    """One button that runs ``action`` and shows its line (or its error, with the fix)."""
    button = widgets.Button(
        description=description,
        button_style="warning",
        layout=widgets.Layout(width="auto"),
    )
    output = widgets.Output()
    button.on_click(lambda _: _report(output, action))
    return Form(label, [button, output])
