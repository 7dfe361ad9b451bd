"""What each notebook cell does: thin, printable steps over the tested parts.

Every function prints stable lines (nbval compares them, after ``notebooks/sanitize.cfg``)
and raises :class:`RunbookError` (shown as message + fix, no traceback) when a step fails.
Services are started idempotently, so any notebook can run alone.
"""

from __future__ import annotations

import importlib
import stat
import sys
from pathlib import Path

import plaid
from IPython.display import display

from .. import plaid_client, widgets
from .. import settings as settings_module
from ..errors import RunbookError
from ..settings import Settings, mask
from ..tables import format_table

REQUIRED_MODULES = (
    ("plaid-python", "plaid"),
    ("FastAPI", "fastapi"),
    ("uvicorn", "uvicorn"),
    ("oauthlib", "oauthlib"),
    ("pyngrok", "pyngrok"),
    ("python-dotenv", "dotenv"),
    ("ipywidgets", "ipywidgets"),
)


def start(notebook: str) -> Settings:
    """Load the settings and print the one line every notebook starts with."""
    current = settings_module.load()
    detail = "emulator, no account needed" if current.embedded else f"Plaid {current.plaid_env}"
    print(f"{notebook}: {current.mode} mode ({detail})")
    return current


def prerequisites(current: Settings) -> None:
    rows = [("Python 3.11 or newer", "ok" if sys.version_info >= (3, 11) else "too old")]
    for label, module in REQUIRED_MODULES:
        try:
            importlib.import_module(module)
            rows.append((label, "ok"))
        except ImportError:
            rows.append((label, "missing: run `make install`"))
    rows.append(("state folder writable", _writable(current.home)))
    rows.append((".env private (mode 0600)", _env_file_private(current.env_file)))
    if current.embedded:
        rows.append(("mode", "embedded: no Plaid keys configured (notebook 01 sets them)"))
    else:
        token = "set" if current.ngrok_authtoken else "missing (notebook 04 asks for it)"
        rows.append(("mode", f"live: Plaid {current.plaid_env}"))
        rows.append(("ngrok authtoken", token))
    print(format_table(("check", "result"), rows))
    if any(result.startswith(("missing:", "too old", "not")) for _, result in rows):
        raise RunbookError("A prerequisite is missing.", fix="Run `make install`, then rerun.")


def _writable(path: Path) -> str:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-check"
        probe.write_text("ok")
        probe.unlink()
        return "ok"
    except OSError as exc:
        return f"not writable: {exc.strerror}"


def _env_file_private(path: Path) -> str:
    if not path.is_file():
        return "ok (no .env yet)"
    mode = stat.S_IMODE(path.stat().st_mode)
    return "ok" if mode & 0o077 == 0 else f"not private (mode {mode:o}): run `chmod 600 .env`"


def show_settings(current: Settings) -> None:
    rows = [
        ("mode", current.mode),
        ("PLAID_CLIENT_ID", mask(current.plaid_client_id) or "(not set: demo keys)"),
        ("PLAID_SECRET", mask(current.plaid_secret) or "(not set: demo keys)"),
        ("PLAID_ENV", current.plaid_env),
        ("PLAID_PRODUCTS", ",".join(current.plaid_products)),
        ("PLAID_COUNTRY_CODES", ",".join(current.plaid_country_codes)),
        ("PLAID_REDIRECT_URI", current.plaid_redirect_uri),
        ("APP_PORT", str(current.app_port)),
        ("NGROK_AUTHTOKEN", mask(current.ngrok_authtoken) or "(not set)"),
    ]
    print(format_table(("setting", "value"), rows))


def show_env_table(current: Settings) -> None:
    """The ``.env`` variables of procedure step 4.x and their values (secrets masked)."""
    show_settings(current)


# -- 01 Plaid keys ------------------------------------------------------------------------


def plaid_keys_form(current: Settings) -> widgets.Form:
    return widgets.plaid_keys_form(current, on_save=_save_and_check)


def _save_and_check(client_id: str, secret: str, env: str) -> str:
    line = settings_module.save_plaid_keys(client_id, secret, env)
    check_plaid_keys(settings_module.load())
    return line


def check_plaid_keys(current: Settings) -> None:
    plaid_settings = plaid_services(current)
    _link_token(plaid_settings)
    where = "the embedded emulator" if current.embedded else f"Plaid {current.plaid_env}"
    print(f"Plaid accepted the keys: {where} answered /link/token/create with a link token.")


def show_wrong_secret(current: Settings) -> None:
    plaid_settings = plaid_services(current)
    wrong = plaid_settings.with_values(
        plaid_client_id=plaid_settings.client_id,
        plaid_secret="wrong-secret-for-this-demo",  # noqa: S106
    )
    try:
        _link_token(wrong)
    except RunbookError as exc:
        print(f"As expected, a wrong secret fails:\n{exc}")
        return
    raise RunbookError("Plaid accepted a wrong secret; the key check cannot be trusted.")


def explain_environment(env: str) -> None:
    try:
        Settings().with_values(plaid_env=env)
    except RunbookError as exc:
        print(exc)
        return
    print(f"PLAID_ENV={env} is fine.")


def _link_token(current: Settings, redirect_uri: str | None = None) -> str:
    try:
        return plaid_client.create_link_token(current, "kore-plaid-runbook-check", redirect_uri)
    except plaid.ApiException as exc:
        raise plaid_client.explain(plaid_client.error_from_exception(exc)) from None
    except OSError as exc:
        raise RunbookError(
            f"Plaid could not be reached at {plaid_client.api_host(current)}: {exc}",
            fix="Check the internet connection (live mode) or rerun this notebook "
            "(embedded mode starts the emulator).",
        ) from None


# -- 02 redirect URIs ---------------------------------------------------------------------


def callback_form(current: Settings) -> widgets.Form:
    def save(url: str) -> str:
        Settings().with_values(plaid_redirect_uri=url)
        path = settings_module.save({"PLAID_REDIRECT_URI": url})
        return f"Saved PLAID_REDIRECT_URI to {path.name}: {url}"

    return widgets.callback_form(current, on_save=save)


# -- shared: services ---------------------------------------------------------------------


def plaid_services(current: Settings) -> Settings:
    """The settings Plaid calls use: in embedded mode, pointed at a running emulator."""
    if not current.embedded or current.plaid_api_url:
        return current
    from ..emulator import ensure_emulator

    record = ensure_emulator(current)
    return current.with_values(plaid_api_url=record.url)


def display_form(form: widgets.Form) -> None:
    display(form)
