"""The Kore profile in a notebook: a table to copy from, one Copy button per value.

One displayed object, three forms:

* **live notebook** (JupyterLab, Notebook 7, trusted or not): an ipywidgets grid. Its Copy
  buttons are widget buttons, so they work where JupyterLab strips ``onclick`` from HTML
  outputs. A click sends a one-off script through a hidden ``Output`` widget that writes the
  value to the clipboard; the output is cleared at once. The secret's button reads the secret
  from the kernel only on click: the grid (its widget state) holds the masked value only.
* **saved notebook / HTML report** (no kernel, no widget state): ``text/html``, a table with
  links that open in a new tab and Copy buttons for the non-secret values. The buttons start
  ``hidden`` and a script shows them, so where scripts are stripped (an untrusted notebook)
  no dead button is left; the values stay selectable.
* **text** (``text/plain``: strict nbval, ``kore-plaid run``'s summary): the aligned tables of
  :meth:`.KoreProfile.to_text`.

The secret never reaches a stored output: it is masked in all three forms.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import Javascript, display

from .profile import ELSEWHERE_TITLE, FORM_TITLE, REMARKS_TITLE, KoreProfile, ProfileRow

COPY_CLASS = "kore-plaid-copy"
# Shows the HTML table's Copy buttons where scripts run (report, trusted notebook).
SHOW_BUTTONS = (
    f"<script>document.querySelectorAll('button.{COPY_CLASS}[hidden]')"
    ".forEach(function (b) { b.hidden = false; });</script>"
)
COPY_ONCLICK = (
    "navigator.clipboard.writeText(this.dataset.copy).then("
    "() => { this.textContent = 'Copied'; }, () => { this.textContent = 'Select it'; })"
)
# Runs once in the browser (hidden Output widget), then the output is cleared.
CLIPBOARD_SCRIPT = """(function () {
  const text = %(text)s;
  const say = (message) => document.querySelectorAll(%(status)s)
    .forEach((node) => { node.textContent = message; });
  const fallback = () => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    area.remove();
    return copied;
  };
  const done = (copied) => say(copied ? %(done)s : %(failed)s);
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done(true), () => done(fallback()));
  } else {
    done(fallback());
  }
})();"""
COLUMNS = "3.5rem 17rem 15rem minmax(22rem, 1fr) 5.5rem"
CELL_STYLE = "text-align: left"  # JupyterLab right-aligns table cells
LINK_STYLE = "color: var(--jp-content-link-color, #1a73e8); text-decoration: underline"


def view_hint(profile: KoreProfile) -> str:
    """What to do about the masked secret, in the notebook."""
    if profile.secret_revealed:
        return ""
    return (
        "Client Secret Key and PLAID-SECRET are masked; their Copy button copies the real value "
        "without showing it. In a terminal at the project's folder, "
        f"`{profile.reveal_command}` prints them."
    )


def _note_html(note: str) -> str:
    """A note's text, its `commands` in <code>."""
    parts = html.escape(note).split("`")
    return (
        "<p>"
        + "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))
        + "</p>"
    )


def remarks_html(profile: KoreProfile) -> str:
    """The form rows' remarks (not on every form, what to know, the source) as a list."""
    items = "".join(f"<li>{html.escape(said)}</li>" for said in profile.remarks())
    return f"<p><strong>{html.escape(REMARKS_TITLE)}</strong></p><ul>{items}</ul>"


def _value_html(row: ProfileRow) -> str:
    text = html.escape(row.value)
    if row.link:
        return (
            f'<a href="{text}" target="_blank" rel="noopener noreferrer" '
            f'style="{LINK_STYLE}">{text}</a>'
        )
    return f"<code>{text}</code>" if row.value else "<em>(empty)</em>"


def _copy_button_html(row: ProfileRow, reveal_command: str) -> str:
    if not row.value:
        return ""
    if row.secret:
        return f"<small>masked: <code>{html.escape(reveal_command)}</code></small>"
    return (
        f'<button type="button" class="{COPY_CLASS}" hidden="hidden" '
        f'data-copy="{html.escape(row.value, quote=True)}" '
        f'title="Copy {html.escape(row.label, quote=True)}" '
        f'onclick="{html.escape(COPY_ONCLICK, quote=True)}">Copy</button>'
    )


