"""An institution's ``status`` (``/institutions/get_by_id`` with ``options.include_status``).

The spec says institution status is not available in the Sandbox, and Plaid's client tests
(plaid-go tests/institutions_test.go) note that a Sandbox institution returns only the
``item_logins`` status. So a healthy bank reports ``item_logins`` alone (the rest null); the
"Unhealthy Platypus Bank" ones report DEGRADED or DOWN for each product, with an incident.
"""

from __future__ import annotations

from typing import NamedTuple

from .institutions import Bank

LAST_STATUS_CHANGE = "2026-01-05T15:53:00Z"


class Figures(NamedTuple):
    """A ``ProductStatusBreakdown``: the three shares sum to 1."""

    success: float
    error_plaid: float
    error_institution: float
    refresh_interval: str


_FIGURES = {
    "HEALTHY": Figures(0.98, 0.01, 0.01, "NORMAL"),
    "DEGRADED": Figures(0.6, 0.05, 0.35, "DELAYED"),
    "DOWN": Figures(0.0, 0.0, 1.0, "STOPPED"),
}
# status key -> the product it reports on (None: every institution has it)
_STATUS_KEYS = {
    "item_logins": None,
    "transactions_updates": "transactions",
    "auth": "auth",
    "identity": "identity",
    "investments_updates": "investments",
    "liabilities_updates": "liabilities",
    "liabilities": "liabilities",
    "investments": "investments",
}
_UPDATES = frozenset({"transactions_updates", "investments_updates", "liabilities_updates"})


def _product_status(health: str, with_refresh: bool) -> dict[str, object]:
    figures = _FIGURES[health]
    breakdown: dict[str, object] = {
        "success": figures.success,
        "error_plaid": figures.error_plaid,
        "error_institution": figures.error_institution,
    }
    if with_refresh:
        breakdown["refresh_interval"] = figures.refresh_interval
    return {"status": health, "last_status_change": LAST_STATUS_CHANGE, "breakdown": breakdown}


def _incidents(bank: Bank) -> list[dict[str, object]]:
    if bank.health == "HEALTHY":
        return []
    title = "Logins failing" if bank.health == "DOWN" else "Some logins failing"
    return [
        {
            "start_date": LAST_STATUS_CHANGE,
            "end_date": None,
            "title": f"{bank.name}: {title}",
            "incident_updates": [
                {
                    "description": f"{title} at {bank.name}; we are investigating.",
                    "status": "INVESTIGATING",
                    "updated_date": LAST_STATUS_CHANGE,
                }
            ],
        }
    ]


def status(bank: Bank) -> dict[str, object]:
    """The ``InstitutionStatus`` of ``bank``: null for the products it lacks, and for every
    product of a healthy bank (item logins only)."""
    healthy = bank.health == "HEALTHY"
    result: dict[str, object] = {
        key: (
            _product_status(bank.health, key in _UPDATES)
            if product is None or (not healthy and product in bank.products)
            else None
        )
        for key, product in _STATUS_KEYS.items()
    }
    result["health_incidents"] = _incidents(bank)
    return result
