"""``kore-plaid verify`` end to end in embedded mode: emulator + bridge + Kore simulator.

It passes when everything is right, and each wrong setting makes it fail with the message
pointing at the procedure step to fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from verify_support import WRONG_SECRET, assert_nothing_secret, assert_rows_passed, verify

from kore_plaid_nb import cli, services, settings
from kore_plaid_nb.bridge import ensure_bridge, running_bridge, stop_bridge
from kore_plaid_nb.errors import SettingsError


def failed_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.search(r"\s+FAIL \(step ", line)]


def test_verify_passes_end_to_end(bridge_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(capsys, "--url", bridge_url)

    assert code == 0, out
    assert failed_rows(out) == []
    assert_rows_passed(
        out,
        (
            "Authorization URL -> Link session",
            "redirect to callback: code + unchanged state",
            "Token Request URL: form + Basic",
            "Token Request URL: Kore's JSON {code}",
            "Refresh Token URL: grant_type=refresh_token",
            "Plaid /accounts/balance/get",
            "Plaid /investments/holdings/get",
            "Plaid /investments/transactions/get",
            "Plaid /liabilities/get",
            "Plaid /auth/get",
            "Plaid /transactions/sync",
            "Plaid /identity/get",
        ),
    )
    assert f"All 19 checks passed against {bridge_url}" in out
    assert_nothing_secret(out)


def test_verify_finds_the_background_bridge_without_url(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record = ensure_bridge(embedded)
    try:
        code, out = verify(capsys)
    finally:
        stop_bridge(embedded)
    assert code == 0, out
    assert f"passed against {record.url}" in out


def test_the_cli_exits_non_zero_on_failure(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["verify", "--url", f"http://127.0.0.1:{services.free_port()}"]) == 1


def test_wrong_client_secret_points_at_steps_4_iii_iv(
    bridge_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The profile (and the headers) carry another secret than the bridge runs with.
    monkeypatch.setenv("PLAID_CLIENT_ID", settings.DEMO_CLIENT_ID)
    monkeypatch.setenv("PLAID_SECRET", WRONG_SECRET)
    code, out = verify(capsys, "--url", bridge_url)

    assert code == 1
    assert failed_rows(out), out
    assert "procedure step 4.iii-iv" in out
    assert "invalid client_id or secret" in out or "invalid_client" in out
    assert_nothing_secret(out)


def test_wrong_secret_in_env_points_at_steps_4_iii_iv(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # .env holds a wrong secret: the bridge itself cannot create Link tokens.
    wrong = embedded.with_values(plaid_client_id=settings.DEMO_CLIENT_ID, plaid_secret=WRONG_SECRET)
    with running_bridge(wrong) as url:
        code, out = verify(capsys, "--url", url)
    assert code == 1
    assert "Plaid refused the bridge's client id / secret" in out
    assert "procedure step 4.iii-iv" in out
    assert_nothing_secret(out)


def test_wrong_callback_points_at_steps_4_v_vi(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bridge was configured with another Kore callback than the profile shows.
    other = embedded.with_values(plaid_redirect_uri="https://idp.kore.com/workflows/callback")
    with running_bridge(other) as url:
        code, out = verify(capsys, "--url", url)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("Kore's callback"))
    assert "FAIL (step 4.v-vi)" in row
    assert "does not accept the callback https://idp.kore.ai/workflows/callback/" in out
    assert "PLAID_REDIRECT_URI" in out


def test_unregistered_simulator_callback_points_at_steps_4_v_vi(
    bridge_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KORE_SIMULATOR_PORT", str(services.free_port()))
    code, out = verify(capsys, "--url", bridge_url)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("Authorization URL ->"))
    assert "FAIL (step 4.v-vi)" in row


@pytest.mark.parametrize("tenant", ["production", "development", "sandbx"])
def test_wrong_tenant_points_at_step_6(
    bridge_url: str, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys, "--url", bridge_url, "--tenant", tenant)
    assert code == 1
    assert f"Tenant {tenant!r}" in out
    assert "procedure step 6" in out
    assert failed_rows(out) and all("FAIL (step 6)" in row for row in failed_rows(out))
    if tenant == "development":
        assert "decommissioned" in out
    # The OAuth part still passed: only the Plaid calls depend on the tenant.
    assert re.search(r"Refresh Token URL: grant_type=refresh_token\s+pass", out)


def test_a_mistyped_product_is_a_setting_error_at_step_4_x(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Named when the settings load (issue 29), before any Plaid call."""
    monkeypatch.setenv("PLAID_PRODUCTS", "auth,transactions,identity,investment,liabilities")
    with pytest.raises(SettingsError) as info:
        settings.load()
    assert "investment." in info.value.message and info.value.step == "4.x"
    assert "PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities" in info.value.fix


