"""``kore-plaid verify``: the Kore simulator's checks (one Kore, every plausible Kore with
``--matrix``, the recorded Kore with ``--as-recorded``), and the live-mode checks."""

from .as_recorded import RecordedKore, recorded_kore
from .checks import CheckResult, VerificationReport, run_checks, target_url, verify
from .live import (
    KoreTokenSeen,
    RedirectCheck,
    check_redirect_uri_registered,
    wait_for_kore_token,
)
from .matrix import MatrixReport, MatrixRow, run_matrix, verify_matrix

__all__ = [
    "CheckResult",
    "KoreTokenSeen",
    "MatrixReport",
    "MatrixRow",
    "RecordedKore",
    "RedirectCheck",
    "VerificationReport",
    "check_redirect_uri_registered",
    "recorded_kore",
    "run_checks",
    "run_matrix",
    "target_url",
    "verify",
    "verify_matrix",
    "wait_for_kore_token",
]
