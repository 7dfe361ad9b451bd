"""A burst of equal request shapes is one row (issue 28): a run of consecutive shapes of one
batch, equal but for ``at`` and in the same whole second, is stored once with its count
(``"repeats"``), and listed as before: as many entries, in the same order, the same JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from store_inspect import change, rows

from kore_plaid_nb import cli
from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import request_recorder
from kore_plaid_nb.bridge.kore_requests import recent_requests
from kore_plaid_nb.bridge.request_recorder import RequestRecorder
from kore_plaid_nb.bridge.request_shapes import (
    KEPT_SHAPES,
    VERIFY_USER_AGENT,
    RequestShape,
    kept_header_names,
    kept_param_names,
    shape_of,
)
from kore_plaid_nb.bridge.store import BridgeStore, open_store
from kore_plaid_nb.bridge.store.kore_requests import TRIM_EVERY, runs
from kore_plaid_nb.settings import Settings

SECOND = 1_800_000_000  # a whole second; shapes of one burst are within it


def refresh(at: float, user_agent: str = "Kore/1.0", status: int = 200) -> RequestShape:
    """A refresh grant's shape, as Kore sends them one after the other."""
    return shape_of(
        "token", params=[("grant_type", "refresh_token"), ("refresh_token", "v")],
        header_names=["host", "authorization", "content-type", "content-length"],
        authorizations=["Basic eA=="], content_type="application/x-www-form-urlencoded",
        user_agent=user_agent, callbacks=[], status=status, at=at,
    )  # fmt: skip


def burst(count: int, second: int = SECOND, **kwargs: Any) -> list[RequestShape]:
    """``count`` equal shapes, oldest first, spread within ``second``."""
    return [refresh(second + n / (count + 1), **kwargs) for n in range(count)]


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``kore-plaid kore-requests --json``'s requests."""
    capsys.readouterr()
    assert cli.main(["kore-requests", "--json"]) == 0
    return list(json.loads(capsys.readouterr().out)["requests"])


def as_listed(shapes: Sequence[RequestShape]) -> list[dict[str, object]]:
    """What the listing showed with one row per request: newest first, each its own."""
    return [shape.as_json() for shape in reversed(shapes)][:KEPT_SHAPES]


def stored_rows(settings: Settings) -> int:
    return int(rows(settings, "SELECT COUNT(*) FROM kore_requests")[0][0])


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    if "store_backend" in request.fixturenames:  # BRIDGE_DB set first
        request.getfixturevalue("store_backend")
    return settings_module.load()


@pytest.fixture
def store(settings: Settings) -> Iterator[BridgeStore]:
    with open_store(settings.bridge_store) as opened:
        yield opened


def record(store: BridgeStore, *batches: list[RequestShape]) -> list[RequestShape]:
    """Store each batch as the recorder would; every shape, oldest first."""
    for batch in batches:
        store.record_requests(batch)
    return [shape for batch in batches for shape in batch]


