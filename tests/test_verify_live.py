"""Live-mode helpers, offline twins: Kore's token call seen in the bridge's store, and the
dashboard's allowed redirect URIs checked through /link/token/create (the emulator plays
Plaid's dashboard list)."""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from kore_plaid_nb import settings
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.errors import RunbookError
from kore_plaid_nb.kore.simulator import KoreSimulator
from kore_plaid_nb.verification.live import check_redirect_uri_registered, wait_for_kore_token


def kore_authorizes(s: settings.Settings, bridge_url: str, exchange: bool = True) -> None:
    """What real Kore does after *Authorize*: its own callback, then the Token Request URL."""
    with KoreSimulator(s, bridge_url, callback=s.plaid_redirect_uri) as kore:
        request = kore.authorization_request(use_pkce=False)
        link = kore.complete_link(kore.get_link_token(request), kore.create_public_token())
        code = parse_qs(urlsplit(link.redirect_to).query)["code"][0]
        if exchange:
            kore.exchange_code_form_basic(request, code)


def test_kore_token_call_is_seen_masked(embedded: settings.Settings) -> None:
    since = time.time()
    with running_bridge(embedded) as url:
        kore_authorizes(embedded, url)
        seen = wait_for_kore_token(embedded, since, timeout=5, poll=0.05)
    assert seen.authorization["redirect_uri"] == embedded.plaid_redirect_uri
    assert seen.authorization["status"] == "active"
    assert "…" in seen.authorization["access_token"]
    assert "access-sandbox-" not in str(seen)


def test_no_authorization_times_out_with_the_steps_to_check(embedded: settings.Settings) -> None:
    with pytest.raises(RunbookError) as caught:
        wait_for_kore_token(embedded, time.time(), timeout=0.2, poll=0.05)
    assert caught.value.step == "5 / 11-12"
    assert "No authorization reached the bridge within 0 s" in caught.value.message


def test_a_code_never_exchanged_points_at_the_token_url(embedded: settings.Settings) -> None:
    since = time.time()
    with running_bridge(embedded) as url:
        kore_authorizes(embedded, url, exchange=False)
        with pytest.raises(RunbookError) as caught:
            wait_for_kore_token(embedded, since, timeout=0.3, poll=0.05)
    assert caught.value.step == "7 / 4.iii-iv"
    assert "Token Request URL" in caught.value.fix


def test_the_simulator_does_not_count_as_kore(embedded: settings.Settings) -> None:
    since = time.time()
    with running_bridge(embedded) as url, KoreSimulator(embedded, url) as sim:
        request, code = sim.authorize()
        sim.exchange_code_form_basic(request, code)
        with pytest.raises(RunbookError):
            wait_for_kore_token(embedded, since, timeout=0.2, poll=0.05)


def test_registered_redirect_uri_passes(embedded: settings.Settings) -> None:
    checks = check_redirect_uri_registered(embedded)
    assert [c.redirect_uri for c in checks] == [embedded.plaid_redirect_uri]
    assert all(c.registered for c in checks)


def test_unregistered_redirect_uri_names_steps_4_v_vi(embedded: settings.Settings) -> None:
    uri = "https://idp.example.com/workflows/callback"
    with pytest.raises(RunbookError) as caught:
        check_redirect_uri_registered(embedded, redirect_uri=uri)
    assert caught.value.step == "4.v-vi"
    assert uri in caught.value.message and uri in caught.value.fix


@pytest.mark.live
@pytest.mark.skipif(
    not (os.environ.get("LIVE_PLAID_CLIENT_ID") and os.environ.get("LIVE_PLAID_SECRET")),
    reason="needs real Plaid sandbox keys in LIVE_PLAID_CLIENT_ID / LIVE_PLAID_SECRET and the "
    "internet; test_registered_redirect_uri_passes is its offline twin",
)
def test_real_plaid_checks_the_dashboard_list() -> None:
    live = settings.Settings(
        plaid_client_id=os.environ["LIVE_PLAID_CLIENT_ID"],
        plaid_secret=os.environ["LIVE_PLAID_SECRET"],
    )
    with pytest.raises(RunbookError) as caught:
        check_redirect_uri_registered(live, "https://unregistered.invalid/kore/callback")
    assert caught.value.step == "4.v-vi"
