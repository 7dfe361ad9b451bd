"""Reading a request's JSON body as Plaid does: a JSON object of bounded size and depth, in
valid Unicode. Anything else is a Plaid ``INVALID_REQUEST`` error (413 when too large)."""

from __future__ import annotations

import json
import logging
import math
import re

from starlette.requests import ClientDisconnect, Request

from .errors import PlaidAPIError

log = logging.getLogger("kore_plaid_nb.emulator")

MAX_BODY_BYTES = 1 << 20  # Plaid's requests are a few KB
MAX_DEPTH = 32  # Plaid's bodies nest 3 or 4 levels
_SURROGATE = re.compile("[\ud800-\udfff]")
_CLOSE = {"Connection": "close"}  # the rest of an oversized body is not read


def too_large() -> PlaidAPIError:
    return PlaidAPIError(
        "INVALID_BODY",
        f"body is larger than {MAX_BODY_BYTES} bytes (1 MiB); Plaid requests are small: "
        "send only the documented fields",
        status=413,
        headers=_CLOSE,
    )


def invalid(why: str) -> PlaidAPIError:
    return PlaidAPIError("INVALID_BODY", f"body could not be parsed as JSON: {why}")


async def read_bytes(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing more than ``limit`` bytes (413) without reading past it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise PlaidAPIError("INVALID_HEADERS", "Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        log.warning(
            "emulator: %s %s: the client closed the connection after %d of %s body bytes",
            request.method, request.url.path, size, declared or "?",
        )  # fmt: skip
        raise invalid("the client closed the connection before the end of the body") from None
    return b"".join(chunks)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _no_constant(text: str) -> None:
    raise ValueError(text)


def check_values(value: object) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings (keys too) that hold a lone
    UTF-16 surrogate (``"\\ud800"``): no valid UTF-8 text can carry one."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise PlaidAPIError(
                    "INVALID_BODY",
                    "body contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is "
                    "not valid Unicode; send UTF-8 text",
                )
            continue
        if isinstance(item, dict | list) and depth >= MAX_DEPTH:
            raise invalid(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def parse(raw: bytes) -> dict[str, object]:
    """The JSON object in ``raw`` (an empty body counts as ``{}``)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise invalid(f"it is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        raise PlaidAPIError("INVALID_BODY", "body could not be parsed as JSON") from None
    if not isinstance(body, dict):
        raise PlaidAPIError("INVALID_BODY", "body must be a JSON object")
    check_values(body)
    return body


async def read_json(request: Request) -> dict[str, object]:
    """The request's JSON object, checked as described in this module."""
    return parse(await read_bytes(request))
