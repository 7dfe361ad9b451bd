"""Reading fields of a Plaid request body: a missing or mistyped field is a Plaid error."""

from __future__ import annotations

import re
from datetime import date

from .errors import PlaidAPIError

_MISSING = object()


def missing(*names: str) -> PlaidAPIError:
    return PlaidAPIError(
        "MISSING_FIELDS", f"the following required fields are missing: {', '.join(names)}"
    )


def invalid(name: str, why: str) -> PlaidAPIError:
    return PlaidAPIError("INVALID_FIELD", f"{name} {why}")


def _get(body: dict[str, object], name: str, required: bool) -> object:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise missing(name)
        return _MISSING
    return value


def text(
    body: dict[str, object], name: str, *, required: bool = True, default: str | None = None
) -> str | None:
    value = _get(body, name, required)
    if value is _MISSING:
        return default
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if required and not value.strip():
        raise missing(name)
    return value


def strings(
    body: dict[str, object],
    name: str,
    *,
    required: bool = True,
    allowed: frozenset[str] | None = None,
    label: str | None = None,
) -> list[str] | None:
    """A list of strings; errors name the field ``label`` (its full path) or ``name``."""
    label = label or name
    value = body.get(name)
    if value is None:
        if required:
            raise missing(label)
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(label, "must be a list of strings")
    if required and not value:
        raise invalid(label, "must contain at least one value")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise invalid(label, f"contains values that are not allowed: {', '.join(unknown)}")
    return list(value)


def obj(body: dict[str, object], name: str, *, required: bool = False) -> dict[str, object]:
    value = _get(body, name, required)
    if value is _MISSING:
        return {}
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    return value


def integer(
    body: dict[str, object], name: str, *, default: int, minimum: int, maximum: int | None = None
) -> int:
    value = _get(body, name, False)
    if value is _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, "must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise invalid(name, f"must be at least {minimum}{upper}")
    return value


def day(body: dict[str, object], name: str) -> date:
    value = text(body, name)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        raise invalid(name, "must be a date in the format YYYY-MM-DD")
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise invalid(name, "must be a date in the format YYYY-MM-DD") from None
