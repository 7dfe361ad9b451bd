"""Plaid failures: which exceptions are one (:data:`PLAID_FAILURES`), their safe form
(:class:`PlaidError`), and what each kind means and what to do, for each caller (:data:`ADVICE`,
the one table the runbook, the bridge and the Kore simulator explain Plaid's errors from)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import plaid
import urllib3

from .errors import plain_reason

# No answer from Plaid: urllib3 (plaid-python's transport), httpx (the runbook's own calls to
# Plaid's hosts) and the socket, DNS and TLS errors under them.
TRANSPORT_FAILURES: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    httpx.TransportError,
    OSError,
)
# What a Plaid call raises when Plaid refused it or could not be reached; anything else is a
# bug in the caller (plaid-python's own argument checks included: ApiTypeError, ApiValueError,
# ApiAttributeError) and propagates.
PLAID_FAILURES: tuple[type[BaseException], ...] = (plaid.ApiException, *TRANSPORT_FAILURES)


@dataclass(frozen=True)
class PlaidError:
    """A Plaid error body (or a transport failure) in a form that is safe to show."""

    status: int
    error_type: str
    error_code: str
    error_message: str
    display_message: str | None = None
    request_id: str | None = None

    def __str__(self) -> str:
        if self.error_type == "CONNECTION_ERROR":
            return f"Plaid could not be reached: {self.error_message}"
        return f"{self.error_type}/{self.error_code} (HTTP {self.status}): {self.error_message}"


def error_from_exception(exc: BaseException) -> PlaidError:
    """Turn one of the :data:`PLAID_FAILURES` into a :class:`PlaidError`; any other exception
    is a bug, not a Plaid failure: :class:`TypeError`.

    A connection failure keeps the exception's class name as ``error_code`` (for logs and
    the bridge's retry rules); its ``error_message`` says what happened in words."""
    if isinstance(exc, plaid.ApiException):
        try:
            body = json.loads(exc.body or "{}")
        except (TypeError, ValueError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        return PlaidError(
            status=int(exc.status or 0),
            error_type=str(body.get("error_type") or "API_ERROR"),
            error_code=str(body.get("error_code") or "UNKNOWN"),
            error_message=str(body.get("error_message") or exc.reason or "no message"),
            display_message=body.get("display_message"),
            request_id=body.get("request_id"),
        )
    if isinstance(exc, TRANSPORT_FAILURES):
        return PlaidError(
            status=0,
            error_type="CONNECTION_ERROR",
            error_code=type(exc).__name__,
            error_message=plain_reason(exc),
        )
    raise TypeError(f"{type(exc).__name__} is not a Plaid failure") from exc


# -- What a Plaid failure means, and what to do: one table for every caller -----------------


class PlaidProblem(enum.Enum):
    """A kind of Plaid failure (:func:`classify`)."""

    UNREACHABLE = enum.auto()
    TIMEOUT = enum.auto()
    EMULATOR_UNREACHABLE = enum.auto()  # PLAID_API_URL points at no emulator
    KEYS = enum.auto()
    LINK_SESSION = enum.auto()
    FIELD = enum.auto()
    LOGIN_REQUIRED = enum.auto()
    ACCESS_TOKEN = enum.auto()
    ITEM_GONE = enum.auto()  # told by the bridge's repair only (:func:`.plaid_link.item_gone`)
    MISSING_FIELDS = enum.auto()
    PRODUCTS = enum.auto()
    RATE_LIMIT = enum.auto()
    OUTAGE = enum.auto()
    OTHER = enum.auto()


class Caller(enum.Enum):
    """Who called Plaid, so who is told what to do."""

    RUNBOOK = enum.auto()  # a notebook cell or the CLI, for the developer
    BRIDGE = enum.auto()  # the bridge, for the end user in the browser
    KORE = enum.auto()  # Kore's actions (the profile's fields), or the simulator playing Kore


@dataclass(frozen=True)
class Advice:
    """One caller's words for one :class:`PlaidProblem`. ``message`` and ``fix`` are texts
    with ``%(name)s`` fields; the caller names them."""

    message: str
    fix: str
    step: str | None = None
    status: int = 502  # what the bridge answers the browser with

    def says(self, **fields: object) -> str:
        return self.message % fields

    def advises(self, **fields: object) -> str:
        return self.fix % fields


KEYS_ADVICE = (
    "Copy the client_id and the secret of the chosen environment again from "
    "dashboard.plaid.com > Developers > Keys"
)
REDIRECT_URIS_PAGE = "dashboard.plaid.com > Developers > API > Allowed redirect URIs"


def emulator_redirect_uris_fix(uri: str = "the URI") -> str:
    """What to do when the emulator refuses a redirect URI: embedded mode has no dashboard,
    the emulator allows what the settings name."""
    return (
        "In embedded mode the emulator plays Plaid's dashboard: it allows the Kore callback "
        "saved in notebook 02 (PLAID_REDIRECT_URI), LINK_REDIRECT_URI and any URL on this "
        f"machine. Save {uri} in notebook 02 (or as LINK_REDIRECT_URI in .env), then run this "
        "check again."
    )


def N_(message: str) -> str:  # noqa: N802 - gettext's marker (the bridge's i18n.N_, no import)
    """Marks a text the bridge shows end users, for the ``messages`` catalog."""
    return message


REFUSED = "Plaid refused the call: %(error)s"  # the runbook shows Plaid's own words

# The %(fields)s each caller fills (tests/test_plaid_failures.py renders every row with them):
# RUNBOOK: error, or at and reason when Plaid was not reached (its fix: host then, else none);
# BRIDGE: code, error_type, message and, but for ITEM_GONE, during, host, redirect_uri; KORE:
# where, detail, linked_without (its fix: none). A caller without a row for a problem uses its
# OTHER row. The BRIDGE rows are shown to end users: msgids of the bridge's ``messages``
# catalog (N_), translated when the bridge renders them (bridge/refusal.py).
ADVICE: Mapping[PlaidProblem, Mapping[Caller, Advice]] = {
    PlaidProblem.UNREACHABLE: {
        Caller.RUNBOOK: Advice(
            "Plaid could not be reached%(at)s (%(reason)s).",
            "Check the internet connection (and HTTPS_PROXY, if this network needs a proxy), "
            "then try again; status.plaid.com shows whether Plaid is down.",
        ),
        Caller.BRIDGE: Advice(
            N_("The bridge could not reach Plaid at %(host)s while %(during)s."),
            N_(
                "Check the internet connection, or start the emulator when PLAID_API_URL points "
                "at it (`kore-plaid sandbox`)."
            ),
            "4.vii-x",
        ),
    },
    PlaidProblem.EMULATOR_UNREACHABLE: {
        Caller.RUNBOOK: Advice(
            "Plaid could not be reached%(at)s (%(reason)s).",
            "PLAID_API_URL points at %(host)s: start the emulator there (embedded mode: rerun the "
            "notebook from the top, or `kore-plaid sandbox`), or unset PLAID_API_URL to use "
            "Plaid itself.",
        ),
    },
    PlaidProblem.TIMEOUT: {
        Caller.BRIDGE: Advice(
            N_("Plaid at %(host)s did not answer in time while %(during)s."),
            N_(
                "Wait a minute and try again; if it keeps happening, check status.plaid.com "
                "(or the emulator's log when PLAID_API_URL points at it)."
            ),
            status=504,
        ),
    },
    PlaidProblem.KEYS: {
        Caller.RUNBOOK: Advice(
            REFUSED,
            f"{KEYS_ADVICE} (a Sandbox secret does not work in Production), and check PLAID_ENV.",
            "4.iii-iv",
        ),
        Caller.BRIDGE: Advice(
            N_("Plaid refused the bridge's client id / secret while %(during)s."),
            N_(
                "Copy the client_id and the secret of the chosen environment again from "
                "dashboard.plaid.com > Developers > Keys into .env (PLAID_ENV names the "
                "environment), then restart the bridge."
            ),
            "4.iii-iv",
        ),
        Caller.KORE: Advice(
            "Plaid refused the client id / secret in %(where)s (%(detail)s).",
            f"{KEYS_ADVICE} into .env, the profile's Client ID / Client Secret and the "
            "PLAID-CLIENT-ID / PLAID-SECRET headers.",
            "4.iii-iv / 9",
        ),
    },
    PlaidProblem.LINK_SESSION: {
        Caller.BRIDGE: Advice(
            N_(
                "Plaid did not accept this Link session while %(during)s (it expired or was "
                "already used)."
            ),
            N_("Close this page and start the authorization again from the Kore conversation."),
            status=400,
        ),
    },
    PlaidProblem.FIELD: {
        Caller.RUNBOOK: Advice(
            REFUSED,
            f"If the message names redirect_uri: add that exact URI in {REDIRECT_URIS_PAGE}. "
            "Otherwise check the field it names.",
            "4.v-vi",
        ),
        Caller.BRIDGE: Advice(  # told only when the call sent a redirect URI
            N_("Plaid refused a field while %(during)s: %(message)s"),
            N_(
                "Add %(redirect_uri)s to dashboard.plaid.com > Developers > API > Allowed "
                "redirect URIs (or set LINK_REDIRECT_URI to one that is there)."
            ),
            "4.v-vi",
        ),
    },
    PlaidProblem.LOGIN_REQUIRED: {
        Caller.RUNBOOK: Advice(
            REFUSED, "The bank login expired: authorize again in Kore.", "10-12"
        ),
        Caller.BRIDGE: Advice(
            N_("The bank asks for its login again while %(during)s."),
            N_("Open Plaid Link again (the Connect button) and log in to the bank."),
            status=400,
        ),
        Caller.KORE: Advice(
            "%(where)s failed: the bank login expired (%(detail)s).",
            "The user must authorize again (Kore: Authorize; end users get a new link).",
            "10-12",
        ),
    },
    PlaidProblem.ACCESS_TOKEN: {
        Caller.RUNBOOK: Advice(
            REFUSED, "Authorize again; check the payload field access_token = {{accessToken}}.", "8"
        ),
        Caller.KORE: Advice(
            "Plaid refused the access token in %(where)s (%(detail)s).",
            "Authorization field: payload | access_token | {{accessToken}} (step 8), and the "
            "tenant must be the token's environment (step 6).",
            "8 / 6",
        ),
    },
    PlaidProblem.ITEM_GONE: {
        Caller.BRIDGE: Advice(
            N_("Plaid no longer knows this bank connection: it was removed."),
            N_("Connect the bank again from the Kore conversation (authorize again)."),
            status=410,
        ),
    },
    PlaidProblem.MISSING_FIELDS: {
        Caller.KORE: Advice(
            "Plaid says a field is missing in %(where)s (%(detail)s).",
            "Authorization fields: payload access_token = {{accessToken}}; headers "
            "PLAID-CLIENT-ID and PLAID-SECRET.",
            "8 / 9",
        ),
    },
    PlaidProblem.PRODUCTS: {
        Caller.RUNBOOK: Advice(
            REFUSED,
            "Set PLAID_PRODUCTS to products your Plaid account has and the bank supports "
            "(or pick a bank that supports them).",
            "4.x",
        ),
        Caller.KORE: Advice(
            "%(where)s failed with %(detail)s%(linked_without)s",
            "Set PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities in .env, "
            "restart the bridge and authorize again.",
            "4.x",
        ),
    },
    PlaidProblem.RATE_LIMIT: {
        Caller.RUNBOOK: Advice(REFUSED, "Plaid rate-limited the calls: wait a minute and retry."),
        Caller.BRIDGE: Advice(
            N_("Plaid is rate limiting the bridge while %(during)s."),
            N_("Wait a minute and try again."),
            status=503,
        ),
        Caller.KORE: Advice(
            "%(where)s was rate-limited by Plaid (%(detail)s).",
            "Wait a minute and run the check again; nothing is misconfigured.",
        ),
    },
    PlaidProblem.OUTAGE: {
        Caller.BRIDGE: Advice(
            N_("Plaid had a temporary problem (%(error_type)s/%(code)s) while %(during)s."),
            N_("Wait a minute and try again; if it keeps happening, check status.plaid.com."),
        ),
        Caller.KORE: Advice(
            "%(where)s failed on Plaid's side (%(detail)s).",
            "Plaid (or the emulator) had an internal error: run the check again; "
            "https://status.plaid.com says whether Plaid is down.",
        ),
    },
    PlaidProblem.OTHER: {
        Caller.RUNBOOK: Advice(
            REFUSED,
            "Read Plaid's message above; https://plaid.com/docs/errors/ explains each code.",
        ),
        Caller.BRIDGE: Advice(
            N_("Plaid answered %(error_type)s/%(code)s while %(during)s: %(message)s"),
            N_(
                "Read the message; check PLAID_PRODUCTS / PLAID_COUNTRY_CODES in .env, then "
                "start again from Kore."
            ),
            "4.x",
        ),
        Caller.KORE: Advice(
            "%(where)s failed: %(detail)s",
            "Read the message; the bridge's log may say more.",
            "6 / 8 / 9",  # a Kore action's tenant, payload or headers
        ),
    },
}

# Plaid's error codes (and error types) by the problem they show.
PROBLEM_CODES: Mapping[PlaidProblem, frozenset[str]] = {
    PlaidProblem.KEYS: frozenset({"INVALID_API_KEYS"}),
    PlaidProblem.LINK_SESSION: frozenset({"INVALID_PUBLIC_TOKEN", "INVALID_LINK_TOKEN"}),
    PlaidProblem.FIELD: frozenset({"INVALID_FIELD"}),
    PlaidProblem.LOGIN_REQUIRED: frozenset({"ITEM_LOGIN_REQUIRED"}),
    PlaidProblem.ACCESS_TOKEN: frozenset({"INVALID_ACCESS_TOKEN"}),
    PlaidProblem.MISSING_FIELDS: frozenset({"MISSING_FIELDS"}),
    PlaidProblem.PRODUCTS: frozenset(
        {
            "PRODUCTS_NOT_SUPPORTED",
            "INVALID_PRODUCT",
            "INVALID_PRODUCTS",
            "PRODUCT_NOT_ENABLED",
            "ADDITIONAL_CONSENT_REQUIRED",
            "NO_INVESTMENT_ACCOUNTS",
            "NO_INVESTMENT_AUTH_ACCOUNTS",
            "NO_LIABILITY_ACCOUNTS",
            "NO_AUTH_ACCOUNTS",
        }
    ),
    PlaidProblem.RATE_LIMIT: frozenset(
        {
            "RATE_LIMIT_EXCEEDED",  # the error type of all of them
            "RATE_LIMIT",
            "ACCOUNTS_LIMIT",
            "AUTH_LIMIT",
            "BALANCE_LIMIT",
            "IDENTITY_LIMIT",
            "ITEM_GET_LIMIT",
            "TRANSACTIONS_LIMIT",
            "INVESTMENTS_LIMIT",
            "LIABILITIES_LIMIT",
        }
    ),
    PlaidProblem.OUTAGE: frozenset(
        {
            "API_ERROR",  # error types
            "INSTITUTION_ERROR",
            "INTERNAL_SERVER_ERROR",
            "PLANNED_MAINTENANCE",
            "INSTITUTION_DOWN",
            "INSTITUTION_NOT_RESPONDING",
        }
    ),
}


def classify(code: str, error_type: str = "", status: int = 0) -> PlaidProblem:
    """The :class:`PlaidProblem` of a Plaid error: by its code, then its type, then its HTTP
    ``status`` (0: not known). Connection failures: :func:`problem_of`."""
    for key in (code, error_type):
        for problem, codes in PROBLEM_CODES.items():
            if key in codes:
                return problem
    if status == 429:
        return PlaidProblem.RATE_LIMIT
    if status >= 500:
        return PlaidProblem.OUTAGE
    return PlaidProblem.OTHER


def problem_of(error: PlaidError) -> PlaidProblem:
    """The :class:`PlaidProblem` of a :class:`PlaidError` (a connection failure included)."""
    if error.error_type == "CONNECTION_ERROR":
        return PlaidProblem.TIMEOUT if "Timeout" in error.error_code else PlaidProblem.UNREACHABLE
    return classify(error.error_code, error.error_type, error.status)


def advice(problem: PlaidProblem, caller: Caller) -> Advice:
    """What ``caller`` tells about ``problem`` (its OTHER row when it has none)."""
    return ADVICE[problem].get(caller) or ADVICE[PlaidProblem.OTHER][caller]
