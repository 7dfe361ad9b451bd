"""The bridge on PostgreSQL in Chromium: one end user's authorization served by two replicas
behind a round-robin balancer (the page from one, Link's success to the other), and the
readable page a browser gets while the database cannot answer."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from browser_support import (
    CALLBACK_PATH,
    DESKTOP,
    PHONE,
    Stack,
    at_callback,
    browser,
    callback_standin,
    open_tab,
    pkce_pair,
    query_of,
    wait_for_link,
)
from round_robin import Balancer, running_round_robin

from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.store import postgres
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

__all__ = ["browser", "open_tab"]  # fixtures used by name


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster
) -> Iterator[tuple[Stack, Balancer, object]]:
    """Emulator, Kore's callback stand-in, two bridges on one PostgreSQL database, and the
    balancer in front of them (the Authorization URL's host)."""
    home = tmp_path_factory.mktemp("browser-replicas")
    received: list[dict[str, str]] = []
    database = postgres_cluster.create_database()
    base = Settings(home=home, env_file=home / ".env", bridge_db=database)
    with contextlib.ExitStack() as stack:
        kore = stack.enter_context(serve_in_thread(callback_standin(received), what="Kore"))
        emulator_url = stack.enter_context(running_emulator(base))
        callback_url = kore + CALLBACK_PATH
        settings = base.with_values(plaid_api_url=emulator_url, plaid_redirect_uri=callback_url)
        first = stack.enter_context(running_bridge(settings))
        second = stack.enter_context(running_bridge(settings))
        balancer = stack.enter_context(running_round_robin([first, second]))
        yield (
            Stack(settings, emulator_url, balancer.url, callback_url, received),
            balancer,
            (postgres_cluster),
        )


def test_one_authorization_split_between_two_replicas(replicas, open_tab) -> None:
    stack, balancer, _ = replicas
    tab = open_tab(DESKTOP)
    state = "st-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()
    before = dict(balancer.served)

    tab.page.goto(stack.authorize_url(state, challenge))
    wait_for_link(tab.page)
    tab.page.click("#plaid-standin-continue")
    tab.page.wait_for_url(at_callback(stack))
    query = query_of(tab.page.url)
    assert query["state"] == state and query["code"]

    served = {url: balancer.served[url] - before.get(url, 0) for url in balancer.served}
    assert len(served) == 2 and min(served.values()) >= 1, served  # both replicas took part
    answer = stack.exchange(query["code"], verifier)
    assert answer.status_code == 200, answer.text
    assert stack.exchange(query["code"], verifier).json()["error"] == "invalid_grant"


def test_while_the_database_is_away_the_browser_reads_what_to_do(
    replicas, open_tab, monkeypatch
) -> None:
    stack, _, cluster = replicas
    monkeypatch.setattr(postgres, "POOL_TIMEOUT_SECONDS", 0.5)
    dbname = urlsplit(stack.settings.bridge_db_url).path.lstrip("/")

    def allow(on: bool) -> None:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(on).lower()}')
            if not on:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (dbname,),
                )

    allow(False)
    try:
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            tab = open_tab(viewport)
            response = tab.page.goto(stack.authorize_url("st-" + secrets.token_urlsafe(8)))
            assert response.status == 503
            assert response.headers["retry-after"] == "5"
            assert tab.page.locator("h1").inner_text() == "Please try again in a moment"
            text = tab.page.locator("body").inner_text()
            assert "nothing was saved half-way" in text and "reload this page" in text
            assert "Traceback" not in text and "psycopg" not in text and dbname not in text
            tab.shot(f"18-database-unavailable-{name}")
    finally:
        allow(True)
    tab = open_tab(PHONE)
    for _ in range(40):  # the bridge reconnects by itself; a reload then works
        response = tab.page.goto(stack.authorize_url("st-" + secrets.token_urlsafe(8)))
        if response.status == 200:
            break
        tab.page.wait_for_timeout(100)
    assert response.status == 200
    wait_for_link(tab.page)
