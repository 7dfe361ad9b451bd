"""What each notebook cell does: thin, printable steps over the tested parts.

Every function prints stable lines (nbval compares them, after ``notebooks/sanitize.cfg``)
and raises :class:`RunbookError` (shown as message + fix, no traceback) when a step fails.
Services are started idempotently, so any notebook can run alone.
"""

from __future__ import annotations

import os
import time
from typing import ParamSpec, TypeVar

import httpx

from .. import plaid_client, progress, services, stack, tunnel, verification, widgets
from .. import settings as settings_module
from ..bridge import list_authorizations
from ..bridge.institution_names import institution_names
from ..bridge.institution_names import shown as bank_shown
from ..bridge.kore_requests import latest_from_kore
from ..errors import PlaidUnreachable, RunbookError, SettingsError
from ..kore import (
    build_profile,
    end_users,
    remember_public_url,
    remembered_public_url,
    resolve_public_url,
)
from ..kore.callbacks import callback_warning, describe_callbacks
from ..kore.profile import is_public
from ..kore.profile_view import ProfileView
from ..kore.standin import play_kore
from ..kore.what_kore_sent import WhatKoreSent
from ..settings import Settings, mask
from ..tables import format_table
from ..tls import client_context
from ..verification import check_redirect_uri_registered, wait_for_kore_token
from ..verification.bridge_checks import bridge_checks
from . import HEADLESS_ENV as HEADLESS_ENV
from . import bridge_figures, prerequisites_checks, step_runner
from .step_runner import step

