"""Plaid failures are caught precisely (issue 21, item 4): only what Plaid or the network
raised (``plaid_client.PLAID_FAILURES``) is retried and explained as a Plaid failure; a
programming error propagates as itself, is not retried, is never told as "could not reach
Plaid", and leaves the user's public token unspent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bridge_support import sandbox_public_token

from kore_plaid_nb import plaid_client, services
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge.plaid_link import LinkStepError, PlaidLink, RetryPolicy
from kore_plaid_nb.errors import PlaidUnreachable, RunbookError
from kore_plaid_nb.plaid_errors import ADVICE, Advice, Caller, PlaidProblem

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.001, max_delay=0.001)


def counting(
    target: Callable[..., Any], fail: Callable[[str], bool]
) -> tuple[Callable[..., Any], list[str]]:
    """``target`` wrapped: records each call's operation; raises TypeError when ``fail`` says."""
    calls: list[str] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        operation = args[1] if len(args) > 1 and isinstance(args[1], str) else target.__name__
        calls.append(operation)
        if fail(operation):
            raise TypeError("a bug in the bridge's own code")
        return target(*args, **kwargs)

    return wrapped, calls


def closed_plaid(embedded: settings_module.Settings) -> settings_module.Settings:
    return embedded.with_values(plaid_api_url=f"http://127.0.0.1:{services.free_port()}")


def test_plaid_failures_hold_plaid_and_transport_errors_only() -> None:
    import plaid
    import urllib3

    failures = plaid_client.PLAID_FAILURES
    assert issubclass(plaid.ApiException, failures)
    assert issubclass(urllib3.exceptions.HTTPError, failures) and issubclass(OSError, failures)
    for bug in (TypeError, ValueError, KeyError, AttributeError, RuntimeError):
        assert not issubclass(bug, failures), bug
    # plaid-python's own argument checks: our bug, not Plaid's refusal
    for bug in (plaid.ApiTypeError, plaid.ApiValueError, plaid.ApiAttributeError):
        assert not issubclass(bug, failures), bug
    with pytest.raises(TypeError):
        plaid_client.error_from_exception(TypeError("not a Plaid failure"))
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    assert plaid_client.error_from_exception(refused).error_type == "CONNECTION_ERROR"


