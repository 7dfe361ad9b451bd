"""The bridge process's one logging setup: :func:`configure` sends every log line to stderr,
in one of two formats (``BRIDGE_LOG_FORMAT``), at ``BRIDGE_LOG_LEVEL``:

* ``text`` (the default): one readable line, ``<time> <LEVEL> <logger>: <message>``, with
  `` [request <id>]`` inside a request, then the traceback if any; newlines, a traceback's
  included, are written as the two characters ``\\n`` (one record, one line);
* ``json``: one JSON object per line with ``time`` (ISO 8601, UTC), ``level``, ``event`` (a
  short snake_case name: the record's ``event`` extra, else its message template's words),
  ``message``, ``logger``, ``request_id`` (inside a request) and the record's extras
  (``route``, ``status``, ``duration_ms``, ``plaid_endpoint``...); a traceback stays on the
  line, in ``exc_info``.

Both go through the standard library's :mod:`logging` and python-json-logger's
``JsonFormatter`` rather than structlog: every module of the package, oauthlib and uvicorn
already log through :mod:`logging`, so one handler on the root logger formats them all, with
no second logging API to learn or bridge. uvicorn's own loggers lose their handlers and
propagate to it (its servers for the bridge run with ``log_config=None``; a worker of
``--workers N`` runs this again from :func:`.asgi.create`); an access log uvicorn turned off
stays off (the bridge logs each request itself).

What a line may hold: see :mod:`.request_ids` (route templates, never paths or queries);
the configured secrets are taken out of every line, tracebacks included (:class:`Redactor`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from ..settings import Settings
from .request_ids import current_request_id

FORMATS = ("text", "json")
HANDLER_NAME = "kore-plaid-bridge"
ANNOUNCER = "kore_plaid_nb.bridge"
ACCESS_LOGGER = "uvicorn.access"  # off in the bridge's servers: see .request_ids
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", ACCESS_LOGGER, "uvicorn.asgi")
# Their INFO/DEBUG lines print URLs; the bridge's own lines say what matters.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "oauthlib")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"
_NOT_EXTRAS = {*RESERVED_ATTRS, "taskName", "color_message", "request_suffix", "event"}
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")
EVENT_WORDS = 6
REDACTED = "[redacted]"
# every character str.splitlines() breaks on, as a Python escape
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
_JSON_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def event_name(record: logging.LogRecord) -> str:
    """The record's ``event`` extra, else its message template's first words in snake_case
    (``"store unavailable: %s"`` -> ``store_unavailable``)."""
    given = getattr(record, "event", None)
    if isinstance(given, str) and given:
        return given
    template = _PLACEHOLDER.sub(" ", str(record.msg))
    head = re.split(r":|\s[(\[]|\n", template, maxsplit=1)[0]
    words = _NOT_A_WORD.sub(" ", head.lower()).split()
    return "_".join(words[:EVENT_WORDS]) or "log"


def utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestFields(logging.Filter):
    """Gives every record its request's id (when inside a request) and an event name."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or current_request_id()
        record.request_id = request_id
        record.event = event_name(record)
        record.request_suffix = f" [request {request_id}]" if request_id else ""
        return True


def one_line(text: str) -> str:
    """``text`` on one line: LF and CR written as the two characters ``\\n`` and ``\\r``,
    the other line breaks (VT, FF, U+2028...) as Python escapes."""
    return text.translate(_LINE_BREAKS)


class Redactor:
    """Takes the configured secrets (:attr:`.Settings.secret_values`: Plaid's secret, the
    database password, the encryption keys, tokens) out of a finished line, as written and
    as JSON escapes them: an exception's text or a traceback the bridge did not write
    cannot print them. Tokens handed out at run time are kept out by the code that logs."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = {form for s in secrets for form in (s, json.dumps(s)[1:-1]) if form}
        self.forms = sorted(forms, key=len, reverse=True)  # a longer one first: no remnant

    def __call__(self, line: str) -> str:
        for form in self.forms:
            if form in line:
                line = line.replace(form, REDACTED)
        return line


class TextFormatter(logging.Formatter):
    """The readable line: UTC time, level, logger, message, then the traceback if any, all
    on one line (:func:`one_line`: a newline is written ``\\n``, so a line-based reader
    never splits a record, and ``grep`` finds a traceback's line on its record's)."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact or Redactor()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_time(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(one_line(super().format(record)))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: the fixed fields first, then the record's extras."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(reserved_attrs=sorted(_NOT_EXTRAS), json_ensure_ascii=False)
        self.redact = redact or Redactor()

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = utc_time(record)
        log_data["level"] = record.levelname.lower()
        log_data["event"] = event_name(record)
        log_data["message"] = record.getMessage()
        log_data["logger"] = record.name
        log_data["request_id"] = getattr(record, "request_id", None)
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRAS and key not in log_data and not key.startswith("_"):
                log_data[key] = value
        log_data.update(message_dict)

    def format(self, record: logging.LogRecord) -> str:
        # JSON leaves NEL, U+2028 and U+2029 raw: escaped, no line reader splits the record
        return self.redact(super().format(record).translate(_JSON_LINE_BREAKS))


def log_level(settings: Settings) -> int:
    """BRIDGE_LOG_LEVEL as a number (:attr:`.Settings.log_level`: by the format unless set)."""
    level = logging.getLevelName(settings.log_level.upper())
    return level if isinstance(level, int) else logging.WARNING


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is written (a test's capture, a
    notebook's stream), not as it was when the handler was made."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def handler_for(chosen_format: str, secrets: Iterable[str] = ()) -> logging.Handler:
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestFields())
    redact = Redactor(secrets)
    json_lines = chosen_format == "json"
    handler.setFormatter(JsonLineFormatter(redact) if json_lines else TextFormatter(redact))
    return handler


def configure(settings: Settings) -> None:
    """Send this process's logs to stderr in ``settings``' format and level (again: the
    previous setup is replaced)."""
    chosen = settings.bridge_log_format if settings.bridge_log_format in FORMATS else "text"
    level = log_level(settings)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler_for(chosen, (*settings.secret_values, settings.secret)))
    root.setLevel(level)
    access = logging.getLogger(ACCESS_LOGGER)
    access_off = not access.handlers and not access.propagate  # uvicorn's access_log=False
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = not (name == ACCESS_LOGGER and access_off)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _handler() -> logging.Handler | None:
    return next((h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME), None)


def announce(message: str, event: str, level: int = logging.INFO) -> None:
    """A line the operator always sees, whatever the level (the command's banner, a new key
    file): in the configured format, or printed as it is in a process without it."""
    handler = _handler()
    if handler is None:
        print(message, file=sys.stderr, flush=True)
        return
    logger = logging.getLogger(ANNOUNCER)
    record = logger.makeRecord(
        ANNOUNCER, level, __file__, 0, message, (), None, extra={"event": event}
    )
    handler.handle(record)
