"""Time from the Authorization URL to Plaid Link open, in Chromium on a slow phone (issue 27).

Shared by tests/test_page_speed.py and benchmarks/page_speed.py. One run: a fresh browser
context (nothing cached), the CPU slowed ``cpu_rate`` times through the DevTools protocol
(``Emulation.setCPUThrottlingRate``), every Plaid API call of the emulator slowed by
``plaid_delay`` seconds (its faults, endpoint ``*``), then the Authorization URL is opened until
the Link stand-in's form is on screen (its Continue button, painted).

The times are the page's own clock (``performance.now()``, from the start of the navigation),
so Playwright's polling is not in them. The Plaid calls on the path are counted by the fault
(how many of its uses went), and the bridge's own part is the total minus their delays. The
Link token's call starts with the page's ``GET /`` (a browser's navigation), and the page asks
for its answer from its ``<head>``: the phases show that overlap.
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, Stack, serving_stack

from kore_plaid_nb.emulator import faults

PLAID_DELAY = 0.3  # seconds added to every Plaid API call on the path
CPU_RATE = 4  # DevTools CPU throttling: a mid-range phone
FAULT_USES = 1000  # the "*" fault's count: what is left of it tells how many calls came
LINK_READY_ID = "plaid-standin-continue"  # the stand-in's form is complete and usable
PAINTED = "kore-plaid-speed: painted"  # the page's console message once Link's form is painted
TIMEOUT_MS = 30_000

# Before any script of the page: note when Link's script has run (it sets ``window.Plaid``'s
# ``create``, which is wrapped), when the page calls Link's open(), when Link's Continue button
# exists, then when the frame that shows it has been painted (a frame, then a task after it),
# which it says on the console. Playwright waits for that message: its locators and evaluations
# would run its own script in the page meanwhile (~50 ms of the page's thread at 4x, in a
# DevTools trace), which no user's browser runs.
WATCH_LINK = """
(() => {
  const marks = { link_script: null, opened: null, found: null, painted: null };
  window.__linkOpen = marks;
  let create = null;
  const plaid = {};
  Object.defineProperty(plaid, "create", {
    configurable: true, enumerable: true,
    set(f) { create = f; if (marks.link_script === null) marks.link_script = performance.now(); },
    get() {
      return create && function (config) {
        const handler = create(config);
        const open = handler.open;
        handler.open = function () {
          if (marks.opened === null) marks.opened = performance.now();
          return open.apply(this, arguments);
        };
        return handler;
      };
    },
  });
  window.Plaid = plaid;
  const check = () => {
    if (marks.found !== null || !document.getElementById("__READY_ID__")) return;
    marks.found = performance.now();
    requestAnimationFrame(() => setTimeout(() => {
      marks.painted = performance.now();
      console.debug("__PAINTED__");
    }, 0));
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
})();
""".replace("__READY_ID__", LINK_READY_ID).replace("__PAINTED__", PAINTED)

# What the page fetched, when (Resource Timing), and the HTML's own request.
PHASES = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource").map((r) => ({
    name: r.name, start: r.startTime, sent: r.requestStart, first_byte: r.responseStart,
    end: r.responseEnd }));
  return { html_sent: nav.requestStart, html_first_byte: nav.responseStart,
           html_end: nav.responseEnd, dom_content_loaded: nav.domContentLoadedEventEnd,
           resources: resources };
}
"""


@dataclass(frozen=True)
class Run:
    """One opening of the Authorization URL (milliseconds from the navigation's start)."""

    total_ms: float  # Link's form painted
    open_called_ms: float  # the page called Link's open(): the bridge's page hands over
    link_found_ms: float  # Link's form in the page
    link_script_ran_ms: float  # Link's script has run (the bridge's runs after it)
    html_ms: float  # the page's HTML received
    html_server_ms: float  # GET /: request sent to first byte
    dom_content_loaded_ms: float
    plaid_calls: int  # Plaid API calls on the path (each slowed by plaid_delay)
    plaid_delay_ms: float
    link_token_asked_ms: float  # the page sends POST /api/link_token (its <head>)
    link_token_ms: float  # that request, start to end (with its Plaid call)
    link_token_server_ms: float  # request sent to first byte (with its Plaid call)
    standin_session_ms: float | None  # Link's own first call (the stand-in's session)

    @property
    def bridge_ms(self) -> float:
        """The bridge's own part: the total less the Plaid calls' added delays."""
        return self.total_ms - self.plaid_calls * self.plaid_delay_ms

    @property
    def link_token_received_ms(self) -> float:
        """The Link token in the page (its request's end)."""
        return self.link_token_asked_ms + self.link_token_ms

    @property
    def bridge_to_open_ms(self) -> float:
        """The same, only up to the page's call of Link's open() (the rest is Link's)."""
        return self.open_called_ms - self.plaid_calls * self.plaid_delay_ms

    def phases(self) -> dict[str, float]:
        """Where the time went (ms from the navigation's start, or spans): the bridge's server,
        the page, Plaid, Link. The Plaid call starts when the browser navigates (GET /), so the
        page's POST waits at the server only for what is left of it."""
        return {
            "html_server": self.html_server_ms,
            "link_token_asked_at": self.link_token_asked_ms,
            "link_token_server_wait": self.link_token_server_ms,
            "link_token_received_at": self.link_token_received_ms,
            "link_script_ran_at": self.link_script_ran_ms,
            "dom_content_loaded_at": self.dom_content_loaded_ms,
            "page_from_link_token_to_open": self.open_called_ms - self.link_token_received_ms,
            "link_own_open_to_painted": self.total_ms - self.open_called_ms,
            "plaid_delays": self.plaid_calls * self.plaid_delay_ms,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "bridge_ms": round(self.bridge_ms, 1),
            "bridge_to_open_ms": round(self.bridge_to_open_ms, 1),
            "phases": {name: round(value, 1) for name, value in self.phases().items()},
        }


def _span(resources: list[dict[str, Any]], path: str) -> float | None:
    spans = [r["end"] - r["start"] for r in resources if path in r["name"]]
    return round(spans[-1], 1) if spans else None


def _link_token(resources: list[dict[str, Any]]) -> dict[str, Any]:
    [asked] = [r for r in resources if r["name"].endswith("/api/link_token")]
    return asked


def _pending_uses(stack: Stack) -> int:
    left = faults.pending(stack.emulator_url, settings=stack.settings)
    return sum(int(str(f["count"])) for f in left if f["endpoint"] == faults.ANY_ENDPOINT)


def open_link_once(
    browser: Any, stack: Stack, cpu_rate: float = CPU_RATE, plaid_delay: float = PLAID_DELAY
) -> Run:
    """Open the Authorization URL in a fresh phone-sized context until Link's form shows."""
    context = browser.new_context(viewport=PHONE, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    faults.clear(stack.emulator_url, settings=stack.settings)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_rate})
        page.add_init_script(WATCH_LINK)
        if plaid_delay > 0:
            faults.inject(stack.emulator_url, faults.ANY_ENDPOINT, count=FAULT_USES,
                          delay=plaid_delay, settings=stack.settings)  # fmt: skip
        with page.expect_console_message(lambda message: message.text == PAINTED):
            page.goto(stack.authorize_url(f"speed-{secrets.token_urlsafe(8)}"), wait_until="commit")
        marks: dict[str, float] = page.evaluate("window.__linkOpen")
        assert page.locator("#" + LINK_READY_ID).is_visible(), "Link's form is not shown"
        phases = page.evaluate(PHASES)
        calls = FAULT_USES - _pending_uses(stack) if plaid_delay > 0 else 0
    finally:
        faults.clear(stack.emulator_url, settings=stack.settings)
        context.close()
    resources = phases["resources"]
    link_token = _link_token(resources)
    return Run(
        total_ms=round(marks["painted"], 1),
        open_called_ms=round(marks["opened"], 1),
        link_found_ms=round(marks["found"], 1),
        link_script_ran_ms=round(marks["link_script"], 1),
        html_ms=round(phases["html_end"], 1),
        html_server_ms=round(phases["html_first_byte"] - phases["html_sent"], 1),
        dom_content_loaded_ms=round(phases["dom_content_loaded"], 1),
        plaid_calls=calls,
        plaid_delay_ms=plaid_delay * 1000,
        link_token_asked_ms=round(link_token["start"], 1),
        link_token_ms=round(link_token["end"] - link_token["start"], 1),
        link_token_server_ms=round(link_token["first_byte"] - link_token["sent"], 1),
        standin_session_ms=_span(resources, "/link/_standin/session"),
    )


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium (as the browser tests launch it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def speed_stack(home: Path) -> Iterator[Stack]:
    """Emulator, bridge and Kore's callback stand-in, served in this process."""
    with serving_stack(home) as stack:
        yield stack


def summary(runs: list[Run]) -> dict[str, Any]:
    """Median and max of the total and of the bridge's part, and the Plaid calls per run."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}

    return {
        "runs": len(runs),
        "plaid_calls": sorted({r.plaid_calls for r in runs}),
        "total_ms": spread([r.total_ms for r in runs]),
        "bridge_ms": spread([r.bridge_ms for r in runs]),
        "bridge_to_open_ms": spread([r.bridge_to_open_ms for r in runs]),
        "link_own_ms": spread([r.total_ms - r.open_called_ms for r in runs]),
        "phases_median_ms": {
            name: round(statistics.median(r.phases()[name] for r in runs), 1)
            for name in runs[0].phases()
        },
    }


def measure(
    browser: Any, stack: Stack, runs: int, cpu_rate: float, plaid_delay: float, warmup: int = 1
) -> tuple[list[Run], dict[str, Any]]:
    """``warmup`` runs not counted (the bridge's first request compiles templates), then
    ``runs`` runs: each run, and their summary."""
    for _ in range(warmup):
        open_link_once(browser, stack, cpu_rate, plaid_delay)
    done = [open_link_once(browser, stack, cpu_rate, plaid_delay) for _ in range(runs)]
    return done, summary(done)
