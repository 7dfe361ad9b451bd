"""One TLS context per process for the runbook's HTTP clients.

httpx builds a new one for every ``Client`` and every ``httpx.get``/``post`` (certifi's CA
bundle read and parsed: ~50 ms of CPU), even for ``http://127.0.0.1``. The context httpx
would build (same CA bundle, same ``SSL_CERT_FILE``/``SSL_CERT_DIR`` rules) is built once here
and passed as ``verify=``; an ``SSLContext`` may serve many clients and threads.
"""

from __future__ import annotations

import ssl
from functools import lru_cache


@lru_cache(maxsize=1)
def client_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()