# -- a run is one row, listed as that many entries


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_burst_in_one_second_is_one_row_listed_as_many_entries(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = record(store, burst(150))
    assert stored_rows(settings) == 1
    (stored,) = rows(settings, "SELECT at, shape FROM kore_requests")
    assert stored[0] == sent[-1].at  # the newest's time
    assert json.loads(stored[1])["repeats"] == 150
    assert listed(capsys) == as_listed(sent)
    assert len(store.recent_requests()) == 150
    assert store.recent_requests(limit=3) == [sent[-1]] * 3


def test_a_different_field_breaks_the_run(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    at = [SECOND + n / 10 for n in range(7)]
    sent = record(
        store,
        [refresh(at[0]), refresh(at[1]), refresh(at[2], status=400), refresh(at[3], status=400)]
        + [refresh(at[4]), refresh(at[5], user_agent="Kore/2.0"), refresh(at[6])],
    )
    assert stored_rows(settings) == 5
    assert listed(capsys) == as_listed(sent)


def test_a_different_second_breaks_the_run(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = record(store, burst(3) + burst(4, SECOND + 1) + burst(2, SECOND + 3))
    assert stored_rows(settings) == 3
    assert listed(capsys) == as_listed(sent)
    seconds = [entry["at"][-4:] for entry in listed(capsys)]
    assert seconds == [":03Z"] * 2 + [":01Z"] * 4 + [":00Z"] * 3


def test_batches_are_runs_of_their_own(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first = burst(10)
    sent = record(store, first[:4], first[4:])  # two writes of one second's burst
    assert stored_rows(settings) == 2
    assert listed(capsys) == as_listed(sent)


def test_interleaved_origins_keep_their_order(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    agents = ["Kore/1.0", VERIFY_USER_AGENT, "Kore/1.0", "Kore/1.0"]
    agents += [VERIFY_USER_AGENT, VERIFY_USER_AGENT, "Kore/1.0"]
    sent = record(store, [refresh(SECOND + n / 10, agent) for n, agent in enumerate(agents)])
    origins = rows(settings, "SELECT origin, shape FROM kore_requests ORDER BY id")
    assert [(origin, json.loads(shape).get("repeats", 1)) for origin, shape in origins] == [
        ("kore", 1), ("verify", 1), ("kore", 2), ("verify", 2), ("kore", 1),
    ]  # fmt: skip
    assert listed(capsys) == as_listed(sent)
    kore_only = recent_requests(settings, kore_only=True)
    assert [shape.user_agent for shape in kore_only] == ["Kore/1.0"] * 4


def test_each_field_but_at_breaks_the_run() -> None:
    one = refresh(SECOND + 0.1)
    other: dict[str, object] = {
        "endpoint": "authorize", "grant_type": "password", "client_auth": "body",
        "content_type": "application/json", "params": ("code",), "headers": ("host",),
        "state": True, "pkce": True, "scope": True, "redirect_uri_matches": False,
        "user_agent": "Kore/2.0", "status": 400,
    }  # fmt: skip
    names = [field.name for field in dataclasses.fields(RequestShape) if field.name != "at"]
    assert sorted(names) == sorted(other)  # a new field needs a value here, and a comparison
    later = dataclasses.replace(one, at=SECOND + 0.2)
    assert one.same_but_at(later) and runs([one, later]) == [(later, 2)]
    for name, value in other.items():
        changed = dataclasses.replace(later, **{name: value})
        assert not one.same_but_at(changed), name
        assert runs([one, changed]) == [(one, 1), (changed, 1)], name


# -- the newest KEPT_SHAPES rows hold at least KEPT_SHAPES shapes


@pytest.mark.usefixtures("store_backend")
@pytest.mark.backends("sqlite", "postgresql")
def test_trimmed_rows_still_list_the_newest_shapes(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    batches = [burst(1 + n % 4, SECOND + n, user_agent=f"ua-{n}") for n in range(300)]
    sent = record(store, *batches)  # 300 rows, 750 shapes
    kept = stored_rows(settings)
    assert KEPT_SHAPES <= kept < KEPT_SHAPES + TRIM_EVERY
    assert listed(capsys) == as_listed(sent)  # the newest 200, in order
    assert store.recent_requests(limit=5) == [sent[-1]] * 4 + [sent[-5]]  # runs of 4, 3


# -- rows as an older bridge wrote them, and as an older bridge reads ours


def test_a_row_without_repeats_still_reads(
    store: BridgeStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    old = refresh(SECOND + 0.5)
    record_text = json.dumps(old.as_json() | {"at": old.at})  # today's record, key for key
    change(
        settings,
        "INSERT INTO kore_requests (at, endpoint, origin, shape) VALUES (?, ?, ?, ?)",
        (old.at, old.endpoint, "kore", record_text),
    )
    new = record(store, burst(2, SECOND + 1))
    assert listed(capsys) == as_listed([old, *new])
    assert RequestShape.repeated_from_record(record_text) == (old, 1)


def test_an_older_bridge_reads_a_run_as_one_request() -> None:
    shape = refresh(SECOND + 0.5)
    assert RequestShape.from_record(shape.to_record(3)) == shape
    assert json.loads(shape.to_record(3))["repeats"] == 3
    assert "repeats" not in json.loads(shape.to_record())  # one request: today's record


# -- through the recorder: a burst costs a row or two, not one per request


def test_the_recorder_stores_a_burst_in_fewer_rows_than_requests(
    store: BridgeStore,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(request_recorder, "LINGER_SECONDS", 0.5)  # busy: the rest wait
    recorder = RequestRecorder(store)
    sent = burst(60)
    for shape in sent:
        recorder.submit(shape)
    assert recorder.flush(5.0)
    assert stored_rows(settings) <= 2  # the first at once (idle), the others in one batch
    assert listed(capsys) == as_listed(sent)


# -- the names of a request: kept per list of names sent


def test_the_names_sent_are_sorted_once_per_list() -> None:
    sent = ["refresh_token", "grant_type", "0123456789abcdef0123", "grant_type"]
    assert kept_param_names(tuple(sent)) == ("(other)", "grant_type", "refresh_token")
    assert kept_param_names(tuple(sent)) is kept_param_names(tuple(sent))  # kept once
    headers = ("Host", "X-Kore-Id", "host")
    assert kept_header_names(headers) == ("host", "x-kore-id")
    assert kept_header_names(headers) is kept_header_names(tuple(headers))
    many = tuple(f"p{n}" for n in range(60))  # beyond MAX_NAMES: not kept, still cut
    assert len(kept_param_names(many)) == 40
    assert kept_param_names(many) is not kept_param_names(many)
