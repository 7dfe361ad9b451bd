"""One TLS context for the tests' HTTP clients: httpx builds a new one for every ``Client``
and every ``httpx.get``/``post`` (certifi's CA bundle, ~50 ms of CPU), even when it only speaks
plain HTTP to 127.0.0.1, and the tests make over a thousand. ``verify=TLS`` shares this one,
which is the context httpx would have built."""

from __future__ import annotations

import httpx

TLS = httpx.create_ssl_context()
