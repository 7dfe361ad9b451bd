"""The one error type the runbook shows to people: what went wrong and what to do."""

from __future__ import annotations

import re
import socket
import textwrap

WRAP_COLUMNS = 96  # an error's lines, as a notebook shows them at its usual width


class RunbookError(Exception):
    """A failure with a readable message and the fix, shown instead of a traceback.

    ``step`` names the step of the documented procedure (e.g. ``"4.iii-iv"``) when the
    failure points at one.
    """

    def __init__(self, message: str, fix: str = "", step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.step = step

    def __str__(self) -> str:
        text = self.message
        if self.step:
            text += f" (procedure step {self.step})"
        if self.fix:
            text += f"\nWhat to do: {self.fix}"
        return text

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message and the fix, wrapped at
        word boundaries (JupyterLab breaks an error's long lines anywhere, mid-word)."""
        lines: list[str] = []
        for i, line in enumerate(str(self).splitlines()):
            text = f"error: {line}" if i == 0 else line
            lines += textwrap.wrap(
                text, WRAP_COLUMNS, subsequent_indent="  ",
                break_long_words=False, break_on_hyphens=False,
            ) or [""]  # fmt: skip
        return lines


class SettingsError(RunbookError):
    """A setting is missing or holds a value that cannot work."""


class ServiceError(RunbookError):
    """A background service (emulator, bridge, tunnel) cannot start or is not running."""


class PlaidUnreachable(RunbookError):
    """Plaid (or the emulator standing in for it) could not be reached: nothing was checked."""


# Why a connection failed, in words, most specific first: (what to look for, the words).
_REASONS = (
    (
        (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "getaddrinfo failed",
            "failed to resolve",
        ),
        "the host name could not be resolved: no internet connection, or a wrong address",
    ),
    (
        ("connection refused", "actively refused"),
        "the connection was refused: nothing answers at that address",
    ),
    (
        ("network is unreachable", "no route to host", "host is unreachable"),
        "the network is unreachable: check the internet connection",
    ),
    (
        ("certificate", "ssl", "tls"),
        "the TLS connection failed: a proxy or a wrong clock can cause this",
    ),
    (
        ("proxy",),
        "the proxy could not be reached: check HTTPS_PROXY",
    ),
    (
        ("timed out", "timeout"),
        "no answer in time: it timed out",
    ),
    (
        (
            "connection reset",
            "connection aborted",
            "remote end closed",
            "disconnected",
            "without response",
            "broken pipe",
        ),
        "the connection was closed before an answer came",
    ),
)
# Class-name parts of the libraries' transport errors (urllib3, httpx, requests, ...).
_TRANSPORT_WORDS = (
    "Connect",
    "Timeout",
    "HTTP",
    "Protocol",
    "Transport",
    "Network",
    "Proxy",
    "SSL",
    "Retry",
    "Request",
)
# A message that shows library internals (class names, object reprs) is not shown as is.
_INTERNALS = re.compile(r"\b[A-Z]\w*(Error|Exception|Pool|Connection)\b|<[\w.]+ object at ")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, ``__context__``, urllib3's ``reason``)."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        for linked in (
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *current.args,
        ):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return seen


def _is_transport(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, OSError) or any(word in name for word in _TRANSPORT_WORDS)


def plain_reason(exc: BaseException) -> str:
    """Why a call failed, in words a user can act on. A connection failure is told without
    the libraries' class names; any other error is a bug to report, so it keeps its class."""
    chain = _chain(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not any(_is_transport(e) for e in chain):
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if any(isinstance(e, socket.gaierror) for e in chain):
        return _REASONS[0][1]
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return _REASONS[1][1]
    texts = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    for needles, words in _REASONS:
        if any(needle in texts for needle in needles):
            return words
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[:1].lower() + e.strerror[1:]
    if first and not _INTERNALS.search(first):
        return first
    return "the connection failed"
