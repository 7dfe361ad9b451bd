"""Issue 27, "fast on a slow phone": from the Authorization URL to Plaid Link open, in Chromium
with the CPU slowed 4 times and each Plaid call slowed to 300 ms, the bridge's own part (the
time less the Plaid calls' delays) stays within a bound; benchmarks/page_speed.py measures the
same (tests/page_speed_support.py) with more runs for BENCHMARKS.md."""

from __future__ import annotations

import json

from browser_support import browser, stack
from page_speed_support import CPU_RATE, PLAID_DELAY, measure

__all__ = ["browser", "stack"]  # fixtures used by name

# Quiet, this machine: median 536 ms, max 703 ms (BENCHMARKS.md, issue 27; most of it is
# Chromium's own work at 4x, the bridge's server answers in ~16 ms). Loaded (load 6-10 on 2
# cores) the best of two runs was up to 830 ms. The bound, about three times the quiet median on
# the best of two runs, holds on a busy CI machine and still fails a page several times slower;
# a second Plaid call on the path fails by its count, a framework by tests/test_page_weight.py.
BOUND_MS = 1500


def test_the_bridges_part_of_opening_link_on_a_slow_phone_stays_within_bound(
    browser, stack
) -> None:
    runs, summary = measure(browser, stack, runs=2, cpu_rate=CPU_RATE, plaid_delay=PLAID_DELAY)
    shown = json.dumps([r.as_dict() for r in runs], indent=1)
    print(f"\n{summary}")
    # The path makes one Plaid call (/link/token/create), slowed as asked.
    assert [r.plaid_calls for r in runs] == [1, 1], shown
    assert all(r.link_token_server_ms >= PLAID_DELAY * 1000 for r in runs), shown
    best = min(r.bridge_ms for r in runs)
    assert best <= BOUND_MS, f"the bridge's own part is {best:.0f} ms (bound {BOUND_MS}):\n{shown}"