def test_missing_products_point_at_step_4_x(
    emulator_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PLAID_API_URL", emulator_url)
    monkeypatch.setenv("KORE_SIMULATOR_PORT", str(services.free_port()))
    monkeypatch.setenv("PLAID_PRODUCTS", "auth,transactions,identity")
    with running_bridge(settings.load()) as url:
        code, out = verify(capsys, "--url", url)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("PLAID_PRODUCTS covers"))
    assert "FAIL (step 4.x)" in row
    assert "PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities" in out


def test_bridge_down_points_at_steps_4_vii_x_and_5(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{services.free_port()}"
    code, out = verify(capsys, "--url", url)
    assert code == 1
    assert f"Nothing answers at {url}" in out
    row = next(line for line in out.splitlines() if line.startswith("bridge answers"))
    assert "FAIL (step 4.vii-x / 5)" in row
    assert all("4.vii-x / 5" in line for line in failed_rows(out))


def test_no_bridge_at_all_points_at_steps_4_vii_x_and_5(
    embedded: settings.Settings, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys)
    assert code == 1
    assert "No bridge is running" in out
    assert "procedure step 4.vii-x / 5" in out


def test_verify_goes_through_the_open_tunnel(
    bridge_url: str, embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.tunnel import close_tunnel, open_tunnel

    info = open_tunnel(embedded, port=int(bridge_url.rsplit(":", 1)[1]))
    try:
        code, out = verify(capsys)
    finally:
        close_tunnel(embedded)
    assert info.public_url.rstrip("/") != bridge_url
    assert code == 0, out
    assert f"passed against {info.public_url.rstrip('/')}" in out


def test_a_malformed_url_is_a_clear_error(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["verify", "--url", "bridge.example.com"]) == 2
    err = capsys.readouterr().err
    assert "--url 'bridge.example.com' is not an http(s) URL" in err
    assert "Traceback" not in err


def test_verify_plays_the_plainest_kore_and_says_who_it_is(
    embedded: settings.Settings, bridge_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kore_plaid_nb.bridge.kore_requests import latest_from_kore, recent_requests
    from kore_plaid_nb.bridge.request_shapes import VERIFY_USER_AGENT

    code, out = verify(capsys, "--url", bridge_url)

    assert code == 0, out
    assert re.search(r"^Authorization URL -> Link session \(state, no PKCE\)\s+pass", out, re.M)
    assert re.search(r"^Token Request URL: form \+ Basic \(authorization_code\)\s+pass", out, re.M)
    shapes = recent_requests(embedded)
    assert {shape.endpoint for shape in shapes} == {"authorize", "token"}
    assert {shape.user_agent for shape in shapes} == {VERIFY_USER_AGENT}
    assert latest_from_kore(embedded) == (None, None)  # verify's requests are not Kore's
    code_grants = [s for s in shapes if s.grant_type == "authorization_code"]
    assert code_grants and all(
        (s.client_auth, s.content_type, s.pkce)
        == ("basic", "application/x-www-form-urlencoded", False)
        for s in code_grants
    )
