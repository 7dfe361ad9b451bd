"""The emulator's handlers get the request's origin as an argument (issue 21), not from a
context variable. (No import cycle, file or function too long: tests/test_structure.py.)"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kore_plaid_nb.emulator as emulator_package
from kore_plaid_nb.emulator import endpoints
from kore_plaid_nb.emulator.core import Body, Emulator
from kore_plaid_nb.emulator.errors import PlaidAPIError
from kore_plaid_nb.emulator.store import Store
from kore_plaid_nb.settings import Settings

PACKAGE = "kore_plaid_nb.emulator"
ROOT = Path(emulator_package.__file__).resolve().parent
LINK_BODY: Body = {
    "client_name": "Test",
    "language": "en",
    "country_codes": ["US"],
    "user": {"client_user_id": "user-1"},
    "products": ["auth"],
}
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
    body = dict(LINK_BODY)
    plain = create(emulator, body, "http://emulator.example:8100")
    assert "hosted_link_url" not in plain
    hosted = create(emulator, {**body, "hosted_link": {}}, "http://emulator.example:8100")
    assert str(hosted["hosted_link_url"]).startswith("http://emulator.example:8100/hosted-link/")
    other = create(emulator, {**body, "hosted_link": {}}, "https://elsewhere.example")
    assert str(other["hosted_link_url"]).startswith("https://elsewhere.example/hosted-link/")


# Handlers whose answer is new each call (ids, tokens) or that change the Item: compared on
# the refusal of an empty body only.
CHANGING = frozenset(
    {
        "/sandbox/public_token/create",
        "/item/public_token/exchange",
        "/item/remove",
        "/transactions/refresh",
        "/item/access_token/invalidate",
        "/sandbox/item/reset_login",
        "/item/webhook/update",
        "/sandbox/item/fire_webhook",
    }
)

REFUSED = frozenset({"/webhook_verification_key/get"})  # no such key: compared on the refusal


def outcome(call: Callable[..., Body], *args: object) -> tuple[str, Body]:
    """The answer, or the refusal's body (with a fixed request id)."""
    try:
        return "answer", call(*args)
    except PlaidAPIError as refused:
        return "refusal", refused.body("request-id")


def read_only_bodies(emulator: Emulator) -> dict[str, Body]:
    """A body each read-only handler answers, for one Item with every product."""
    products = ["auth", "transactions", "identity", "investments", "liabilities"]
    create = endpoints.HANDLERS["/sandbox/public_token/create"]
    public = create(emulator, {"institution_id": "ins_109508", "initial_products": products})
    exchange = endpoints.HANDLERS["/item/public_token/exchange"]
    item = {"access_token": exchange(emulator, public)["access_token"]}
    dated = {**item, "start_date": "2024-01-01", "end_date": "2024-02-01"}
    link = endpoints.ENDPOINTS["/link/token/create"](emulator, dict(LINK_BODY), "http://a")
    us = {"country_codes": ["US"]}
    return {
        "/item/get": item,
        "/accounts/get": item,
        "/accounts/balance/get": item,
        "/auth/get": item,
        "/transactions/sync": item,
        "/identity/get": item,
        "/investments/holdings/get": item,
        "/investments/transactions/get": dated,
        "/liabilities/get": item,
        "/institutions/get_by_id": {"institution_id": "ins_109508", **us},
        "/institutions/get": {"count": 2, "offset": 0, **us},
        "/institutions/search": {"query": "Platypus", **us},
        "/categories/get": {},
        "/transactions/get": dated,
        "/link/token/get": {"link_token": link["link_token"]},
        "/webhook_verification_key/get": {"key_id": "no-such-key"},
    }


def test_every_endpoint_takes_the_origin_and_ignores_it_unless_it_needs_it(
    emulator: Emulator,
) -> None:
    """Through ``ENDPOINTS``, with any origin, each handler answers what it answers alone."""
    assert set(endpoints.HANDLERS) == set(endpoints.ENDPOINTS) - {"/link/token/create"}
    bodies = read_only_bodies(emulator)
    assert set(bodies) | CHANGING == set(endpoints.HANDLERS)
    for path, handler in endpoints.HANDLERS.items():
        body = bodies.get(path, {})
        alone = outcome(handler, emulator, dict(body))
        assert alone[0] == ("refusal" if path in CHANGING | REFUSED else "answer"), (path, alone)
        for origin in ("http://a", "https://elsewhere.example:8443"):
            through = outcome(endpoints.ENDPOINTS[path], emulator, dict(body), origin)
            assert through == alone, path
