"""Notebook 06 in the embedded mode: the stand-in Kore sends a shape other than the
simulator's default, and "What Kore sent" names every difference (issue 22)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from kore_plaid_nb import settings
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.kore_requests import latest_from_kore, recent_requests
from kore_plaid_nb.bridge.request_shapes import STANDIN_USER_AGENT
from kore_plaid_nb.kore import standin
from kore_plaid_nb.kore.behaviour import DEFAULT_BEHAVIOUR
from kore_plaid_nb.kore.procedure import KoreFlowError
from kore_plaid_nb.kore.standin import STANDIN_BEHAVIOUR, play_kore
from kore_plaid_nb.kore.what_kore_sent import WhatKoreSent
from kore_plaid_nb.runbook import steps
from kore_plaid_nb.verification import verify


@pytest.fixture
def bridge_url(embedded: settings.Settings) -> Iterator[str]:
    with running_bridge(embedded) as url:
        yield url


def test_the_standin_is_not_the_default_kore() -> None:
    assert STANDIN_BEHAVIOUR != DEFAULT_BEHAVIOUR


def test_the_standin_is_recorded_as_kore_and_what_kore_sent_flags_it(
    embedded: settings.Settings, bridge_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(embedded, url=bridge_url).ok  # verify's requests are not Kore's
    assert latest_from_kore(embedded) == (None, None)

    run = play_kore(embedded, bridge_url)

    assert run.token_status == 200
    authorize, token = latest_from_kore(embedded)
    assert authorize is not None and token is not None
    assert authorize.user_agent == token.user_agent == STANDIN_USER_AGENT
    assert (token.client_auth, token.content_type) == ("both", "application/json")
    assert not authorize.state and not authorize.pkce
    assert sum(s.user_agent == STANDIN_USER_AGENT for s in recent_requests(embedded)) == 2

    steps.what_kore_sent(embedded)
    out = capsys.readouterr().out
    differences = [line for line in out.splitlines() if line.startswith("Difference (")]
    assert [line.split(")")[0] for line in differences] == [
        "Difference (client credentials",
        "Difference (token request body",
        "Difference (state",
    ]
    assert "3 differences." in out
    assert WhatKoreSent(authorize, token).to_text() in out
    assert embedded.secret not in out


def test_a_standin_request_the_store_never_shows_says_what_to_do(
    embedded: settings.Settings, bridge_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = []

    def nothing_recorded(settings: settings.Settings) -> tuple[None, None]:
        asked.append(settings)
        return None, None

    monkeypatch.setattr(standin, "latest_from_kore", nothing_recorded)
    monkeypatch.setattr(standin, "RECORDED_WITHIN_SECONDS", 0.3)
    with pytest.raises(KoreFlowError) as caught:
        play_kore(embedded, bridge_url)
    assert "did not show its token request" in caught.value.message
    assert "kore-plaid status" in caught.value.fix and "log" in caught.value.fix
    assert len(asked) > 1  # polled, not asked once


def test_the_standin_waits_for_its_own_token_request_not_an_older_one(
    embedded: settings.Settings, bridge_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    play_kore(embedded, bridge_url)
    authorize, token = latest_from_kore(embedded)
    assert token is not None
    older = (authorize, dataclasses.replace(token, at=time.time() - 60))  # a past run's
    monkeypatch.setattr(standin, "latest_from_kore", lambda settings: older)
    monkeypatch.setattr(standin, "RECORDED_WITHIN_SECONDS", 0.3)
    with pytest.raises(KoreFlowError):
        play_kore(embedded, bridge_url)
