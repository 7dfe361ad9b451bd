"""A PostgreSQL URL shown without its secrets: only ``host:port/database``.

The URL may carry its password in the userinfo (``user:password@``, even with a raw ``@``
inside) or in the query (``?password=``), percent-encoded or not, with or without a port, with
a Unix socket folder as host (``%2Fvar%2Frun%2Fpostgresql`` or ``?host=/var/run/...``), or with
several hosts. Whatever cannot be read is shown as ``…``, never as written.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

DEFAULT_PORT = "5432"
UNREADABLE = "…"
# The userinfo ends at the last "@" before the path: libpq wants a raw "@" written %40, but a
# password written with one must not leak its end as the "host".
_URL = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://"
    r"(?:(?P<userinfo>[^/?#]*)@)?"
    r"(?P<hosts>[^@/?#]*)"
    r"(?:/(?P<database>[^@/?#]*))?"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?$",
    re.DOTALL,
)
_HOST = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.%]+\]|[A-Za-z0-9._%~-]*)(?::(?P<port>\d*))?$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f@?#&=]{1,200}$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_PARAMS = ("password", "passfile", "sslpassword")


def database_location(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL (defaults filled in), nothing else."""
    match = _parsed(url)
    if match is None:
        return UNREADABLE
    query = _query(match["query"])
    hosts = _hosts(match["hosts"], query)
    user = unquote((match["userinfo"] or "").partition(":")[0])
    database = unquote(match["database"] or "") or query.get("dbname") or user or "postgres"
    return f"{hosts}/{_readable(database)}"


def database_secrets(url: str) -> tuple[str, ...]:
    """The secrets written in a PostgreSQL URL (the password as written and decoded)."""
    match = _parsed(url)
    found: list[str] = []
    if match is None:  # unreadable: whatever stands between the user name and the last "@"
        userinfo = url.partition("://")[2].rpartition("@")[0]
        return (userinfo.partition(":")[2],) if ":" in userinfo else ()
    userinfo = match["userinfo"] or ""
    if ":" in userinfo:
        written = userinfo.partition(":")[2]
        found += [written, unquote(written)]
    raw_query = match["query"] or ""
    for name, value in parse_qsl(raw_query, keep_blank_values=False):
        if name.lower() in _SECRET_PARAMS:
            found.append(value)
    found += re.findall(r"(?:^|&)(?:password|sslpassword)=([^&]*)", raw_query)
    return tuple(dict.fromkeys(v for v in found if v))


def _parsed(url: str) -> re.Match[str] | None:
    """The URL's parts; None when they cannot be told apart (a raw "/", "?" or "#" in a
    password makes the rest look like a path or a query)."""
    match = _URL.match(url.strip())
    if match is None or "@" in (match["fragment"] or ""):
        return None
    keys = [pair.partition("=")[0] for pair in (match["query"] or "").split("&") if pair]
    return match if all(_PARAM.match(key) for key in keys) else None


def _query(raw: str | None) -> dict[str, str]:
    try:
        return {k.lower(): v for k, v in parse_qsl(raw or "", keep_blank_values=False)}
    except ValueError:
        return {}


def _hosts(raw: str, query: dict[str, str]) -> str:
    """Each ``host:port`` of the URL (the query's host/port when the URL names none)."""
    entries = raw.split(",") if raw else [""]
    shown = []
    for entry in entries:
        parts = _HOST.match(entry)
        if parts is None:
            shown.append(f"{UNREADABLE}:{UNREADABLE}")
            continue
        host = unquote(parts["host"]) or query.get("host") or "localhost"
        port = parts["port"] or query.get("port") or DEFAULT_PORT
        shown.append(f"{_readable(host)}:{_readable(port)}")
    return ",".join(shown)


def _readable(part: str) -> str:
    return part if _NAME.match(part) else UNREADABLE
