"""The trainer's board in Chromium: sign in through the form, the failing trainee on top, the
failure's fix one click away, live updates without a reload, trainees' HTML shown as text, and
the page on a projector (1920x1080) and a phone (390x844), with screenshots of both."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from browser_support import browser, open_tab, origin

from kore_plaid_nb.board import demo
from kore_plaid_nb.board.app import build_app
from kore_plaid_nb.board.store import BoardStore
from kore_plaid_nb.progress.catalog import FINISH, RUNBOOK
from kore_plaid_nb.progress.events import Event
from kore_plaid_nb.serving import serve_in_thread

__all__ = ["browser", "open_tab"]  # fixtures used by name

TOKEN = "browser-board-token-0123456789abcdef"
PROJECTOR = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
NEWCOMER = "<b>Dee</b> <img src=x>"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A board with the sample class, posted through the API as trainees' notebooks do."""
    store = BoardStore(tmp_path_factory.mktemp("board") / "board.sqlite3")
    with serve_in_thread(build_app(store, TOKEN), what="board") as url:
        post(url, [event for event, _ in demo.class_events()])
        yield url
    store.close()


def post(url: str, events: list[Event]) -> None:
    answer = httpx.post(
        url + "/api/events",
        json={"events": [e.as_dict() for e in events]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def sign_in(page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Board token").fill(TOKEN)
    page.get_by_role("button", name="Open the board").click()
    page.locator("#board-rows tr").first.wait_for()


def test_sign_in_read_the_fix_and_watch_it_update(board: str, open_tab) -> None:
    tab = open_tab(viewport=PROJECTOR)
    page = tab.page
    page.goto(board + "/")
    page.get_by_label("Board token").fill("not-the-token")
    page.get_by_role("button", name="Open the board").click()
    assert "not this board's token" in page.get_by_role("alert").inner_text()
    sign_in(page, board)

    rows = page.locator("#board-rows tr")
    assert rows.count() >= 3
    names = page.locator("#board-rows .who .name").all_inner_texts()
    assert set(names) == {demo.FINISHED, demo.MIDWAY, demo.FAILING, demo.STUCK}
    top = rows.first
    assert top.locator(".name").inner_text() == demo.FAILING
    assert "stuck" in top.get_attribute("class")
    assert "Failed at 01_plaid_keys" in top.locator(".why").inner_text()
    statuses = [row.locator(".cell.pass").count() for row in rows.all()]
    assert len(set(statuses)) >= 3  # trainees at different steps
    page.locator("#updated-text", has_text="Live · updated").wait_for()  # no eval: CSP
    assert tab.shot("board-projector").stat().st_size > 10_000

    failed = top.get_by_role("button", name="01 Plaid keys Failed")
    failed.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "Plaid decommissioned its Development environment" in dialog.inner_text()
    fix = page.locator("#detail-fix-text").inner_text()
    assert fix.startswith("Set PLAID_ENV=sandbox for test data")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    page.evaluate("window.stillTheSamePage = true")
    tunnel = RUNBOOK[4]
    post(
        board,
        [Event(demo.MIDWAY, tunnel.name, step, "pass") for step in (*tunnel.steps, FINISH)]
        + [Event(NEWCOMER, "00_start_here", "start", "pass")],
    )
    midway = rows.filter(has_text=demo.MIDWAY)
    midway.get_by_role("button", name="04 The tunnel Done").wait_for(timeout=8000)
    newcomer = page.locator("#board-rows .name", has_text="<b>Dee</b>")
    newcomer.wait_for()
    assert newcomer.inner_text() == NEWCOMER  # shown as text, never as HTML
    assert page.locator("#board-rows img, #board-rows b").count() == 0
    assert page.evaluate("window.stillTheSamePage") is True  # updated without a reload

    for request in tab.requests:
        assert origin(request.url) == origin(board), request.url
        assert TOKEN not in request.url
    assert TOKEN not in page.url


def test_on_a_phone_each_trainee_is_a_card_and_the_fix_opens_by_keyboard(
    board: str, open_tab
) -> None:
    tab = open_tab(viewport=PHONE)
    page = tab.page
    sign_in(page, board)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    failing = page.locator("#board-rows tr").first
    button = failing.get_by_role("button", name="01 Plaid keys Failed")
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 44  # a finger-sized target
    assert "01 Plaid keys" in button.inner_text()  # each card labels its notebooks
    assert tab.shot("board-phone").stat().st_size > 10_000

    button.focus()
    page.keyboard.press("Enter")
    fix = page.locator("#detail-fix-text")
    fix.wait_for()
    assert "PLAID_ENV=production for real banks" in fix.inner_text()
    assert page.evaluate("document.activeElement.id") == "detail-close"
    page.keyboard.press("Escape")
    page.get_by_role("dialog").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.notebook") == "01_plaid_keys"

    page.route("**/api/progress", lambda route: route.abort())  # the board goes away
    page.locator("#updated-text", has_text="Not updating since").wait_for()
    assert "offline" in page.locator("#updated").get_attribute("class")
