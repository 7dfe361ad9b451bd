"""The steps of the documented procedure the Kore simulator names, and its errors."""

from __future__ import annotations

from ..errors import RunbookError

STEP_SECRET = "4.iii-iv / 9"  # noqa: S105 - a procedure step, not a secret  # nosec B105
STEP_CALLBACK = "4.v-vi"
STEP_BRIDGE = "4.vii-x / 5"
STEP_PRODUCTS = "4.x"
STEP_TENANT = "6"
STEP_TOKEN_URL = "7"  # noqa: S105 - a procedure step  # nosec B105


class KoreFlowError(RunbookError):
    """A step of Kore's flow failed; ``step`` names the procedure step to look at."""


class StepSkipped(RunbookError):
    """A step cannot run in this setting (e.g. the Link stand-in outside the sandbox)."""
