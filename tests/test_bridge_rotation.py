"""Rotating an Item's access token (Plaid's ``/item/access_token/invalidate``): the old token
stops working at Plaid, Kore's next refresh gets the new one from the bridge, the CLI shows it
masked, an unknown Item is a readable exit 2, a store write that fails after Plaid rotated
keeps the new token for a second run, two rotations at once cannot lose one, and Plaid
refusing the stored token shows in the Item's health. A real bridge on each store backend,
against the Plaid emulator."""

from __future__ import annotations

import json
import stat

import pytest
from bridge_support import Bridge
from plaid.model.accounts_get_request import AccountsGetRequest
from store_inspect import change, one

from kore_plaid_nb import cli, plaid_client
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import rotation
from kore_plaid_nb.bridge.items import list_items, rotate_access_token
from kore_plaid_nb.bridge.store import BridgeStore, StoreUnavailable, open_store
from kore_plaid_nb.emulator import faults
from kore_plaid_nb.errors import RunbookError

pytestmark = [
    pytest.mark.usefixtures("store_backend"),
    pytest.mark.backends("sqlite", "postgresql"),
]


@pytest.fixture
def cli_env(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kore-plaid`` in this process sees the bridge's emulator (settings come from env)."""
    monkeypatch.setenv("PLAID_API_URL", bridge.settings.plaid_api_url or "")


def plaid_answer(settings: settings_module.Settings, access_token: str) -> str:
    """What Plaid answers Kore's ``/accounts/get`` with this token: "ok" or the error code."""
    try:
        plaid_client.create(settings).accounts_get(AccountsGetRequest(access_token=access_token))
    except Exception as exc:
        return plaid_client.error_from_exception(exc).error_code
    return "ok"


def only_ref(settings: settings_module.Settings) -> str:
    [item] = list_items(settings, lookup=False)
    return item["item_ref"]


def test_kores_refresh_gets_the_rotated_token_and_the_old_one_stops_working(
    bridge: Bridge,
) -> None:
    old, refresh_token = bridge.authorize()
    assert plaid_answer(bridge.settings, old) == "ok"
    ref = only_ref(bridge.settings)

    entry = rotate_access_token(bridge.settings, ref)

    assert entry["item_ref"] == ref and entry["health"] == "healthy"
    assert plaid_answer(bridge.settings, old) == "INVALID_ACCESS_TOKEN"
    new = bridge.refreshed(refresh_token)
    assert new != old
    assert plaid_answer(bridge.settings, new) == "ok"
    assert entry["access_token"] == new[:4] + "…" + new[-4:]
    assert old not in json.dumps(entry) and new not in json.dumps(entry)


def test_the_cli_rotates_with_masked_output_and_json(
    bridge: Bridge, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    old, refresh_token = bridge.authorize()
    ref = only_ref(bridge.settings)

    assert cli.main(["items", "--rotate", ref]) == 0
    text = capsys.readouterr()
    middle = bridge.refreshed(refresh_token)
    assert f"Rotated the access token of Item {ref}" in text.out
    assert middle[:4] + "…" + middle[-4:] in text.out

    assert cli.main(["items", "--rotate", ref, "--json"]) == 0
    shown = capsys.readouterr()
    newest = bridge.refreshed(refresh_token)
    entry = json.loads(shown.out)
    assert isinstance(entry, dict) and entry["item_ref"] == ref
    assert entry["access_token"] == newest[:4] + "…" + newest[-4:]
    assert len({old, middle, newest}) == 3
    assert [plaid_answer(bridge.settings, t) for t in (old, middle, newest)] == [
        "INVALID_ACCESS_TOKEN",
        "INVALID_ACCESS_TOKEN",
        "ok",
    ]
    for token in (old, middle, newest):
        assert token not in text.out + text.err + shown.out + shown.err


def test_an_unknown_item_is_exit_2_with_a_readable_message(
    bridge: Bridge, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge.authorize()
    assert cli.main(["items", "--rotate", "itm_000000000000"]) == 2
    shown = capsys.readouterr()
    assert "No Item 'itm_000000000000'" in shown.err and "kore-plaid items" in shown.err
    assert "Traceback" not in shown.err and shown.out == ""
    pasted = "access-sandbox-" + "0" * 36  # an access token pasted by mistake is not echoed
    assert cli.main(["items", "--rotate", pasted]) == 2
    shown = capsys.readouterr()
    assert "No Item with the reference given" in shown.err and pasted not in shown.err


def test_a_removed_item_is_exit_2_with_a_readable_message(
    bridge: Bridge, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge.authorize()
    ref = only_ref(bridge.settings)
    store = open_store(bridge.settings.bridge_store, pool_size=1)
    try:
        [(row_id, _)] = store.live_items()
        store.mark_item_removed(row_id)
    finally:
        store.close()
    assert cli.main(["items", "--rotate", ref]) == 2
    assert f"Item {ref} was removed at Plaid" in capsys.readouterr().err


def test_a_failed_store_write_keeps_the_new_token_for_a_second_run(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, refresh_token = bridge.authorize()
    ref = only_ref(bridge.settings)
    monkeypatch.setattr(rotation, "STORE_RETRY_DELAYS", (0.0, 0.0))
    real_replace = BridgeStore.replace_access_token

    def down(*args: object) -> bool:
        raise StoreUnavailable("The bridge store cannot answer (test).")

    monkeypatch.setattr(BridgeStore, "replace_access_token", down)
    with pytest.raises(RunbookError) as failed:
        rotate_access_token(bridge.settings, ref)
    message = str(failed.value)
    pending = rotation.pending_path(bridge.settings, ref)
    assert "Plaid rotated the access token" in message and "only the new one" in message
    assert str(pending) in message and f"kore-plaid items --rotate {ref}" in message
    assert plaid_answer(bridge.settings, old) == "INVALID_ACCESS_TOKEN"
    assert bridge.refreshed(refresh_token) == old  # not stored yet: Kore still gets the old one
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    kept = json.loads(pending.read_text())["new_access_token"]
    assert kept not in message and old not in message

    monkeypatch.setattr(BridgeStore, "replace_access_token", real_replace)

    def second_rotation(*args: object) -> str:
        pytest.fail("the second run must store the kept token, not rotate again")

    monkeypatch.setattr(plaid_client, "invalidate_access_token", second_rotation)
    entry = rotate_access_token(bridge.settings, ref)

    assert not pending.exists()
    new = bridge.refreshed(refresh_token)
    assert new == kept and plaid_answer(bridge.settings, new) == "ok"
    assert entry["access_token"] == new[:4] + "…" + new[-4:]


def test_plaid_refusing_the_stored_token_shows_in_the_items_health(bridge: Bridge) -> None:
    old, _ = bridge.authorize()
    ref = only_ref(bridge.settings)
    plaid_client.invalidate_access_token(bridge.settings, old)  # rotated behind the bridge

    [item] = list_items(bridge.settings)  # the bridge's own /item/get sees Plaid's answer

    assert item["health"] == "INVALID_ACCESS_TOKEN"
    assert "--rotate" in item["health_detail"] and "authorize again" in item["health_detail"]
    with pytest.raises(RunbookError, match="no longer accepts the access token") as refused:
        rotate_access_token(bridge.settings, ref)
    assert "authorize again in Kore" in refused.value.fix


def test_of_two_rotations_at_once_the_stale_one_changes_nothing(bridge: Bridge) -> None:
    old, refresh_token = bridge.authorize()
    ref = only_ref(bridge.settings)
    store = open_store(bridge.settings.bridge_store, pool_size=1)
    try:
        [(row_id, _)] = store.live_items()
        store.record_item_health(old, "INVALID_ACCESS_TOKEN", "seen with the old token")
        assert store.replace_access_token(ref, old, "access-sandbox-first") is True
        assert store.replace_access_token(row_id, old, "access-sandbox-second") is False
        assert store.replace_access_token("itm_000000000000", "access-sandbox-first", "x") is False
        [item] = store.item_statuses()
        assert item.access_token == "access-sandbox-first"
        assert item.health == "healthy" and item.health_detail is None
        assert store.replace_access_token(row_id, "access-sandbox-first", "access-sandbox-3")
    finally:
        store.close()
    assert bridge.refreshed(refresh_token) == "access-sandbox-3"


def test_a_lost_answer_that_did_not_rotate_says_to_run_again(bridge: Bridge) -> None:
    old, refresh_token = bridge.authorize()
    ref = only_ref(bridge.settings)
    url = bridge.settings.plaid_api_url or ""
    faults.inject(url, "/item/access_token/invalidate", error_code="INTERNAL_SERVER_ERROR")
    with pytest.raises(RunbookError) as failed:
        rotate_access_token(bridge.settings, ref)
    assert "did not rotate it: the old token still works" in failed.value.message
    assert failed.value.fix == f"Run `kore-plaid items --rotate {ref}` again."
    assert plaid_answer(bridge.settings, old) == "ok" and bridge.refreshed(refresh_token) == old
    assert rotate_access_token(bridge.settings, ref)["health"] == "healthy"  # run again: done
    assert plaid_answer(bridge.settings, bridge.refreshed(refresh_token)) == "ok"


def test_a_lost_answer_after_plaid_rotated_says_the_user_must_authorize_again(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, _ = bridge.authorize()
    ref = only_ref(bridge.settings)
    real_invalidate = plaid_client.invalidate_access_token

    def answer_lost(*args: object, **kwargs: object) -> str:
        real_invalidate(*args, **kwargs)  # type: ignore[arg-type]
        raise TimeoutError("read timed out")

    monkeypatch.setattr(plaid_client, "invalidate_access_token", answer_lost)
    with pytest.raises(RunbookError) as failed:
        rotate_access_token(bridge.settings, ref)
    assert "Plaid did rotate it" in failed.value.message and "lost" in failed.value.message
    assert "authorize again in Kore" in failed.value.fix
    [item] = list_items(bridge.settings, lookup=False)
    assert item["health"] == "INVALID_ACCESS_TOKEN"
    assert plaid_answer(bridge.settings, old) == "INVALID_ACCESS_TOKEN"


def test_a_rotation_that_lost_the_race_at_plaid_says_nothing_is_lost(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, refresh_token = bridge.authorize()
    ref = only_ref(bridge.settings)
    real_invalidate = plaid_client.invalidate_access_token

    def other_run_first(settings: object, access_token: str, timeout: float = 30.0) -> str:
        monkeypatch.setattr(plaid_client, "invalidate_access_token", real_invalidate)
        rotate_access_token(bridge.settings, ref)  # a second `--rotate` that came first
        return real_invalidate(settings, access_token, timeout)  # type: ignore[arg-type]

    monkeypatch.setattr(plaid_client, "invalidate_access_token", other_run_first)
    with pytest.raises(RunbookError, match="Another rotation of Item .* came first") as lost:
        rotate_access_token(bridge.settings, ref)
    assert lost.value.fix.startswith("Nothing to do")
    [item] = list_items(bridge.settings, lookup=False)
    assert item["health"] == "healthy"
    new = bridge.refreshed(refresh_token)
    assert new != old and plaid_answer(bridge.settings, new) == "ok"


def test_rotating_an_item_that_needs_repair_mints_no_repair_link(bridge: Bridge) -> None:
    """The rotation's answer shows the Item, not a repair link nobody would see."""
    bridge.authorize()
    ref = only_ref(bridge.settings)
    change(bridge.settings, "UPDATE items SET health = ? WHERE public_ref = ?",
           ("PENDING_EXPIRATION", ref))  # fmt: skip

    entry = rotate_access_token(bridge.settings, ref)

    assert entry["health"] == "PENDING_EXPIRATION"
    assert entry["repair_url"] is None and entry["repair_link_sent_at"] is None
    assert one(bridge.settings, "SELECT COUNT(*) FROM repair_links") == 0
