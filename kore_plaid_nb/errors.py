"""The one error type the runbook shows to people: what went wrong and what to do."""

from __future__ import annotations


class RunbookError(Exception):
    """A failure with a readable message and the fix, shown instead of a traceback.

    ``step`` names the step of the documented procedure (e.g. ``"4.iii-iv"``) when the
    failure points at one.
    """

    def __init__(self, message: str, fix: str = "", step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.step = step

    def __str__(self) -> str:
        text = self.message
        if self.step:
            text += f" (procedure step {self.step})"
        if self.fix:
            text += f"\nWhat to do: {self.fix}"
        return text

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message and the fix."""
        return [
            f"error: {line}" if i == 0 else line for i, line in enumerate(str(self).splitlines())
        ]


class SettingsError(RunbookError):
    """A setting is missing or holds a value that cannot work."""


class ServiceError(RunbookError):
    """A background service (emulator, bridge, tunnel) cannot start or is not running."""
