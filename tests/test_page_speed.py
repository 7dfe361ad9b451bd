"""Issue 27, "fast on a slow phone": from the Authorization URL to Plaid Link open, in Chromium
with the CPU slowed 4 times and each Plaid call slowed to 300 ms, the bridge's own part (the
time less the Plaid calls' delays) stays within a bound, and the Link token's Plaid call
overlaps the page's load; benchmarks/page_speed.py measures the same
(tests/page_speed_support.py) with more runs for BENCHMARKS.md."""

from __future__ import annotations

import json

from browser_support import browser, stack
from page_speed_support import CPU_RATE, PLAID_DELAY, measure

__all__ = ["browser", "stack"]  # fixtures used by name

# Quiet, 15 runs at 4x: the bridge's part up to the page's call of Link's open() has a median
# of 31 ms (max 102), up to Link's form painted 117 ms (max 161) (BENCHMARKS.md, issue 27).
# Under load (load 4-10 on 2 cores: other work beside it) the best of two went up to 545 ms
# (an older harness that ran Playwright's script in the page). The bounds hold on a busy CI
# machine; the overlap itself is asserted below, whatever the machine's load.
BOUND_OPEN_MS = 1000
BOUND_MS = 1300
DELAY_MS = PLAID_DELAY * 1000


def test_the_bridges_part_of_opening_link_on_a_slow_phone_stays_within_bound(
    browser, stack
) -> None:
    runs, summary = measure(browser, stack, runs=2, cpu_rate=CPU_RATE, plaid_delay=PLAID_DELAY)
    shown = json.dumps([r.as_dict() for r in runs], indent=1)
    print(f"\n{summary}")
    # The path makes one Plaid call (/link/token/create), slowed as asked.
    assert [r.plaid_calls for r in runs] == [1, 1], shown
    assert all(r.link_token_received_ms >= DELAY_MS for r in runs), shown
    # Overlapped with the page's load: the page asks from its <head>, before Link's script
    # and the bridge's have run, and its request waits less than a Plaid call, which the
    # bridge started when the browser navigated to the page (a serialized call waits it all,
    # every run; a loaded machine may delay one run's call).
    assert all(r.link_token_asked_ms < r.link_script_ran_ms for r in runs), shown
    assert min(r.link_token_server_ms for r in runs) < DELAY_MS, shown
    best_open = min(r.bridge_to_open_ms for r in runs)
    assert best_open <= BOUND_OPEN_MS, (
        f"the bridge's part up to Link's open() is {best_open:.0f} ms "
        f"(bound {BOUND_OPEN_MS}):\n{shown}"
    )
    best = min(r.bridge_ms for r in runs)
    assert best <= BOUND_MS, f"the bridge's own part is {best:.0f} ms (bound {BOUND_MS}):\n{shown}"
