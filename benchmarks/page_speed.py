"""Time from the Authorization URL to Plaid Link open, on a slow phone (issue 27).

Debian's Chromium (headless, phone viewport, a fresh context each run) opens the Authorization
URL until the emulator's Link stand-in shows its form. The emulator, the bridge and a stand-in
of Kore's callback run in this process (threads), as in the browser tests. Two settings:

- slow phone: CPU slowed ``--cpu-rate`` times (DevTools ``Emulation.setCPUThrottlingRate``),
  every Plaid API call slowed by ``--plaid-delay`` seconds (the emulator's faults);
- no throttling: the same without CPU throttling.

The bridge's own part is the total less the Plaid calls' delays (the calls are counted on the
path by the fault), reported up to the page's call of Link's open() (the bridge hands over)
and up to Link's form painted (Link's own drawing included). The one Plaid call
(/link/token/create) starts when the browser navigates to the page, so it overlaps the page's
load; the phases show when the page asked, how long its request waited at the bridge, and when
the token came. The measurement is tests/page_speed_support.py's, which
tests/test_page_speed.py also runs.

    .venv/bin/python benchmarks/page_speed.py [--runs 10] [--cpu-rate 4] [--plaid-delay 0.3]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from page_speed_support import chromium, measure, speed_stack  # noqa: E402


def line(name: str, figures: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        return f"median {figures[key]['median']:.0f} ms, max {figures[key]['max']:.0f} ms"

    return (
        f"{name}: {figures['runs']} runs, Plaid calls on the path {figures['plaid_calls']}\n"
        f"  to Link open (form painted): {ms('total_ms')}\n"
        f"  bridge's own part (that less the Plaid calls' delays): {ms('bridge_ms')}\n"
        f"    of which up to the page's call of Link's open(): {ms('bridge_to_open_ms')}\n"
        f"  Link's own, open() to form painted: {ms('link_own_ms')}\n"
        f"  phases (medians, ms): {figures['phases_median_ms']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cpu-rate", type=float, default=4.0)
    parser.add_argument("--plaid-delay", type=float, default=0.3, help="seconds per Plaid call")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith(("PLAID_", "KORE_", "BRIDGE_", "LINK_"))]:
        del os.environ[name]
    figures: dict[str, Any] = {"cpu_rate": args.cpu_rate, "plaid_delay_s": args.plaid_delay}
    with tempfile.TemporaryDirectory(prefix="kore-plaid-bench-") as folder:
        home = Path(folder)
        os.environ.update({"KORE_PLAID_HOME": str(home), "KORE_PLAID_ENV_FILE": str(home / ".env")})
        with speed_stack(home) as stack, chromium() as browser:
            for name, rate in (("slow_phone", args.cpu_rate), ("no_throttling", 1.0)):
                runs, summary = measure(browser, stack, args.runs, rate, args.plaid_delay)
                figures[name] = {**summary, "each": [r.as_dict() for r in runs]}
                print(line(name, summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
