"""The bridge in-process with no Plaid behind it (:class:`bridge_support.OfflineLink`): the
fixtures ``settings`` (the defaults, in the test's own state folder), ``app`` and ``client``
(a TestClient that fails the test on an exception the bridge's own handler let escape). Import
them by name."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from bridge_support import OfflineLink, authorize_query

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

JSON = {"Accept": "application/json"}


@pytest.fixture
def settings(home: object) -> Settings:
    return settings_module.load()


@pytest.fixture
def app(settings: Settings) -> Iterator[Starlette]:
    app = create_app(settings, link=OfflineLink(settings))
    yield app
    app.state.store.close()


@pytest.fixture
def client(app: Starlette) -> TestClient:
    return TestClient(app, raise_server_exceptions=True)


def new_session(client: TestClient, settings: Settings) -> str:
    """A new authorization session (GET / as JSON); its id."""
    started = client.get("/?" + authorize_query(settings), headers=JSON)
    assert started.status_code == 200, started.text
    return str(started.json()["session"])