def test_a_bug_in_the_exchange_is_not_retried_and_leaves_the_public_token_unspent(
    embedded: settings_module.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = PlaidLink(embedded, FAST_RETRY)
    token = sandbox_public_token(embedded)
    real_call_json = plaid_client.call_json
    buggy, calls = counting(real_call_json, lambda op: op == "item_public_token_exchange")
    monkeypatch.setattr(plaid_client, "call_json", buggy)
    with pytest.raises(TypeError, match="a bug in the bridge's own code"):
        link.exchange(token, "session-1")
    assert calls == ["item_public_token_exchange"]  # once: not retried
    assert not link.spent.is_public_token_spent(token)
    monkeypatch.setattr(plaid_client, "call_json", real_call_json)
    item = link.exchange(token, "session-1")  # the user's login was not lost
    assert item.access_token.startswith("access-sandbox-")


def test_a_bug_creating_the_link_token_is_not_retried_nor_told_as_plaid_unreachable(
    embedded: settings_module.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = PlaidLink(embedded, FAST_RETRY)
    buggy, calls = counting(plaid_client.link_token_answer, lambda _: True)
    monkeypatch.setattr(plaid_client, "link_token_answer", buggy)
    with pytest.raises(TypeError) as raised:
        link.create_link_token("session-1")
    assert len(calls) == 1
    assert not isinstance(raised.value, LinkStepError)
    assert "could not reach Plaid" not in str(raised.value)


def test_a_refused_connection_is_still_retried_and_explained(
    embedded: settings_module.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = PlaidLink(closed_plaid(embedded), FAST_RETRY)
    counted, calls = counting(plaid_client.link_token_answer, lambda _: False)
    monkeypatch.setattr(plaid_client, "link_token_answer", counted)
    with pytest.raises(LinkStepError) as refused:
        link.create_link_token("session-1")
    assert len(calls) == FAST_RETRY.attempts
    assert refused.value.status == 502 and refused.value.step == "4.vii-x"
    assert "could not reach Plaid" in refused.value.message


def test_a_refused_connection_during_the_exchange_spends_the_public_token(
    embedded: settings_module.Settings,
) -> None:
    token = sandbox_public_token(embedded)
    link = PlaidLink(closed_plaid(embedded), FAST_RETRY)
    with pytest.raises(LinkStepError) as lost:
        link.exchange(token, "session-1")
    assert lost.value.status == 502 and "could not reach Plaid" in lost.value.message
    assert link.spent.is_public_token_spent(token)  # ambiguous: never sent again


def test_a_bug_in_a_notebook_step_is_not_told_as_plaid_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kore_plaid_nb.runbook import steps

    def buggy(*_: object, **__: object) -> str:
        raise TypeError("a bug in the runbook's own code")

    monkeypatch.setattr(plaid_client, "create_link_token", buggy)
    live = settings_module.load({"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "s" * 20})
    with pytest.raises(RunbookError) as info:
        steps.check_plaid_keys(live)
    assert not isinstance(info.value, PlaidUnreachable)
    assert "could not be reached" not in str(info.value)
    assert "TypeError: a bug in the runbook's own code" in info.value.message


def test_a_bug_checking_the_redirect_uri_propagates(
    embedded: settings_module.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb.verification import check_redirect_uri_registered

    buggy, calls = counting(plaid_client.create_link_token, lambda _: True)
    monkeypatch.setattr(plaid_client, "create_link_token", buggy)
    with pytest.raises(TypeError):
        check_redirect_uri_registered(embedded, "http://127.0.0.1:9/cb")
    assert len(calls) == 1


def test_an_unreadable_answer_is_a_plaid_failure_not_a_bug() -> None:
    """A 2xx answer that is not JSON (a captive portal, a proxy) is Plaid's failure."""
    from types import SimpleNamespace

    class Answer:
        status = 200
        data = b"<html>Sign in to the Wi-Fi</html>"

        def release_conn(self) -> None:
            pass

    endpoint = {"endpoint_path": "/item/get", "http_method": "POST", "auth": []}
    api = SimpleNamespace(
        item_get_endpoint=SimpleNamespace(settings=endpoint),
        api_client=SimpleNamespace(call_api=lambda *a, **k: Answer()),
    )
    with pytest.raises(plaid_client.PLAID_FAILURES) as raised:
        plaid_client.call_json(api, "item_get", {})  # type: ignore[arg-type]
    error = plaid_client.error_from_exception(raised.value)
    assert error.status == 0 and "not JSON" in error.error_message


def test_the_runbook_the_bridge_and_kore_explain_from_one_table(
    embedded: settings_module.Settings,
) -> None:
    import json

    import plaid

    from kore_plaid_nb.bridge import plaid_link
    from kore_plaid_nb.kore import diagnosis
    from kore_plaid_nb.plaid_errors import KEYS_ADVICE

    refusal = plaid.ApiException(status=400, reason="Bad Request")
    refusal.body = json.dumps(
        {"error_type": "INVALID_INPUT", "error_code": "INVALID_API_KEYS", "error_message": "x"}
    )
    runbook = plaid_client.explain(plaid_client.error_from_exception(refusal))
    bridge = plaid_link.explain(refusal, embedded, "creating the Link token")
    kore = diagnosis.plaid_error("INVALID_API_KEYS", "INVALID_API_KEYS: x", "Kore's call")
    for told in (runbook, bridge, kore):
        assert told.fix.startswith(KEYS_ADVICE), told.fix
        assert told.step is not None and told.step.startswith("4.iii-iv")
    assert bridge.status == 502 and "client id / secret" in bridge.message
    assert kore.step == "4.iii-iv / 9"  # Kore's actions also send the keys as headers


# What each call site fills (the note above plaid_errors.ADVICE): (message's, fix's) fields.
UNREACHED = (PlaidProblem.UNREACHABLE, PlaidProblem.EMULATOR_UNREACHABLE)
BRIDGE_FIELDS = {"code", "error_type", "message"}
KORE_FIELDS = {"where", "detail", "linked_without"}


def fields_filled(problem: PlaidProblem, caller: Caller) -> tuple[set[str], set[str]]:
    if caller is Caller.RUNBOOK:  # plaid_client.explain: a fix without fields but one
        return ({"at", "reason"}, {"host"}) if problem in UNREACHED else ({"error"}, set())
    if caller is Caller.BRIDGE:  # plaid_link._told; item_gone() names no call nor host
        if problem is PlaidProblem.ITEM_GONE:
            return BRIDGE_FIELDS, BRIDGE_FIELDS
        called = BRIDGE_FIELDS | {"during", "host", "redirect_uri"}
        return called, called
    return KORE_FIELDS, set()  # diagnosis.plaid_error: a fix without fields


ROWS = [
    pytest.param(problem, caller, said, id=f"{problem.name}-{caller.name}")
    for problem, row in ADVICE.items()
    for caller, said in row.items()
]


@pytest.mark.parametrize(("problem", "caller", "said"), ROWS)
def test_every_advice_row_renders_with_the_fields_its_caller_fills(
    problem: PlaidProblem, caller: Caller, said: Advice
) -> None:
    """A misspelt ``$field`` would be a KeyError (in the bridge: a 500) only when Plaid sends
    that rare error: every row is rendered here with exactly what its call site passes."""
    message_fields, fix_fields = fields_filled(problem, caller)
    message = said.says(**{name: f"<{name}>" for name in message_fields})
    fix = said.advises(**{name: f"<{name}>" for name in fix_fields})
    assert message and fix and "$" not in message + fix, (message, fix)


def test_every_caller_has_an_other_row_to_fall_back_on() -> None:
    from kore_plaid_nb.kore import diagnosis

    for caller in Caller:
        assert caller in ADVICE[PlaidProblem.OTHER], caller
    # Kore has no LINK_SESSION row: its OTHER row, and the bridge's step unless one of the
    # simulator's calls as Kore's actions make them failed.
    told = diagnosis.plaid_error("INVALID_LINK_TOKEN", "INVALID_LINK_TOKEN: x", "Kore")
    assert told.message == "Kore failed: INVALID_LINK_TOKEN: x" and told.step == "4.vii-x / 5"
    told = diagnosis.plaid_error("INVALID_LINK_TOKEN", "x", "Kore", 400, from_action=True)
    assert told.step == "6 / 8 / 9"
    told = diagnosis.plaid_error("PRODUCT_NOT_READY", "x", "Kore", 400, True, "investments")
    assert told.message == "Kore failed with x: the Item was linked without 'investments'."
