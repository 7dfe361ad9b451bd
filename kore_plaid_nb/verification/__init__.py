"""``kore-plaid verify``: the Kore simulator's checks, and the live-mode checks."""

from .checks import CheckResult, VerificationReport, run_checks, target_url, verify
from .live import (
    KoreTokenSeen,
    RedirectCheck,
    check_redirect_uri_registered,
    wait_for_kore_token,
)

__all__ = [
    "CheckResult",
    "KoreTokenSeen",
    "RedirectCheck",
    "VerificationReport",
    "check_redirect_uri_registered",
    "run_checks",
    "target_url",
    "verify",
    "wait_for_kore_token",
]