def _table_html(title: str, rows: list[ProfileRow], reveal_command: str) -> str:
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f'<{tag} style="{CELL_STYLE}">{v}</{tag}>' for v in values)

    head = cells("th", ["step", "Kore input", "what to do", "value", ""])
    body = "".join(
        "<tr>"
        + cells(
            "td",
            [
                html.escape(r.step),
                html.escape(r.label),
                html.escape(r.action),
                _value_html(r),
                _copy_button_html(r, reveal_command),
            ],
        )
        + "</tr>"
        for r in rows
    )
    return (
        f"<p><strong>{html.escape(title)}</strong></p>"
        f'<table class="kore-plaid-profile"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def profile_html(profile: KoreProfile) -> str:
    """The profile as an HTML table (no secret in it: it is masked unless revealed)."""
    command = profile.reveal_command
    parts = [
        _table_html(FORM_TITLE, profile.form_rows(), command),
        remarks_html(profile),
        _table_html(ELSEWHERE_TITLE, profile.elsewhere_rows(), command),
    ]
    parts += [_note_html(n) for n in (profile.note, view_hint(profile)) if n]
    return "".join(parts) + SHOW_BUTTONS


class ProfileView(widgets.VBox):
    """The profile as a grid of widgets with a Copy button per value (see the module doc).

    ``secret`` returns the real client secret; it is called only when a secret's Copy
    button is clicked.
    """

    def __init__(self, profile: KoreProfile, secret: Callable[[], str] | None = None) -> None:
        if profile.secret_revealed:  # its values would land in outputs and widget state
            raise ValueError("ProfileView needs a masked profile: build_profile(reveal=False)")
        self.profile = profile
        self._secret = secret
        self._status_class = f"kore-plaid-copy-status-{uuid.uuid4().hex[:12]}"
        self.status = widgets.Label(value="")
        self.status.add_class(self._status_class)
        # zero-height, but rendered: a script displayed in it runs in the browser
        self.clipboard = widgets.Output(layout=widgets.Layout(height="0px", overflow="hidden"))
        self.copy_buttons: list[widgets.Button] = []
        children: list[widgets.Widget] = [
            widgets.HTML(f"<strong>{html.escape(FORM_TITLE)}</strong>"),
            self._grid(profile.form_rows()),
            widgets.HTML(remarks_html(profile)),
            widgets.HTML(f"<strong>{html.escape(ELSEWHERE_TITLE)}</strong>"),
            self._grid(profile.elsewhere_rows()),
        ]
        children += [widgets.HTML(_note_html(n)) for n in (profile.note, view_hint(profile)) if n]
        super().__init__(children=[*children, self.status, self.clipboard])

    def _grid(self, rows: list[ProfileRow]) -> widgets.GridBox:
        cells: list[widgets.Widget] = [
            widgets.HTML(f"<strong>{h}</strong>")
            for h in ("step", "Kore input", "what to do", "value", "")
        ]
        for row in rows:
            cells += [
                widgets.Label(row.step),
                _wrapping(row.label),  # a Label cuts long text (ellipsis); HTML wraps
                _wrapping(row.action),
                widgets.HTML(_value_html(row)),
                self._button(row),
            ]
        return widgets.GridBox(
            cells, layout=widgets.Layout(grid_template_columns=COLUMNS, grid_gap="2px 8px")
        )

    def _button(self, row: ProfileRow) -> widgets.Widget:
        if not row.value:
            return widgets.Label("")
        hidden = row.secret
        button = widgets.Button(
            description="Copy",
            tooltip=f"Copy the real {row.label}" if hidden else f"Copy {row.label}",
            icon="copy",
            layout=widgets.Layout(width="5.5rem"),
        )
        shown = row.value

        def value() -> str:
            if hidden and self._secret is not None:
                return self._secret()
            return shown

        button.on_click(lambda _: self.copy(row.label, value))
        self.copy_buttons.append(button)
        return button

    def copy(self, label: str, value: Callable[[], str]) -> None:
        """Put ``value()`` in the browser's clipboard; nothing of it stays in any output."""
        self.status.value = f"Copying {label}…"
        script = CLIPBOARD_SCRIPT % {
            "text": json.dumps(value()),
            "status": json.dumps(f".{self._status_class}"),
            "done": json.dumps(f"Copied {label} to the clipboard."),
            "failed": json.dumps(
                f"The browser blocked the copy of {label}: select the value, or run "
                f"`{self.profile.reveal_command}` in a terminal."
            ),
        }
        with self.clipboard:
            display(Javascript(script))
        self.clipboard.clear_output()

    def __repr__(self) -> str:
        return self.profile.to_text(secret_hint=view_hint(self.profile))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)  # whole (a widget's would be cut at 110 characters)
        bundle["text/html"] = profile_html(self.profile)
        return bundle


def _wrapping(text: str) -> widgets.HTML:
    """A grid cell whose text wraps at word boundaries instead of being cut."""
    return widgets.HTML(f'<span style="overflow-wrap: normal">{html.escape(text)}</span>')
