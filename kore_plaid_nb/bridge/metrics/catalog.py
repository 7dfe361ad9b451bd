"""Every metric the bridge exports: its name, labels and help text, declared once.

The README's "Monitoring" table, the alert rules and the dashboard name these (a test keeps
them in step). Label values come from closed sets (:data:`FAILURE_REASONS`,
:data:`GRANT_TYPES`, :data:`PLAID_ENDPOINTS`, ...): a value outside its set is counted as
``other``, so no label can carry a token, a code, a user or an ``item_ref``, and no caller can
grow the series without bound.

The metrics live in :data:`REGISTRY` (not prometheus-client's global one). Under
``--workers N`` prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
the command before the workers start) writes each worker's values to files that one scrape
adds up (:mod:`.exposition`).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from ...plaid_errors import PROBLEM_CODES

PREFIX: Final = "kore_plaid_bridge"
OTHER: Final = "other"

FAILURE_REASONS: Final = frozenset(
    {"user_left", "link_error", "code_replayed", "plaid_error", "store_unavailable"}
)
GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token"})
# The token endpoint's outcomes: "ok" or RFC 6749's error names (section 5.2), plus 503's.
TOKEN_OUTCOMES: Final = frozenset(
    {
        "ok",
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "temporarily_unavailable",
        "server_error",
    }
)
# The Plaid endpoints the bridge calls (plaid-python's or the hot path's client).
PLAID_ENDPOINTS: Final = frozenset(
    {
        "/link/token/create",
        "/link/token/get",
        "/item/public_token/exchange",
        "/item/get",
        "/item/remove",
        "/item/access_token/invalidate",
        "/webhook_verification_key/get",
        "/institutions/get_by_id",
    }
)
# Plaid's error codes a bridge call may meet (the runbook's advice table), the transport's.
PLAID_OUTCOMES: Final = frozenset(
    {"ok", "CONNECTION_ERROR", "ITEM_NOT_FOUND", "INVALID_REQUEST", "INVALID_INPUT"}
).union(*PROBLEM_CODES.values())
WEBHOOK_TYPES: Final = frozenset(
    {"ITEM", "TRANSACTIONS", "AUTH", "HOLDINGS", "INVESTMENTS_TRANSACTIONS", "LIABILITIES",
     "LINK", "IDENTITY", "ASSETS"}
)  # fmt: skip
WEBHOOK_REFUSALS: Final = frozenset(
    {
        "missing_signature",
        "malformed_signature",
        "wrong_algorithm",
        "unknown_key",
        "expired_key",
        "not_yet_valid",
        "bad_signature",
        "too_old",
        "body_mismatch",
        "key_lookups_exhausted",
        "key_unavailable",
    }
)
# The token endpoint's outcomes shown from the first scrape (0 until one happens).
TOKEN_OUTCOMES_SHOWN: Final = (
    "ok",
    "invalid_grant",
    "invalid_client",
    "invalid_request",
    "temporarily_unavailable",
    "server_error",
)

# Buckets, in seconds, for what each histogram times.
AUTHORIZATION_BUCKETS: Final = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
TOKEN_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
PLAID_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
STORE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

REGISTRY: Final = CollectorRegistry(auto_describe=True)

AUTHORIZATIONS_STARTED: Final = Counter(
    f"{PREFIX}_authorizations_started",
    "Authorization URL visits that opened a session (the user may now open Plaid Link).",
    registry=REGISTRY,
)
AUTHORIZATIONS_COMPLETED: Final = Counter(
    f"{PREFIX}_authorizations_completed",
    "Authorizations that sent the user back to Kore's callback with a code.",
    registry=REGISTRY,
)
AUTHORIZATIONS_FAILED: Final = Counter(
    f"{PREFIX}_authorizations_failed",
    "Failures users met, by reason, at most once per session and reason (in each process); "
    "the user may still retry and complete: user_left (closed Link), link_error (Link "
    "reported an error), code_replayed (a code was used twice: its grant was revoked), "
    "plaid_error (a Plaid call failed), store_unavailable (the store could not answer; "
    "before a session was opened, once per request).",
    ["reason"],
    registry=REGISTRY,
)
AUTHORIZATION_SECONDS: Final = Histogram(
    f"{PREFIX}_authorization_seconds",
    "Time from the Authorization URL to the code sent to Kore's callback.",
    buckets=AUTHORIZATION_BUCKETS,
    registry=REGISTRY,
)
TOKEN_REQUESTS: Final = Counter(
    f"{PREFIX}_token_requests",
    "Token endpoint requests by grant_type (authorization_code, refresh_token, other) and "
    "outcome (ok, or the RFC 6749 error answered).",
    ["grant_type", "outcome"],
    registry=REGISTRY,
)
TOKEN_REQUEST_SECONDS: Final = Histogram(
    f"{PREFIX}_token_request_seconds",
    "Token endpoint latency, from the request read to the answer, by grant_type.",
    ["grant_type"],
    buckets=TOKEN_BUCKETS,
    registry=REGISTRY,
)
PLAID_REQUESTS: Final = Counter(
    f"{PREFIX}_plaid_requests",
    "Calls to Plaid by endpoint and outcome (ok, Plaid's error_code, CONNECTION_ERROR, or "
    "other for a code outside the known set).",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)
PLAID_REQUEST_SECONDS: Final = Histogram(
    f"{PREFIX}_plaid_request_seconds",
    "Latency of each call to Plaid (one attempt; retries are counted apart), by endpoint.",
    ["endpoint"],
    buckets=PLAID_BUCKETS,
    registry=REGISTRY,
)
WEBHOOKS: Final = Counter(
    f"{PREFIX}_webhooks",
    "Plaid webhooks received, by webhook_type, webhook_code and verdict (verified, refused); "
    "reason says why one was refused (unknown_key, bad_signature, too_old, ..., "
    "key_unavailable: Plaid's signing key could not be fetched, Plaid sends it again).",
    ["webhook_type", "webhook_code", "verdict", "reason"],
    registry=REGISTRY,
)
SESSIONS_RATE_LIMITED: Final = Counter(
    f"{PREFIX}_sessions_rate_limited",
    "Authorization URL visits refused by the session limits, per address or overall (429).",
    registry=REGISTRY,
)
STORE_TRANSACTION_SECONDS: Final = Histogram(
    f"{PREFIX}_store_transaction_seconds",
    "Time the store's transactions (reads and writes) take, commit included.",
    buckets=STORE_BUCKETS,
    registry=REGISTRY,
)
STORE_UNAVAILABLE: Final = Counter(
    f"{PREFIX}_store_unavailable",
    "Requests answered 503 because the store could not answer (database down, locked or "
    "restarting).",
    registry=REGISTRY,
)
REPAIR_LINKS_USED: Final = Counter(
    f"{PREFIX}_repair_links_used",
    "Repair links a user completed (Link in update mode, confirmed with Plaid).",
    registry=REGISTRY,
)

# Read from the store at scrape time and built per scrape (:mod:`.exposition`).
ITEMS_NAME: Final = f"{PREFIX}_items"
ITEMS_HELP: Final = (
    "Items held by the bridge, by health (healthy, ITEM_LOGIN_REQUIRED, PENDING_EXPIRATION, "
    "...), read from the store at most every few seconds. Every replica reports the same "
    "store: use max(), not sum(), across replicas."
)
REPAIR_LINKS_NAME: Final = f"{PREFIX}_repair_links"
REPAIR_LINKS_HELP: Final = (
    "Repair links issued for Items the bridge holds, by state: open (not used, not expired), "
    "used (completed, or replaced by a newer link), expired; their sum is the links issued. "
    "Read from the store with the Items. Every replica reports the same store: use max(), "
    "not sum(), across replicas."
)
REPAIR_LINKS_LABELS: Final = ("state",)
STORE_UP_NAME: Final = f"{PREFIX}_store_up"
STORE_UP_HELP: Final = (
    "1 when the store answered this process's last read of the Items (at most every few "
    "seconds, at scrape time), 0 when it could not."
)
BUILD_INFO_NAME: Final = f"{PREFIX}_build"
BUILD_INFO_HELP: Final = "The bridge's version, store backend and link mode (value 1)."
ITEMS_LABELS: Final = ("health",)
BUILD_INFO_LABELS: Final = ("version", "backend", "link_mode")
ITEM_HEALTHS: Final = frozenset(
    {
        "healthy",
        "ITEM_LOGIN_REQUIRED",
        "PENDING_EXPIRATION",
        "PENDING_DISCONNECT",
        "USER_PERMISSION_REVOKED",
        "NEW_ACCOUNTS_AVAILABLE",
        "INVALID_ACCESS_TOKEN",
    }
)


def bounded(value: str | None, allowed: frozenset[str]) -> str:
    """``value`` when it is one of ``allowed``, else :data:`OTHER`."""
    return value if value in allowed else OTHER
