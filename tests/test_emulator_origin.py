"""The emulator's handlers get the request's origin as an argument (issue 21), not from a
context variable. (No import cycle, file or function too long: tests/test_structure.py.)"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import kore_plaid_nb.emulator as emulator_package
from kore_plaid_nb.emulator import endpoints
from kore_plaid_nb.emulator.core import Emulator
from kore_plaid_nb.emulator.store import Store
from kore_plaid_nb.settings import Settings

PACKAGE = "kore_plaid_nb.emulator"
ROOT = Path(emulator_package.__file__).resolve().parent
MODULES = sorted(
    ".".join((PACKAGE, *p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
    for p in ROOT.rglob("*.py")
)


def test_the_emulator_holds_no_context_variable() -> None:
    """The request's origin is an argument, not state set aside for the handler to find."""
    for name in MODULES:
        module = importlib.import_module(name)
        held = [k for k, v in vars(module).items() if isinstance(v, contextvars.ContextVar)]
        assert held == [], name


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    store = Store(tmp_path / "emulator.sqlite3")
    emulator = Emulator(Settings(), store, ())
    yield emulator
    emulator.webhooks.close()
    store.close()


def test_hosted_link_url_starts_with_the_origin_the_handler_is_given(emulator: Emulator) -> None:
    create = endpoints.ENDPOINTS["/link/token/create"]
    body: dict[str, object] = {
        "client_name": "Test",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "user-1"},
        "products": ["auth"],
    }
    plain = create(emulator, body, "http://emulator.example:8100")
    assert "hosted_link_url" not in plain
    hosted = create(emulator, {**body, "hosted_link": {}}, "http://emulator.example:8100")
    assert str(hosted["hosted_link_url"]).startswith("http://emulator.example:8100/hosted-link/")
    other = create(emulator, {**body, "hosted_link": {}}, "https://elsewhere.example")
    assert str(other["hosted_link_url"]).startswith("https://elsewhere.example/hosted-link/")


def test_every_endpoint_takes_the_origin_and_ignores_it_unless_it_needs_it(
    emulator: Emulator,
) -> None:
    categories = endpoints.ENDPOINTS["/categories/get"]
    assert categories(emulator, {}, "http://a") == categories(emulator, {}, "http://b")
    assert list(endpoints.ENDPOINTS)[0] == "/link/token/create"
    assert set(endpoints.HANDLERS) == set(endpoints.ENDPOINTS) - {"/link/token/create"}
