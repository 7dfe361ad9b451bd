"""One progress event: a trainee's step (or whole notebook) passed or failed, and when."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

STATUSES = ("pass", "fail")
MAX_TEXT = 2000  # characters kept of a message or fix


def now_iso() -> str:
    """The current time, ISO 8601 in UTC with milliseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    trainee: str
    notebook: str
    step: str
    status: str  # "pass" or "fail"
    message: str = ""
    fix: str = ""
    at: str = field(default_factory=now_iso)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def text(self) -> str:
        """The message as the notebook showed it: message, then ``What to do: fix``."""
        return f"{self.message}\nWhat to do: {self.fix}" if self.fix else self.message


class EventError(ValueError):
    """A dict that is not a valid event (the board answers 400 with this message)."""


def from_dict(data: object) -> Event:
    """Validate and build an event (raises :class:`EventError` saying which field is wrong)."""
    if not isinstance(data, dict):
        raise EventError("an event must be a JSON object")
    values: dict[str, str] = {}
    for name in ("trainee", "notebook", "step", "status", "message", "fix", "at", "id"):
        value = data.get(name, "")
        if not isinstance(value, str):
            raise EventError(f"event field {name!r} must be a string")
        values[name] = value[:MAX_TEXT]
    for name in ("trainee", "notebook", "step", "at", "id"):
        if not values[name].strip():
            raise EventError(f"event field {name!r} is missing")
        if len(values[name]) > 200:
            raise EventError(f"event field {name!r} is longer than 200 characters")
    if values["status"] not in STATUSES:
        raise EventError("event field 'status' must be 'pass' or 'fail'")
    try:
        datetime.fromisoformat(values["at"].replace("Z", "+00:00"))
    except ValueError:
        raise EventError("event field 'at' must be an ISO 8601 time") from None
    return Event(**values)


def from_json(line: str) -> Event:
    try:
        return from_dict(json.loads(line))
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc.msg}") from None
