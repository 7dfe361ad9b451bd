"""A notebook step (:func:`step`): it records a pass or fail progress event, runs on the
settings as they are saved now (never a stale copy from an earlier cell), and turns an
unexpected exception into a :class:`RunbookError` that says what to do."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import plaid

from .. import plaid_client, progress
from .. import settings as settings_module
from ..errors import RunbookError, SettingsError, plain_reason
from ..settings import Settings
from . import HEADLESS_ENV

P = ParamSpec("P")
R = TypeVar("R")

# The notebook this kernel runs, and its settings: what each step's progress event names.
# "started": what start() gave the notebook; "settings": the latest (re-read after a save)
running: dict[str, object] = {"notebook": None, "settings": None, "started": None}
# These only look, fix the settings or clean up, so a wrong setting is shown instead of
# stopping them (01 and 02 hold the forms that fix it).
LENIENT_NOTEBOOKS = ("00_start_here", "01_plaid_keys", "02_redirect_uri", "08_teardown")
# Steps that show or fix the settings: they run with wrong ones (the others say so).
LENIENT_STEPS = frozenset(
    {"prerequisites", "show_settings", "plaid_keys_form", "kore_callbacks", "callback_form",
     "teardown", "wipe_secrets_form", "go_live"}
)  # fmt: skip


def step(function: Callable[P, R]) -> Callable[P, R]:
    """A notebook step: records a pass or fail progress event, and turns an unexpected
    exception into a :class:`RunbookError` that says what to do (IPython shows its message,
    not a traceback); the original stays chained."""

    lenient = function.__name__ in LENIENT_STEPS

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            if args and _is_the_notebooks(args[0]):
                args = (_settings_now(lenient), *args[1:])  # type: ignore[assignment]
            result = function(*args, **kwargs)
        except RunbookError as exc:
            _record(function.__name__, exc)
            raise
        except plaid.ApiException as exc:  # a Plaid call not explained where it was made
            error = plaid_client.explain(plaid_client.error_from_exception(exc))
            _record(function.__name__, error)
            raise error from exc
        except Exception as exc:
            error = RunbookError(
                f"{function.__name__} failed unexpectedly: {plain_reason(exc)}",
                fix="Run the cell again. If it fails again, `kore-plaid status` shows the "
                "services and their logs; `kore-plaid stop`, then rerun this notebook from "
                "the top.",
            )
            _record(function.__name__, error)
            raise error from exc
        _record(function.__name__, None)
        return result

    return run


def _record(step_name: str, error: RunbookError | None) -> None:
    notebook = running["notebook"]
    if not isinstance(notebook, str):
        return  # called outside a notebook (start() was not run)
    if error is None:
        progress.record(_recording_settings(), notebook, step_name, "pass")
        return
    message = error.message + (f" (procedure step {error.step})" if error.step else "")
    progress.record(_recording_settings(), notebook, step_name, "fail", message, error.fix)


def _is_the_notebooks(value: object) -> bool:
    """True for the settings start() gave this notebook (or read since): a step then uses
    the settings as they are now, never a stale copy from an earlier cell."""
    return isinstance(value, Settings) and (
        value is running["started"] or value is running["settings"]
    )


def _settings_now(lenient: bool) -> Settings:
    """The settings as saved now; a wrong one stops a step that needs them, in one line."""
    before = running["settings"]
    try:
        now = settings_module.load()
    except SettingsError as exc:
        if lenient:
            return settings_module.load(validate=False)
        raise RunbookError(
            f"Fix the settings above first: {exc.message}",
            fix=f"{exc.fix} {where_settings_live()}",
            step=exc.step,
        ) from None
    if isinstance(before, Settings) and now != before:
        detail = "emulator" if now.embedded else f"Plaid {now.plaid_env}"
        print(f"Using the settings now saved in {now.env_file}: {now.mode} mode ({detail}).")
    running["settings"] = now
    return now


def where_settings_live() -> str:
    """Where the settings file is, and how to open it when JupyterLab hides it."""
    path = settings_module.env_file_path()
    line = f"The settings file is {path}."
    if path.name.startswith(".") and not os.environ.get(HEADLESS_ENV):  # JupyterLab's view
        line += (
            " JupyterLab's file browser hides names that start with a dot: open it with "
            f"File > Open from Path... and type {path}."
        )
    return line


def _recording_settings() -> Settings:
    current = running["settings"]
    # when start() failed on a wrong setting, the state folder and board are still known
    return current if isinstance(current, Settings) else settings_module.load_as_is()


FORM_NOTEBOOKS = ("01_plaid_keys", "02_redirect_uri")


def bind_in_notebook(current: Settings) -> None:
    """``settings`` in the notebook's namespace (its first cell assigns it), also when that
    cell fails: a fresh kernel's later cells then explain instead of ``NameError``."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.user_ns["settings"] = current
