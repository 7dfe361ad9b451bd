"""Every end-user page, in every language, on a phone (Chromium, iPhone 13 emulation): axe-core
finds no serious or critical violation (WCAG 2.0/2.1 A and AA and best practices, contrast
included), ``<html lang>`` is the language, errors are in a ``role="alert"`` element, the
keyboard reaches every control in order with a visible focus ring, and Enter or Space on the
button opens Plaid Link. The axe counts go to build/accessibility/axe-results.md.

axe-core is injected with ``page.add_script_tag``: the pages' Content-Security-Policy allows no
such script, so these contexts (and only these) are made with ``bypass_csp=True``; the other
browser tests keep the policy on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import DEVICES, browser
from pages_support import (
    AXE_TAGS,
    DIALOG,
    PAGES,
    AxeCounts,
    PagesStack,
    Shown,
    axe_script,
    axe_version,
    close_repair_link,
    fail_link,
    in_order,
    layout_problems,
    missing,
    new_context,
    open_link_dialog,
    pages_stack,
    private_file,
    run_axe,
    shot,
    tab_through,
)

from kore_plaid_nb.bridge.i18n import LANGUAGES

__all__ = ["browser"]  # fixtures used by name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "build" / "accessibility" / "axe-results.md"
RESULTS_TABLE: dict[tuple[str, str], AxeCounts] = {}
SHOT_LANGUAGES = ("en", "es", "de")  # screenshots for the closing note


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesStack]:
    axe_script()  # skip (or, under CI, fail) before starting anything
    with pages_stack(tmp_path_factory.mktemp("pages-a11y-home")) as served:
        yield served
    write_results()


@pytest.fixture(scope="module")
def phone(browser: Any) -> dict[str, object]:
    return DEVICES["iPhone 13"]


def write_results() -> None:
    """The table for the closing note: each page state x language, "serious / critical /
    other" failing elements."""
    if not RESULTS_TABLE:
        return
    pages = list(dict.fromkeys(page for page, _ in RESULTS_TABLE))
    lines = [
        "# axe-core on the end-user pages (iPhone 13 emulation in Chromium)",
        "",
        f"axe-core {axe_version()}; tags {', '.join(AXE_TAGS)} (color-contrast included). Each "
        "cell: serious / critical / other violations (failing elements); - : not run.",
        "",
        "| page | " + " | ".join(LANGUAGES) + " |",
        "|---|" + "---|" * len(LANGUAGES),
    ]
    for page in pages:
        cells = []
        for language in LANGUAGES:
            counts = RESULTS_TABLE.get((page, language))
            cells.append(
                f"{counts.serious} / {counts.critical} / {counts.other}" if counts else "-"
            )
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    private_file(RESULTS, ("\n".join(lines) + "\n").encode())


def check(page: Any, shown: Shown, language: str) -> None:
    """Everything a page must pass in the state it is in."""
    counts = run_axe(page)
    RESULTS_TABLE[(shown.name, language)] = counts
    assert counts.blocking == [], (shown.name, language, counts.blocking)
    assert page.evaluate("document.documentElement.lang") == language, shown.name
    if shown.alert:
        alert = page.locator("[role=alert]")
        assert alert.count() >= 1 and alert.first.is_visible(), shown.name
        assert alert.first.inner_text().strip(), shown.name
    assert layout_problems(page) == [], shown.name
    controls, focused, unringed = tab_through(page, shown)
    assert in_order(controls, focused), (shown.name, controls, focused)
    assert unringed == [], (shown.name, unringed)


@pytest.mark.parametrize("language", LANGUAGES)
def test_authorization_page_before_in_and_after_link(
    stack: PagesStack, browser: Any, phone: dict[str, object], language: str
) -> None:
    context = new_context(browser, phone, language, bypass_csp=True)
    try:
        page = context.new_page()
        shown = PAGES["authorize"](page, stack, language)
        if language in SHOT_LANGUAGES:
            shot(page, f"authorize-{language}-iphone13")
        check(page, shown, language)
        page.locator("#connect").focus()
        page.keyboard.press("Enter")  # Enter on the button opens Link
        shown = open_link_dialog(page)
        if language in SHOT_LANGUAGES:
            shot(page, f"authorize-link-open-{language}-iphone13", full_page=False)
        check(page, shown, language)
        check(page, fail_link(page), language)
        page.keyboard.press("Space")  # Space on the focused button opens Link again
        page.locator(DIALOG).wait_for(state="visible")
    finally:
        context.close()


OTHER_PAGES = [name for name in PAGES if name != "authorize"]
SHOTS = ("unknown-session", "not-found")  # error pages for the closing note


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", OTHER_PAGES)
def test_page(
    stack: PagesStack, browser: Any, phone: dict[str, object], name: str, language: str
) -> None:
    context = new_context(browser, phone, language, bypass_csp=True)
    try:
        page = context.new_page()
        shown = PAGES[name](page, stack, language)
        if name in SHOTS and language in SHOT_LANGUAGES:
            shot(page, f"{name}-{language}-iphone13")
        check(page, shown, language)
        if name == "repair":
            check(page, close_repair_link(page, shown), language)
            page.keyboard.press("Enter")  # on the focused button: Link opens again
            page.locator(DIALOG).wait_for(state="visible")
    finally:
        context.close()


def test_missing_axe_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        missing("no axe-core")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no axe-core"):
        missing("no axe-core")
