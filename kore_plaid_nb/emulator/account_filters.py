"""``account_filters`` of ``/link/token/create``: checked as Plaid checks them, stored, and
echoed by ``/link/token/get`` in ``metadata.account_filters``."""

from __future__ import annotations

from . import fields
from .core import Body

# account type -> the subtypes its filter takes (Plaid's spec, ``all`` included)
SUBTYPES: dict[str, frozenset[str]] = {
    "depository": frozenset({
        "checking", "savings", "hsa", "cd", "money market", "paypal", "prepaid",
        "cash management", "ebt", "limited purpose checking", "all",
    }),
    "credit": frozenset({"credit card", "paypal", "all"}),
    "loan": frozenset({
        "auto", "business", "commercial", "construction", "consumer", "home equity", "loan",
        "mortgage", "overdraft", "line of credit", "student", "other", "all",
    }),
    "investment": frozenset({
        "529", "401a", "401k", "403B", "457b", "brokerage", "cash isa", "crypto exchange",
        "education savings account", "fhsa", "fixed annuity", "gic",
        "health reimbursement arrangement", "hsa", "ira", "isa", "keogh", "lif",
        "life insurance", "line of credit", "lira", "lrif", "lrsp", "mutual fund",
        "non-custodial wallet", "non-taxable brokerage account", "other", "other annuity",
        "other insurance", "pension", "prif", "profit sharing plan", "qshr", "rdsp", "resp",
        "retirement", "rlif", "roth", "roth 401k", "roth 403B", "roth 457b", "roth pension",
        "roth profit sharing plan", "roth thrift savings plan", "rrif", "rrsp", "sarsep",
        "sep ira", "simple ira", "sipp", "stock plan", "thrift savings plan", "tfsa", "trust",
        "ugma", "utma", "variable annuity", "all",
    }),
    "other": frozenset({"other", "all"}),
}  # fmt: skip
LIMITED_PURPOSE_TYPES = frozenset({"RENT_MORTGAGE"})  # the spec's ``LimitedPurposeType``


def read(body: Body) -> Body | None:
    """The request's ``account_filters`` (None when absent); a Plaid error if malformed."""
    if body.get("account_filters") is None:
        return None
    filters = fields.obj(body, "account_filters")
    unknown = sorted(set(filters) - set(SUBTYPES))
    if unknown:
        raise fields.invalid(
            "account_filters", f"has unknown account types {unknown}; use {', '.join(SUBTYPES)}"
        )
    checked: Body = {}
    for account_type, value in filters.items():
        name = f"account_filters.{account_type}"
        if not isinstance(value, dict):
            raise fields.invalid(name, "must be an object")
        subtypes = fields.strings(value, "account_subtypes", allowed=SUBTYPES[account_type],
                                  label=f"{name}.account_subtypes")  # fmt: skip
        entry: Body = {"account_subtypes": subtypes}
        if account_type == "depository":
            purposes = fields.strings(value, "limited_purpose_types", required=False,
                                      allowed=LIMITED_PURPOSE_TYPES,
                                      label=f"{name}.limited_purpose_types")  # fmt: skip
            if purposes is not None:
                entry["limited_purpose_types"] = purposes
        checked[account_type] = entry
    return checked


def echo(stored: Body) -> Body:
    """``AccountFiltersResponse``: the stored filters, ``other`` included (the spec's schema
    takes additional properties)."""
    return {kind: value for kind, value in stored.items() if kind in SUBTYPES}
