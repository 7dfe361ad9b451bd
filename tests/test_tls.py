"""The runbook's HTTP clients share one TLS context (issue 28: httpx built a new one, ~50 ms
of CPU, for every client and every httpx.get/post), and it still verifies certificates."""

from __future__ import annotations

import ssl

from kore_plaid_nb.tls import client_context


def test_one_context_that_verifies_certificates_and_names() -> None:
    context = client_context()
    assert client_context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 50  # a CA bundle is loaded
