"""Calls through plaid-python whose raw answers are checked against Plaid's pinned spec, and
the module fixtures of a test file that runs one emulator (``spec``, ``settings``, ``url``,
``client``: import them by name): shared by the emulator's conformance tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import plaid
import pytest
from http_support import TLS
from plaid.api import plaid_api
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_request import InstitutionsGetRequest
from plaid.model.institutions_get_request_options import InstitutionsGetRequestOptions
from plaid.model.plaid_error import PlaidError
from plaid_spec import Spec, load_spec

from kore_plaid_nb import plaid_client
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.settings import Settings


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("emulator-home"))


@pytest.fixture(scope="module")
def url(settings: Settings) -> Iterator[str]:
    with running_emulator(settings) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(settings: Settings, url: str) -> plaid_api.PlaidApi:
    return plaid_client.create(settings.with_values(plaid_api_url=url))


def call_ok(spec: Spec, client: plaid_api.PlaidApi, path: str, call: Callable[[], Any]) -> Any:
    """Call through plaid-python (deserializes, type-checks), then check the raw body."""
    model = call()
    raw = json.loads(client.api_client.last_response.data)
    spec.check(spec.success_schema(path), raw)
    assert len(raw["request_id"]) == 15 and raw["request_id"].isalnum()
    return model


def check_error_body(spec: Spec, client: plaid_api.PlaidApi, path: str, body: str) -> dict:
    parsed = json.loads(body)
    spec.check(spec.error_schema(path), parsed)
    spec.check("PlaidError", parsed)
    client.api_client.deserialize(SimpleNamespace(data=body), (PlaidError,), True)
    return parsed


def call_error(
    spec: Spec, client: plaid_api.PlaidApi, path: str, call: Callable[[], Any]
) -> tuple[int, dict]:
    with pytest.raises(plaid.ApiException) as caught:
        call()
    return caught.value.status, check_error_body(spec, client, path, caught.value.body)


def raw_post(url: str, settings: Settings, path: str, content: bytes | str, **headers: str):
    return httpx.post(
        url + path,
        verify=TLS,
        content=content,
        headers={
            "PLAID-CLIENT-ID": settings.client_id,
            "PLAID-SECRET": settings.secret,
            "Content-Type": "application/json",
            **headers,
        },
    )


def is_152_png(logo: str) -> bool:
    png = base64.b64decode(logo, validate=True)
    return png.startswith(b"\x89PNG\r\n\x1a\n") and png[16:24] == (152).to_bytes(4, "big") * 2


def institutions_get(
    spec: Spec,
    client: plaid_api.PlaidApi,
    count: int = 500,
    offset: int = 0,
    countries: tuple[str, ...] = ("US",),
    **options: Any,
) -> Any:
    """``/institutions/get`` through plaid-python, its raw answer checked against the spec."""
    return call_ok(
        spec,
        client,
        "/institutions/get",
        lambda: client.institutions_get(
            InstitutionsGetRequest(
                count=count,
                offset=offset,
                country_codes=[CountryCode(c) for c in countries],
                options=InstitutionsGetRequestOptions(**options),
            )
        ),
    )
