"""Fuzzing (issue 8): schemathesis generates requests from the bridge's and the emulator's
OpenAPI descriptions, valid and invalid ones; no answer is a 5xx and every answer matches
its own description (status, content type, body schema, required headers).

Both apps run in-thread on ephemeral ports and are called over real HTTP. The generation is
derandomized (the same requests each run, so CI is stable); set ``HARNESS_FUZZ_SEED`` to
explore other ones and ``HARNESS_FUZZ_EXAMPLES`` to change the number of requests.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kore_plaid_nb import settings as settings_module
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.emulator import running_emulator

ROOT = Path(__file__).resolve().parents[1]
BRIDGE_SPEC = ROOT / "kore_plaid_nb" / "bridge" / "openapi.yaml"
EMULATOR_SPEC = ROOT / "tests" / "openapi" / "emulator.yaml"
EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "1000"))
MINIMUM_REQUESTS = min(1000, EXAMPLES)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def rejects_invalid_data(ctx, response, case):
    """schemathesis's negative_data_rejection, knowing that the Authorization URL rejects a
    bad request by redirecting to the callback with ``error=`` (RFC 6749 4.1.2.1)."""
    location = response.headers.get("location") or [""]
    if response.status_code == 302 and "error=" in location[0]:
        return True
    return negative_data_rejection(ctx, response, case)


NEGATIVE_CHECKS = [*CHECKS, rejects_invalid_data]

pytestmark = pytest.mark.timeout(180)


def load(path: Path) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_dict(yaml.safe_load(path.read_text()))


def fuzz(strategy: st.SearchStrategy, base_url: str, headers: dict[str, str]) -> list[str]:
    """Send ``EXAMPLES`` generated requests; returns one line per request sent."""
    sent: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize="HARNESS_FUZZ_SEED" not in os.environ,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(data=strategy)
    def one_request(data) -> None:
        case, extra_headers = data
        response = case.call(
            base_url=base_url, session=session, headers={**headers, **extra_headers}, timeout=30
        )
        sent.append(f"{case.method} {case.path} -> {response.status_code}")
        negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
        case.validate_response(
            response,
            checks=NEGATIVE_CHECKS if negative else CHECKS,
            headers={**headers, **extra_headers},
        )

    if "HARNESS_FUZZ_SEED" in os.environ:
        one_request = seed(int(os.environ["HARNESS_FUZZ_SEED"]))(one_request)
    try:
        one_request()
    finally:
        session.close()
    return sent


def cases(schema, modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE), **fixed):
    """One strategy per operation and generation mode (schemathesis's own generators)."""
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            strategies.append(operation.as_strategy(generation_mode=mode, **fixed))
    return strategies


@pytest.fixture
def emulator_url(tmp_path: Path) -> Iterator[str]:
    with running_emulator(settings_module.load(), state_path=tmp_path / "emu.sqlite3") as url:
        yield url


@pytest.mark.usefixtures("store_backend")
def test_bridge_survives_generated_requests(emulator_url: str) -> None:
    s = settings_module.load().with_values(plaid_api_url=emulator_url)
    schema = load(BRIDGE_SPEC)
    basic = "Basic " + base64.b64encode(f"{s.client_id}:{s.secret}".encode()).decode()
    authorize = schema["/"]["GET"]
    good_query = {"client_id": s.client_id, "redirect_uri": s.simulator_callback}
    strategies = [
        *cases(schema),
        # Requests that get past client checks: the real client id and callback, Basic auth.
        authorize.as_strategy(query=good_query),
        authorize.as_strategy(query={**good_query, "response_type": "code", "state": "fuzz"}),
        authorize.as_strategy(generation_mode=GenerationMode.NEGATIVE, query=good_query),
    ]
    token_ops = [schema["/api/send_the_access_token_AUTH"]["POST"], schema["/oauth/token"]["POST"]]
    authed = [op.as_strategy(headers={"Authorization": basic}) for op in token_ops]
    accept = st.sampled_from([{}, {"Accept": "application/json"}, {"Accept": "text/html"}])
    strategy = st.one_of(
        st.tuples(st.one_of(strategies), accept),
        st.tuples(st.one_of(authed), st.just({})),
    )
    with running_bridge(s) as url:
        served = requests.get(url + "/openapi.yaml", timeout=10)
        assert served.status_code == 200 and served.content == BRIDGE_SPEC.read_bytes()
        sent = fuzz(strategy, url, {})
    assert len(sent) >= MINIMUM_REQUESTS, f"only {len(sent)} requests were generated"
    reached = {line.rsplit(" -> ", 1)[0] for line in sent}
    assert len(reached) == 7, reached  # every operation was exercised
    statuses = {line.rsplit(" ", 1)[1] for line in sent}
    assert "200" in statuses and "400" in statuses, statuses


def test_emulator_survives_generated_requests(emulator_url: str) -> None:
    s = settings_module.load()
    schema = load(EMULATOR_SPEC)
    credentials = {"PLAID-CLIENT-ID": s.client_id, "PLAID-SECRET": s.secret}
    strategy = st.one_of(
        # Mostly with the right credentials, so the bodies are read; some with none.
        st.tuples(st.one_of(cases(schema)), st.just(credentials)),
        st.tuples(st.one_of(cases(schema)), st.just(credentials)),
        st.tuples(st.one_of(cases(schema)), st.just({})),
    )
    sent = fuzz(strategy, emulator_url, {})
    assert len(sent) >= MINIMUM_REQUESTS, f"only {len(sent)} requests were generated"
    assert len({line.rsplit(" -> ", 1)[0] for line in sent}) == 16