P = ParamSpec("P")
R = TypeVar("R")
REQUIRED_MODULES = (
    ("plaid-python", "plaid"),
    ("Starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("oauthlib", "oauthlib"),
    ("pyngrok", "pyngrok"),
    ("python-dotenv", "dotenv"),
    ("ipywidgets", "ipywidgets"),
)


@step
def start(notebook: str) -> Settings:
    """Load the settings; print the mode and where the trainee stands."""
    step_runner.running.update(notebook=notebook, settings=None, started=None)
    problem = None
    try:
        current = settings_module.load()
    except SettingsError as exc:
        current, problem = settings_module.load(validate=False), exc
        step_runner.running.update(settings=current, started=current)
        if notebook not in step_runner.LENIENT_NOTEBOOKS:
            step_runner.bind_in_notebook(
                current
            )  # so later cells say "fix the settings above first"
            raise SettingsError(
                exc.message, fix=f"{exc.fix} {step_runner.where_settings_live()}", step=exc.step
            ) from None
    step_runner.running.update(settings=current, started=current)
    bridge_figures.remember_start(current)  # so a later cell shows this notebook's figures
    detail = "emulator, no account needed" if current.embedded else f"Plaid {current.plaid_env}"
    print(f"{notebook}: {current.mode} mode ({detail})")
    if problem is not None:
        fixer = (
            "the form below fixes it"
            if notebook in step_runner.FORM_NOTEBOOKS
            else "notebook 01 fixes it"
        )
        print(f"Settings problem ({fixer}): {problem.message}\n{step_runner.where_settings_live()}")
    print(progress.standing(current))
    return current


def finish(current: Settings) -> None:
    """The last cell of a notebook: record it as done and say what comes next."""
    notebook = step_runner.running["notebook"]
    if not isinstance(notebook, str):
        raise RunbookError(
            "finish() ran before start().", fix="Run this notebook from its first cell."
        )
    progress.record(current, notebook, progress.FINISH, "pass")
    following = progress.next_notebook(notebook)
    if following is None:
        print(f"{notebook} done: that was the last notebook. `kore-plaid progress` lists them all.")
    else:
        print(f"{notebook} done. Next: {following.name} ({following.title}).")


@step
def prerequisites(current: Settings) -> None:
    checks = [
        prerequisites_checks.python_version(),
        *(prerequisites_checks.module(label, module) for label, module in REQUIRED_MODULES),
        prerequisites_checks.writable(current.home),
        prerequisites_checks.env_file_private(current.env_file),
    ]
    rows = [(check.label, check.result) for check in checks]
    try:
        settings_module.load()
        rows.append(("settings", "ok"))
    except SettingsError as exc:  # a warning here: notebook 01 fixes it
        rows.append(("settings", f"WARNING: {exc.message} (notebook 01 fixes it)"))
    if current.embedded:
        rows.append(("mode", "embedded: no Plaid keys configured (notebook 01 sets them)"))
    else:
        token = "set" if current.ngrok_authtoken else "missing (notebook 04 asks for it)"
        rows.append(("mode", f"live: Plaid {current.plaid_env}"))
        rows.append(("ngrok authtoken", token))
    print(format_table(("check", "result"), rows))
    failed = [check for check in checks if check.fix]
    if failed:
        raise RunbookError(
            "A prerequisite is missing: " + ", ".join(check.label for check in failed) + ".",
            fix=" ".join(dict.fromkeys(check.fix for check in failed)) + " Then rerun.",
        )


@step
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


# -- 01 Plaid keys ------------------------------------------------------------------------


@step
def plaid_keys_form(current: Settings) -> widgets.Form:
    return widgets.plaid_keys_form(current, on_save=_check_and_save, on_save_anyway=_save_unchecked)


def _check_and_save(client_id: str, secret: str, env: str) -> str:
    """Check the keys against Plaid, then save them; nothing is saved unless Plaid accepted
    them (:class:`PlaidUnreachable` when Plaid could not be asked). No keys: embedded mode."""
    if not client_id and secret:  # said, as a client_id without its secret is
        raise SettingsError(
            "A secret was typed, but no client_id: nothing was saved.",
            fix="Copy the client_id too (dashboard.plaid.com > Developers > Keys), or empty "
            "the secret box as well for the embedded mode; then press Check and save.",
            step="4.iii-iv",
        )
    saved = settings_module.load(validate=False)
    if not client_id:
        line = settings_module.save_plaid_keys("", "", "sandbox", saved.env_file)
        if env != "sandbox":
            line += (
                f"\nEmbedded mode is Sandbox only: PLAID_ENV stays sandbox, not {env} "
                f"({env} needs your own Plaid keys for it, typed above)."
            )
        return line
    candidate = saved.with_values(plaid_client_id=client_id, plaid_secret=secret, plaid_env=env)
    where = "The embedded emulator" if candidate.embedded else f"Plaid {env}"
    try:
        _link_token(stack.plaid_settings(candidate))
    except PlaidUnreachable as exc:
        raise PlaidUnreachable(
            f"{exc.message} The keys were not checked, and nothing was saved.",
            fix="Check the internet connection and press Check and save again, or press "
            f"Save anyway to write them to {saved.env_file} unchecked.",
        ) from None
    except RunbookError as exc:
        raise RunbookError(
            f"{exc.message} Nothing was saved.", fix=exc.fix, step=exc.step
        ) from None
    line = settings_module.save_plaid_keys(client_id, secret, env, saved.env_file)
    return f"{where} accepted the keys (/link/token/create answered with a link token).\n{line}"


def _save_unchecked(client_id: str, secret: str, env: str) -> str:
    """The form's Save anyway button: keys Plaid could not check, saved as they are."""
    line = settings_module.save_plaid_keys(client_id, secret, env)
    return (
        f"{line}\nSaved WITHOUT a check: run the check cell below once Plaid can be reached "
        "(a wrong key makes every later notebook fail)."
    )


@step
def check_plaid_keys(current: Settings) -> None:
    plaid_settings = stack.plaid_settings(current)
    _link_token(plaid_settings)
    where = "the embedded emulator" if current.embedded else f"Plaid {current.plaid_env}"
    print(f"Plaid accepted the keys: {where} answered /link/token/create with a link token.")


@step
def show_wrong_secret(current: Settings) -> None:
    plaid_settings = stack.plaid_settings(current)
    wrong = plaid_settings.with_values(
        plaid_client_id=plaid_settings.client_id,
        plaid_secret="wrong-secret-for-this-demo",  # noqa: S106 - wrong on purpose  # nosec B106
    )
    host = plaid_client.api_host(wrong)
    error = _plaid_error(wrong)
    if error is None:
        raise RunbookError(
            "Plaid accepted a wrong secret; the key check cannot be trusted.",
            fix="Check PLAID_API_URL: it should be unset (Plaid itself) or the emulator's.",
        )
    explained = plaid_client.explain(error, host)
    if isinstance(explained, PlaidUnreachable):
        raise PlaidUnreachable(
            "Could not show what a wrong secret looks like: Plaid could not be reached at "
            f"{host} ({error.error_message}), so nothing was checked.",
            fix=explained.fix,
        )
    if error.error_code == "INVALID_API_KEYS":
        print(f"As expected, Plaid refuses a wrong secret:\n{explained}")
    else:
        print(f"Plaid refused the wrong secret with {error.error_code}:\n{explained}")


@step
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
    except plaid_client.PLAID_FAILURES as exc:
        error = plaid_client.error_from_exception(exc)
        raise plaid_client.explain(error, plaid_client.api_host(current)) from None


def _plaid_error(current: Settings) -> plaid_client.PlaidError | None:
    """Plaid's error for ``/link/token/create`` with these settings (None: it succeeded)."""
    try:
        plaid_client.create_link_token(current, "kore-plaid-runbook-check")
    except plaid_client.PLAID_FAILURES as exc:
        return plaid_client.error_from_exception(exc)
    return None


# -- 02 redirect URIs ---------------------------------------------------------------------


@step
def kore_callbacks(current: Settings) -> None:
    """The Callback Links Kore documents, by region; a warning when ours is none of them."""
    print(describe_callbacks(current))


@step
def callback_form(current: Settings) -> widgets.Form:
    def save(url: str) -> str:
        Settings().with_values(plaid_redirect_uri=url)
        path = settings_module.save({"PLAID_REDIRECT_URI": url})
        warning = callback_warning(url, current)  # warns, never refuses
        return f"Saved to {path}: PLAID_REDIRECT_URI={url}" + (f"\n{warning}" if warning else "")

    return widgets.callback_form(current, on_save=save)


@step
def check_redirect_uris(current: Settings) -> None:
    """Plaid's allowed-redirect-URI check (``/link/token/create`` with each URI).

    The Link return page is checked once its public URL is known (LINK_REDIRECT_URI, an open
    tunnel, or the emulator, which accepts loopback URLs)."""
    plaid_settings = stack.plaid_settings(current)
    public_url = resolve_public_url(current)
    rows = [_redirect_row(plaid_settings, "Kore callback", current.plaid_redirect_uri)]
    if current.embedded or current.link_redirect_uri or is_public(public_url):
        link_return = current.link_redirect_uri or f"{public_url}/oauth-return"
        rows.append(_redirect_row(plaid_settings, "Link return", link_return))
    else:
        rows.append(("Link return", "not checked yet", "open the tunnel (04), then rerun"))
    print(format_table(("redirect URI", "Plaid", "value"), rows))
    warning = callback_warning(current.plaid_redirect_uri, current)
    if warning:
        print(warning)


def _redirect_row(plaid_settings: Settings, role: str, uri: str) -> tuple[str, str, str]:
    (result,) = check_redirect_uri_registered(plaid_settings, uri)
    return role, "allowed" if result.registered else "NOT allowed", result.redirect_uri


# -- 03 bridge ----------------------------------------------------------------------------


@step
def start_bridge(current: Settings) -> None:
    effective, record = stack.ensure_bridge(current)
    if current.embedded:
        print(f"Plaid emulator running at {effective.plaid_api_url}")
    print(f"Bridge running at {record.url} (Authorization URL: {record.url}/)")


@step
def check_bridge(current: Settings) -> None:
    effective, record = stack.ensure_bridge(current)
    rows = bridge_checks(effective, record.url)
    print(format_table(("check", "result"), rows))


# -- 04 tunnel ----------------------------------------------------------------------------


@step
def ngrok_form(current: Settings) -> widgets.Form:
    def save(token: str, domain: str) -> str:
        path = settings_module.save(
            {"NGROK_AUTHTOKEN": token or None, "NGROK_DOMAIN": domain or None}
        )
        shown = mask(token) or "(none)"
        line = f"Saved to {path}: NGROK_AUTHTOKEN {shown}, NGROK_DOMAIN {domain or '(none)'}"
        if token and settings_module.load(validate=False).embedded:
            line += (
                "\nEmbedded mode keeps the local tunnel stand-in: ngrok opens in live mode, "
                "once your Plaid keys are saved (notebook 01)."
            )
        return line

    return widgets.ngrok_form(current, on_save=save)


@step
def open_tunnel(current: Settings) -> None:
    running = stack.ensure_stack(current)
    info = tunnel.current_tunnel(running.settings)
    print(f"Tunnel open: {info.describe() if info else running.public_url}")


@step
def check_tunnel(current: Settings) -> None:
    running = stack.ensure_stack(current)
    info = tunnel.check_tunnel(running.settings)
    answer = httpx.get(
        f"{info.public_url.rstrip('/')}/healthz", timeout=10, verify=client_context()
    )
    result = "ok" if answer.status_code == 200 else f"HTTP {answer.status_code}"
    print(f"GET <public URL>/healthz through the tunnel: {result}")
    if answer.status_code != 200:
        raise RunbookError(
            "The tunnel does not reach the bridge.",
            step="5",
            fix="Run `kore-plaid tunnel close-all`, then this notebook again.",
        )


# -- 05 profile ---------------------------------------------------------------------------


@step
def show_profile(current: Settings) -> ProfileView:
    """The profile to copy from: one row per Kore input, a Copy button per value."""
    running = stack.ensure_stack(current)
    source = "tunnel (local stand-in)" if running.public_is_local else "tunnel"
    profile = build_profile(
        running.settings, public_url=running.public_url, public_url_source=source
    )
    remember_public_url(current, running.public_url)
    return ProfileView(profile, secret=lambda: running.settings.secret)


# -- 06 authorize -------------------------------------------------------------------------


@step
def verify(current: Settings) -> None:
    running = stack.ensure_stack(current)
    if not current.embedded:  # the stand-in's URL is new at every start; ngrok's should not be
        tunnel.check_tunnel(running.settings, expected_url=remembered_public_url(current))
    report = verification.verify(running.settings, url=running.public_url)
    print(report.to_text())
    notebook = step_runner.running["notebook"]
    for check in report.results:
        if isinstance(notebook, str) and check.result != "skip":
            status = "pass" if check.ok else "fail"
            message = check.detail if not check.ok else ""
            progress.record(current, notebook, f"check: {check.name}", status, message, check.fix)
    if not report.ok:
        first = report.failures[0]
        raise RunbookError(
            f"Verification failed: {first.name}", fix=first.fix or "", step=first.step or None
        )


@step
def wait_for_kore(current: Settings, timeout: float = 300.0) -> None:
    """Live mode: wait until Kore's own token request reaches the bridge (masked)."""
    if current.embedded:
        running = stack.ensure_stack(current)
        played = play_kore(running.settings, running.public_url)
        print(
            "Embedded mode: Kore cannot reach this machine, so a stand-in plays it, the way a\n"
            f"Kore other than the simulator's default might call the bridge.\n{played}"
        )
        return
    if os.environ.get(HEADLESS_ENV):
        print(
            "Headless run: nobody clicks Authorize in Kore. Open this notebook in JupyterLab, "
            "click Authorize in Kore, then run this cell."
        )
        return
    # the last 15 minutes: the user may click Authorize before running this cell
    print(wait_for_kore_token(current, since=time.time() - 900, timeout=timeout))


@step
def what_kore_sent(current: Settings) -> None:
    """The newest requests from Kore, compared with each assumption of the simulator."""
    print(WhatKoreSent(*latest_from_kore(current)).to_text())


# -- 07 end users -------------------------------------------------------------------------


@step
def authorize_end_users(current: Settings, count: int = 3) -> None:
    running = stack.ensure_stack(current)
    rows = end_users.authorize_end_users(running.settings, running.public_url, count)
    print(format_table(("end user", "bank", "accounts", "own Item only"), rows))


def _plaid_settings_if_up(current: Settings) -> Settings:
    """The settings pointed at the running emulator (embedded mode), else as they are: the
    listing asks Plaid for the banks it does not know yet."""
    try:
        return stack.plaid_settings(current, start=False)
    except RunbookError:
        return current


@step
def show_authorizations(current: Settings, newest: int = 3) -> None:
    """The ``newest`` authorizations in the bridge's store, masked."""
    plaid_settings = _plaid_settings_if_up(current)
    shown = list_authorizations(plaid_settings)[:newest]
    names = institution_names(plaid_settings, (a["institution"] for a in shown))
    rows = [
        (
            bank_shown(a["institution"], names),
            a["item_id"] or "-",
            a["access_token"] or "-",
            a["status"],
        )
        for a in shown
    ]
    print(f"The {len(rows)} newest authorization(s) in the bridge's store:")
    print(format_table(("bank", "Item", "access token", "status"), sorted(rows)))


@step
def show_items(current: Settings, newest: int = 4) -> None:
    """``kore-plaid items`` for the ``newest`` Items: health, last webhook and whether there
    is a repair link (the link itself is a credential: `kore-plaid items` prints it)."""
    from ..bridge.item_health import NEEDS_REPAIR
    from ..bridge.items import list_items

    bridge_figures.wait_for_webhooks(current)  # each Item's last webhook, not the one in flight
    rows = [
        (
            i["institution_name"] or i["institution"] or "-",
            i["health"],
            i["last_webhook"] or "-",
            "yes" if i["health"] in NEEDS_REPAIR else "-",
        )
        for i in list_items(_plaid_settings_if_up(current), repair_links=False)[-newest:]
    ]
    print(f"The {len(rows)} newest Item(s) in the bridge's store (`kore-plaid items` lists all):")
    print(format_table(("bank", "health", "last webhook", "repair link"), sorted(rows)))


@step
def walk_item_repair(current: Settings) -> None:
    """One Item from healthy to ITEM_LOGIN_REQUIRED and back, Kore's token unchanged."""
    from ..kore.item_repair import walk_item_repair as walk

    running = stack.ensure_stack(current)
    rows = walk(running.settings, running.public_url)
    print(format_table(("what happens", "Item health", "Kore's balance call"), rows))


@step
def show_bridge_figures(current: Settings) -> None:
    """What the bridge counted during this notebook, read from its own ``/metrics``."""
    bridge_figures.show_figures(current)


# -- 08 teardown --------------------------------------------------------------------------


@step
def wipe_secrets_form(current: Settings) -> widgets.Form:
    """08's button: remove the saved Plaid secret and ngrok authtoken from ``.env``."""

    def wipe() -> str:
        path = settings_module.save({"PLAID_SECRET": None, "NGROK_AUTHTOKEN": None})  # names  # nosec B105
        return f"Removed PLAID_SECRET and NGROK_AUTHTOKEN from {path}."

    return widgets.action_form(
        "removing the saved secrets",
        "Remove PLAID_SECRET and NGROK_AUTHTOKEN from .env",
        wipe,
    )


@step
def teardown(current: Settings, wipe_secrets: bool = False) -> None:
    for line in stack.teardown(current):
        print(line)
    if wipe_secrets:
        path = settings_module.save({"PLAID_SECRET": None, "NGROK_AUTHTOKEN": None})  # names  # nosec B105
        print(f"Removed PLAID_SECRET and NGROK_AUTHTOKEN from {path.name}")
    left = services.running(current.home)
    print("Nothing is left running." if not left else f"Still running: {left}")


@step
def go_live(current: Settings) -> None:
    """The runbook's ending: what this run proved, and the checklist to go live."""
    from .ending import closing_text

    before = {s.notebook: s.status for s in progress.checklist(current)}
    notebook = step_runner.running["notebook"]
    if isinstance(notebook, str):
        before.pop(notebook, None)  # this notebook is still running
    print(closing_text(current, before))
